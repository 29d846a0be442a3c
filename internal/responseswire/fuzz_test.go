package responseswire_test

import (
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/responseswire"
)

// FuzzDecode: the Responses API decoder never panics and fails only with
// a validation or unsupported error naming what is wrong.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"model":"nova-pro","input":"hi"}`))
	f.Add([]byte(`{"model":"m","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]},{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"42"}],"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"max_output_tokens":50,"stream":true,"store":false}`))
	f.Add([]byte(`{"model":"m","input":"x","tools":[{"type":"web_search"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := responseswire.Decode(body)
		if err != nil {
			if k := llm.KindOf(err); k != llm.KindValidation && k != llm.KindUnsupported {
				t.Fatalf("error of kind %q: %v", k, err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil result without an error")
		}
	})
}
