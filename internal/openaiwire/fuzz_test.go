package openaiwire_test

import (
	"errors"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// FuzzDecodeRequest checks that the chat-completions decoder never panics
// and fails only with a typed error a frontend can map: validation or
// unsupported, never internal.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(benchBody)
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"` + pngDataURL + `"}}]}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _, err := openaiwire.DecodeRequest(body)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || (e.Kind != llm.KindValidation && e.Kind != llm.KindUnsupported) {
				t.Fatalf("error of kind %q: %v", llm.KindOf(err), err)
			}
			return
		}
		if req == nil || len(req.Messages) == 0 && len(req.System) == 0 {
			t.Fatalf("accepted a request with nothing to send: %s", body)
		}
	})
}

// FuzzDecodeEmbeddingRequest: the embeddings decoder never panics, and what
// it accepts has texts to embed.
func FuzzDecodeEmbeddingRequest(f *testing.F) {
	f.Add([]byte(`{"model":"titan-embed-text-v2","input":"hi"}`))
	f.Add([]byte(`{"model":"m","input":["a","b"],"dimensions":256,"encoding_format":"base64"}`))
	f.Add([]byte(`{"model":"m","input":[[1,2,3]]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, format, err := openaiwire.DecodeEmbeddingRequest(body)
		if err != nil {
			if k := llm.KindOf(err); k != llm.KindValidation && k != llm.KindUnsupported {
				t.Fatalf("error of kind %q: %v", k, err)
			}
			return
		}
		if len(req.Embed.Texts) == 0 || (format != "float" && format != "base64") {
			t.Fatalf("accepted %+v as %q", req.Embed, format)
		}
	})
}
