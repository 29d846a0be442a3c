package bedrock

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/penny-gateway/penny/internal/bedrocktest"
	"github.com/penny-gateway/penny/internal/llm"
)

// scriptedReader is an SDK event-stream reader that sends events, then
// ends with err.
type scriptedReader struct {
	ch  chan types.ConverseStreamOutput
	err error
}

func (r *scriptedReader) Events() <-chan types.ConverseStreamOutput { return r.ch }
func (r *scriptedReader) Close() error                              { return nil }
func (r *scriptedReader) Err() error                                { return r.err }

func scripted(events []types.ConverseStreamOutput, err error) *stream {
	r := &scriptedReader{ch: make(chan types.ConverseStreamOutput, len(events)), err: err}
	for _, ev := range events {
		r.ch <- ev
	}
	close(r.ch)
	ctx, cancel := context.WithCancelCause(context.Background())
	es := bedrockruntime.NewConverseStreamEventStream(func(es *bedrockruntime.ConverseStreamEventStream) { es.Reader = r })
	return &stream{ctx: ctx, cancel: cancel, es: es}
}

// A read error after the metadata event, Bedrock's last, ends the stream
// cleanly: the answer is whole (the SDK's reader sometimes reports its
// connection closed at that point, cf. aws/aws-sdk-go-v2 #2737). Before
// the metadata it is an error.
func TestStreamReadErrorAfterLastEvent(t *testing.T) {
	late := errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")
	text := &types.ConverseStreamOutputMemberContentBlockDelta{Value: types.ContentBlockDeltaEvent{
		ContentBlockIndex: aws.Int32(0), Delta: &types.ContentBlockDeltaMemberText{Value: "hi"}}}
	stop := &types.ConverseStreamOutputMemberMessageStop{Value: types.MessageStopEvent{StopReason: types.StopReasonEndTurn}}
	meta := &types.ConverseStreamOutputMemberMetadata{Value: types.ConverseStreamMetadataEvent{
		Usage: &types.TokenUsage{InputTokens: aws.Int32(3), OutputTokens: aws.Int32(1), TotalTokens: aws.Int32(4)}}}

	resp, err := llm.Collect(scripted([]types.ConverseStreamOutput{text, stop, meta}, late))
	if err != nil || resp.Text() != "hi" || resp.Usage.InputTokens != 3 {
		t.Errorf("after the metadata: %+v, %v; want the answer and no error", resp, err)
	}

	s := scripted([]types.ConverseStreamOutput{text, stop}, late)
	var got error
	for got == nil {
		_, got = s.Recv()
	}
	if errors.Is(got, io.EOF) {
		t.Errorf("before the metadata: %v, want the read error", got)
	}
}

// Many streams of a large request in a row all complete. Before
// bodySentClient, about one in two hundred broke mid-stream with "use of
// closed network connection": the SDK closed the request body while the
// transport still read it, and net/http closed the connection under the
// response being streamed.
func TestStreamsSurviveEarlyResponses(t *testing.T) {
	resp := richResponse()
	srv := bedrocktest.New(t, bedrocktest.WithResponder(func(string, *llm.Request) (*llm.Response, error) { return resp, nil }))
	p := newProvider(t, srv, 0)
	for i := 0; i < 400; i++ {
		s, err := p.Stream(context.Background(), richRequest())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := llm.Collect(s); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
}
