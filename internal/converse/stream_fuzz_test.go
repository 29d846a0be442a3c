package converse

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

// FuzzEventReader feeds arbitrary bytes to the event-stream reader (what an
// upstream sends): it never panics, never loops, and ends every stream
// with io.EOF or a typed error.
func FuzzEventReader(f *testing.F) {
	var good bytes.Buffer
	ew := NewEventWriter(&good)
	u := llm.Usage{InputTokens: 3, OutputTokens: 2}
	for _, ev := range []llm.Event{
		{Type: llm.EventMessageStart, Role: llm.RoleAssistant},
		{Type: llm.EventBlockDelta, Delta: llm.Delta{Text: "hi"}},
		{Type: llm.EventBlockStop},
		{Type: llm.EventMessageStop, StopReason: llm.StopEndTurn},
		{Type: llm.EventMetadata, Usage: &u},
	} {
		if err := ew.WriteEvent(ev); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(good.Bytes())
	var exc bytes.Buffer
	NewEventWriter(&exc).WriteException("throttlingException", "slow down")
	f.Add(exc.Bytes())
	f.Add(good.Bytes()[:len(good.Bytes())/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewEventReader(io.NopCloser(bytes.NewReader(data)))
		defer r.Close()
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatalf("more events than bytes: the reader loops")
			}
			_, err := r.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if llm.KindOf(err) == "" {
					t.Fatalf("untyped error %v", err)
				}
				if _, again := r.Recv(); again == nil {
					t.Fatalf("an event after an error")
				}
				return
			}
		}
	})
}

// FuzzDecodeNovaRequest: Nova's native InvokeModel body decodes to a
// request or a validation/unsupported error, never a panic.
func FuzzDecodeNovaRequest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":"messages-v1","messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"max_new_tokens":100,"top_k":5}}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}],"system":[{"text":"s"}],"reasoningConfig":{"type":"enabled"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := DecodeNovaRequest(body); err != nil {
			if k := llm.KindOf(err); k != llm.KindValidation && k != llm.KindUnsupported {
				t.Fatalf("error of kind %q: %v", k, err)
			}
		}
	})
}
