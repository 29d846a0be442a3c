package bedrock

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/penny-gateway/penny/internal/llm"
)

// stream is an llm.Stream over the SDK's ConverseStream event stream.
type stream struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration
	timer   *time.Timer
	es      *bedrockruntime.ConverseStreamEventStream
	err     error // sticky: io.EOF or the first error
	once    sync.Once
	// complete is set once the metadata event, Bedrock's last, has been
	// received: the answer is whole.
	complete bool
}

// Recv returns the next event, io.EOF after the last, or an *llm.Error:
// a mid-stream exception mapped like any Bedrock error, KindTimeout when
// no event came within the timeout, KindUnsupported for content llm.Event
// cannot carry. Events Penny does not know (new union members) are
// skipped.
func (s *stream) Recv() (llm.Event, error) {
	if s.err != nil {
		return llm.Event{}, s.err
	}
	for {
		// The timeout bounds the wait for Bedrock, not the consumer's pace:
		// it runs only while Recv waits.
		if s.timer != nil {
			s.timer.Reset(s.timeout)
		}
		ev, ok := <-s.es.Events()
		if s.timer != nil {
			s.timer.Stop()
		}
		if !ok {
			err := s.es.Err()
			switch {
			case err != nil && s.complete:
				// A read error after the last event (the SDK's event-stream
				// reader sometimes reports its connection closed under it,
				// cf. aws/aws-sdk-go-v2 #2737) costs nothing: the answer
				// is whole.
				s.err = io.EOF
			case err != nil:
				s.err = mapError(s.ctx, err)
			case s.ctx.Err() != nil:
				s.err = mapError(s.ctx, s.ctx.Err())
			default:
				s.err = io.EOF
			}
			s.stop()
			return llm.Event{}, s.err
		}
		out, skip, err := eventFromSDK(ev)
		if err != nil {
			s.err = err
			s.stop()
			return llm.Event{}, err
		}
		if out.Type == llm.EventMetadata {
			s.complete = true
		}
		if !skip {
			return out, nil
		}
	}
}

// Close stops the stream and releases the connection. It is safe to call
// more than once.
func (s *stream) Close() error {
	if s.err == nil {
		s.err = io.EOF
	}
	s.stop()
	return nil
}

func (s *stream) stop() {
	s.once.Do(func() {
		if s.timer != nil {
			s.timer.Stop()
		}
		if s.es != nil {
			s.es.Close()
		}
		s.cancel(context.Canceled)
	})
}

func eventFromSDK(ev types.ConverseStreamOutput) (out llm.Event, skip bool, err error) {
	switch v := ev.(type) {
	case *types.ConverseStreamOutputMemberMessageStart:
		return llm.Event{Type: llm.EventMessageStart, Role: llm.Role(v.Value.Role)}, false, nil
	case *types.ConverseStreamOutputMemberContentBlockStart:
		e := llm.Event{Type: llm.EventBlockStart, Index: int(aws.ToInt32(v.Value.ContentBlockIndex))}
		switch st := v.Value.Start.(type) {
		case *types.ContentBlockStartMemberToolUse:
			e.ToolUse = &llm.ToolUse{ID: aws.ToString(st.Value.ToolUseId), Name: aws.ToString(st.Value.Name)}
		case nil:
		default:
			return e, false, unsupportedEvent("contentBlockStart", st)
		}
		return e, false, nil
	case *types.ConverseStreamOutputMemberContentBlockDelta:
		e := llm.Event{Type: llm.EventBlockDelta, Index: int(aws.ToInt32(v.Value.ContentBlockIndex))}
		switch d := v.Value.Delta.(type) {
		case *types.ContentBlockDeltaMemberText:
			e.Delta.Text = d.Value
		case *types.ContentBlockDeltaMemberToolUse:
			e.Delta.ToolInput = aws.ToString(d.Value.Input)
		case *types.ContentBlockDeltaMemberReasoningContent:
			switch r := d.Value.(type) {
			case *types.ReasoningContentBlockDeltaMemberText:
				e.Delta.Reasoning = r.Value
			case *types.ReasoningContentBlockDeltaMemberSignature:
				e.Delta.Signature = r.Value
			default:
				return e, false, unsupportedEvent("contentBlockDelta.reasoningContent", r)
			}
		default:
			return e, false, unsupportedEvent("contentBlockDelta", d)
		}
		return e, false, nil
	case *types.ConverseStreamOutputMemberContentBlockStop:
		return llm.Event{Type: llm.EventBlockStop, Index: int(aws.ToInt32(v.Value.ContentBlockIndex))}, false, nil
	case *types.ConverseStreamOutputMemberMessageStop:
		return llm.Event{Type: llm.EventMessageStop, StopReason: llm.StopReason(v.Value.StopReason)}, false, nil
	case *types.ConverseStreamOutputMemberMetadata:
		u := usageFromSDK(v.Value.Usage)
		e := llm.Event{Type: llm.EventMetadata, Usage: &u}
		if m := v.Value.Metrics; m != nil && m.LatencyMs != nil {
			e.Latency = time.Duration(*m.LatencyMs) * time.Millisecond
		}
		if t := v.Value.Trace; t != nil && t.PromptRouter != nil {
			e.InvokedModel = aws.ToString(t.PromptRouter.InvokedModelId)
		}
		e.ServiceTier = tierFromSDK(v.Value.ServiceTier)
		return e, false, nil
	}
	return llm.Event{}, true, nil
}

func unsupportedEvent(where string, v any) error {
	return &llm.Error{Kind: llm.KindUnsupported,
		Message: fmt.Sprintf("bedrock: stream %s holds %T, which Penny cannot carry", where, v)}
}
