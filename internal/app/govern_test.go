package app

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/anomaly"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

// TestKeyLimits: a key's requests-per-minute limit answers 429 with
// Retry-After, and its monthly budget refuses requests once spent.
func TestKeyLimits(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Auth = "required"
	db, ks := openKeys(t, cfg.Database)
	mk := func(l keys.Limits) keys.Secret {
		rec, sec, err := keys.New(keys.Key{Tenant: "acme", Limits: l}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.Create(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		return sec
	}
	limited := mk(keys.Limits{RPM: 2})
	poor := mk(keys.Limits{BudgetMonth: 20 * llm.Nano * 1000}) // $0.00002: about one small Nova Pro answer
	db.Close()
	a := startApp(t, cfg)

	call := func(token string) *http.Response {
		req, _ := http.NewRequest("POST", a.URL()+"/v1/chat/completions",
			strings.NewReader(`{"model":"nova-pro","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 2; i++ {
		if r := call(limited.Token); r.StatusCode != 200 {
			t.Fatalf("request %d within the limit: %d", i, r.StatusCode)
		}
	}
	if r := call(limited.Token); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Errorf("over the rate limit: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}

	codes := map[int]int{}
	for i := 0; i < 6; i++ {
		codes[call(poor.Token).StatusCode]++
	}
	if codes[200] == 0 || codes[429] == 0 {
		t.Errorf("budget: status counts %v, want some 200 then 429", codes)
	}
	// The thresholds crossed on the way are alerts, like anomalies.
	var budgetAlerts int
	for _, al := range a.Anomaly.Recent() {
		if al.Kind == anomaly.KindBudget && al.KeyID == poor.AccessKeyID {
			budgetAlerts++
		}
	}
	if budgetAlerts == 0 {
		t.Errorf("no budget alert among %+v", a.Anomaly.Recent())
	}
}
