package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/sqlite"
)

// adviseLedger writes a small ledger: repeated Nova Pro prompts of an
// offline tenant on route support.
func adviseLedger(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "advise.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	var recs []ledger.Record
	for i := range 6 {
		recs = append(recs, ledger.Record{Time: now.Add(-time.Duration(6-i) * time.Minute), RequestID: "r" + string(rune('a'+i)),
			Tenant: "nightly-eval", Route: "support", API: "openai", Model: "nova-pro", BaselineModel: "nova-pro",
			Provider: "sim", Mode: "on_demand", Status: ledger.StatusOK, HTTPStatus: 200, InputTokens: 1500, OutputTokens: 100,
			Cost: 1_520_000, BaselineCost: 1_520_000, PromptHash: "same", MaxTokens: 4000, Latency: time.Second})
	}
	if err := sqlite.NewLedgerStore(db).Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAdviseCommand(t *testing.T) {
	db := adviseLedger(t)
	out := mustPenny(t, "advise", "--db", db, "--pt-hourly", "pro=20", "--volume", "1,000,000/month", "--ladder-model", "nova-micro")
	for _, s := range []string{"SAVED / MONTH", "batch", "response_cache", "prompt_cache", "model nova-pro",
		"Customization ladder for nova-micro at 1000000 requests a month (given)"} {
		if !strings.Contains(out, s) {
			t.Errorf("advise lacks %q:\n%s", s, out)
		}
	}
	js := mustPenny(t, "advise", "--db", db, "--format", "json")
	var rep struct {
		Requests        int64 `json:"requests"`
		Recommendations []struct {
			Kind string `json:"kind"`
		} `json:"recommendations"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil || rep.Requests != 6 || len(rep.Recommendations) == 0 {
		t.Errorf("json %v: %s", err, js)
	}
	for _, args := range [][]string{
		{"advise", "--db", db, "--pt-hourly", "nova-pro"},
		{"advise", "--db", db, "--pt-hourly", "nope=3"},
		{"advise", "--db", db, "--volume", "12/week"},
		{"advise", "--db", db, "--format", "csv"},
		{"advise", "--db", filepath.Join(t.TempDir(), "missing.db")},
	} {
		if _, err := penny(t, args...); err == nil {
			t.Errorf("penny %s: no error", strings.Join(args, " "))
		}
	}
}

func TestWhatIfCommand(t *testing.T) {
	db := adviseLedger(t)
	cfg := filepath.Join(t.TempDir(), "other.yaml")
	yaml := "simulate: true\ndatabase: " + db + "\ncache: {enabled: true, allow_nonzero_temperature: true}\n" +
		"routes:\n  - {name: support, baseline: nova-pro, strategy: fixed, tiers: [{name: t, model: nova-micro}]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustPenny(t, "whatif", "--config", cfg)
	for _, s := range []string{"RECORDED $", "WHAT-IF $", "support", "nova-pro → nova-micro 6", "0 → 4", "What this cannot know"} {
		if !strings.Contains(out, s) {
			t.Errorf("whatif lacks %q:\n%s", s, out)
		}
	}
	if _, err := penny(t, "whatif"); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("whatif without --config: %v", err)
	}
	if _, err := penny(t, "whatif", "--config", cfg, "--batch", "nope"); err == nil {
		t.Error("whatif --batch nope: no error")
	}
	js := mustPenny(t, "whatif", "--config", cfg, "--format", "json", "--batch", "support")
	if !strings.Contains(js, `"whatif_usd"`) {
		t.Errorf("json: %s", js)
	}
}
