package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/logtest"
)

// TestModelLifecycle: a retired model is refused before any call, naming
// its replacement; a legacy one is served with a warning header on every
// answer and one log line an hour.
func TestModelLifecycle(t *testing.T) {
	var logs logtest.Buffer
	e := newEnv(t, envOptions{logger: logs.Logger()})
	post := func(model string) (*http.Response, string) {
		resp, err := http.Post(e.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := post("us.anthropic.claude-3-7-sonnet-20250219-v1:0")
	if resp.StatusCode != 404 || !strings.Contains(body, "retired") || !strings.Contains(body, "claude-sonnet-4-5") {
		t.Errorf("retired model: %d %s", resp.StatusCode, body)
	}
	if rec := e.record(resp.Header.Get(HeaderRequestID)); rec.Status != ledger.StatusError || rec.Provider != "" {
		t.Errorf("retired model's record %+v", rec)
	}
	for range 3 {
		resp, body = post("claude-3-5-haiku")
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get(HeaderModelWarning), "claude-haiku-4-5") {
			t.Fatalf("legacy model: %d %q %s", resp.StatusCode, resp.Header.Get(HeaderModelWarning), body)
		}
	}
	e.waitRecords(4)
	if n := strings.Count(logs.String(), "serving a legacy model"); n != 1 {
		t.Errorf("%d legacy warnings logged for 3 requests, want 1:\n%s", n, logs.String())
	}
	if resp, _ := post("nova-micro"); resp.Header.Get(HeaderModelWarning) != "" {
		t.Errorf("active model warned: %q", resp.Header.Get(HeaderModelWarning))
	}
}
