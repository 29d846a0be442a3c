package advise_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/advise"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/modeleval"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

var (
	cat   = catalog.MustBuiltin()
	now   = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	since = now.Add(-advise.Month) // the window is a month: figures scale by 1
)

// seeder builds records priced by the catalog, as the account stage would.
type seeder struct {
	t   *testing.T
	n   int
	out []ledger.Record
}

func (s *seeder) add(at time.Duration, route, model, tenant, hash string, u llm.Usage, edit func(*ledger.Record)) {
	s.t.Helper()
	m, err := cat.Resolve(model)
	if err != nil {
		s.t.Fatal(err)
	}
	cost, _ := m.Model.Cost(u, catalog.Terms{})
	s.n++
	r := ledger.Record{Time: since.Add(at), RequestID: fmt.Sprintf("r%d", s.n), Tenant: tenant, Route: route, API: "openai",
		Model: model, BaselineModel: model, Provider: "sim", Mode: "on_demand", Status: ledger.StatusOK, HTTPStatus: 200,
		InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CacheReadTokens: u.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens, CacheWrite1hTokens: u.CacheWrite1hTokens,
		Cost: cost, BaselineCost: cost, PromptHash: hash, Latency: 2 * time.Second}
	if edit != nil {
		edit(&r)
	}
	s.out = append(s.out, r)
}

func cost(model string, u llm.Usage, t catalog.Terms) llm.Money {
	m, _ := cat.Resolve(model)
	c, _ := m.Model.CostSum(u, t)
	return c
}

// seed returns a ledger whose right answers are known by construction.
func seed(t *testing.T) (advise.Source, map[string]llm.Money) {
	s := &seeder{t: t}
	want := map[string]llm.Money{}
	// The window starts with a request, so the span is the whole month.
	s.add(0, "chat", "nova-lite", "acme", "first", llm.Usage{InputTokens: 10, OutputTokens: 10}, nil)

	// 10 nightly-eval requests on Nova Pro: batch halves their cost.
	evalUse := llm.Usage{InputTokens: 1000, OutputTokens: 500}
	for i := range 10 {
		s.add(time.Duration(i+1)*time.Hour, "reports", "nova-pro", "nightly-eval", fmt.Sprintf("e%d", i), evalUse, nil)
	}
	evalCost := 10 * cost("nova-pro", evalUse, catalog.Terms{})
	want["batch reports"] = evalCost - 10*cost("nova-pro", evalUse, catalog.Terms{Mode: llm.ModeBatch})

	// One support prompt of 2,000 tokens sent four times a minute apart,
	// never cached, at temperature unknown: reads 3, writes 1.
	sup := llm.Usage{InputTokens: 2000, OutputTokens: 50}
	for i := range 4 {
		s.add(48*time.Hour+time.Duration(i)*time.Minute, "support", "nova-micro", "acme", "faq", sup, func(r *ledger.Record) {
			r.MaxTokens = 4096
		})
	}
	plain := cost("nova-micro", llm.Usage{InputTokens: 8000}, catalog.Terms{})
	cached := cost("nova-micro", llm.Usage{CacheReadTokens: 6000, CacheWriteTokens: 2000}, catalog.Terms{})
	want["prompt_cache support"] = plain - cached
	want["response_cache support"] = 3 * cost("nova-micro", sup, catalog.Terms{})

	// A Haiku 4.5 prefix of 5,000 tokens, cached with 5-minute writes,
	// reused every 20 minutes: the 1-hour TTL turns two writes into reads.
	pre := llm.Usage{CacheWriteTokens: 5000, OutputTokens: 10}
	for i := range 3 {
		s.add(72*time.Hour+time.Duration(i)*20*time.Minute, "agent", "claude-haiku-4-5", "acme", "sys", pre, nil)
	}
	c5 := cost("claude-haiku-4-5", llm.Usage{CacheWriteTokens: 15000}, catalog.Terms{})
	c1 := cost("claude-haiku-4-5", llm.Usage{CacheReadTokens: 10000, CacheWriteTokens: 5000, CacheWrite1hTokens: 5000}, catalog.Terms{})
	want["prompt_cache_1h agent"] = c5 - c1

	store := sqlitetest.MustOpenLedger(t)
	if err := store.Append(context.Background(), s.out); err != nil {
		t.Fatal(err)
	}
	return store, want
}

func find(rep *advise.Report, kind, route string) *advise.Recommendation {
	for i, r := range rep.Recommendations {
		if r.Kind == kind && (route == "" || r.Route == route) {
			return &rep.Recommendations[i]
		}
	}
	return nil
}

func TestAnalyze(t *testing.T) {
	src, want := seed(t)
	custom, err := catalog.BuiltinCustomizations()
	if err != nil {
		t.Fatal(err)
	}
	eval := []modeleval.Result{}
	for i := range 20 {
		eval = append(eval,
			modeleval.Result{ID: fmt.Sprint(i), Model: "nova-pro", Score: 1, Correct: true},
			modeleval.Result{ID: fmt.Sprint(i), Model: "nova-lite", Score: map[bool]float64{true: 1, false: 0}[i < 19], Correct: i < 19})
	}
	rep, err := advise.Analyze(context.Background(), src, advise.Options{Since: since, Until: now, Now: now, Catalog: cat,
		Customizations: custom, Eval: eval, Target: 0.9,
		PTHourly: map[string]llm.Money{"nova-pro": 10_000}, Ladder: advise.LadderOptions{Model: "nova-micro"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scale < 0.999 || rep.Scale > 1.001 {
		t.Fatalf("scale %v, want 1 (the window is a month)", rep.Scale)
	}
	tests := []struct {
		kind, route string
		known       bool
		saving      llm.Money
	}{
		{advise.KindBatch, "reports", true, want["batch reports"]},
		{advise.KindFlex, "reports", false, 0},
		{advise.KindPromptCache, "support", true, want["prompt_cache support"]},
		{advise.KindResponseCache, "support", true, want["response_cache support"]},
		{advise.KindCacheTTL1h, "agent", true, want["prompt_cache_1h agent"]},
		{advise.KindMaxTokens, "support", true, 0},
		{advise.KindPromptLint, "", false, 0},
	}
	for _, tt := range tests {
		r := find(rep, tt.kind, tt.route)
		if r == nil {
			t.Errorf("%s on %q: missing", tt.kind, tt.route)
			continue
		}
		if r.Known != tt.known || (tt.known && absDiff(r.MonthlySaving, tt.saving) > 2) {
			t.Errorf("%s on %q: saving %v (known %v), want %v (known %v)", tt.kind, tt.route, r.MonthlySaving, r.Known, tt.saving, tt.known)
		}
		if r.Confidence == "" || len(r.Evidence) == 0 {
			t.Errorf("%s: no evidence or confidence", tt.kind)
		}
	}
	// Right-sizing: Nova Lite met the target, so the Nova Pro traffic
	// moves to it at the same token counts.
	rs := find(rep, advise.KindRightSize, "reports")
	if rs == nil || !strings.Contains(rs.Action, "nova-lite") || !rs.Known {
		t.Fatalf("right-size: %+v", rs)
	}
	evalUse := llm.Usage{InputTokens: 10000, OutputTokens: 5000}
	if w := cost("nova-pro", evalUse, catalog.Terms{}) - cost("nova-lite", evalUse, catalog.Terms{}); absDiff(rs.MonthlySaving, w) > 2 {
		t.Errorf("right-size saving %v, want %v", rs.MonthlySaving, w)
	}
	// Provisioned Throughput at a (tiny) quote of $0.00001 an hour pays.
	pt := find(rep, advise.KindProvisioned, "")
	if pt == nil || pt.Model != "nova-pro" || !pt.Known || pt.MonthlySaving <= 0 {
		t.Errorf("provisioned: %+v", pt)
	}
	// Without a quote the break-even is named and the saving unknown.
	for _, r := range rep.Recommendations {
		if r.Kind == advise.KindProvisioned && r.Model == "nova-micro" && (r.Known || !strings.Contains(r.Action, "--pt-hourly nova-micro=USD")) {
			t.Errorf("provisioned without a quote: %+v", r)
		}
	}
	// Ranked: known savings descending, unknown last.
	for i := 1; i < len(rep.Recommendations); i++ {
		a, b := rep.Recommendations[i-1], rep.Recommendations[i]
		if (!a.Known && b.Known) || (a.Known == b.Known && a.MonthlySaving < b.MonthlySaving) {
			t.Errorf("rank %d (%s %v) before %d (%s %v)", i-1, a.Kind, a.MonthlySaving, i, b.Kind, b.MonthlySaving)
		}
	}
	// The ladder: Nova Micro's fine-tuning price is unpublished, continued
	// pre-training is not offered on Bedrock, prompt engineering is priced.
	l := rep.Ladder
	if l == nil || l.Model != "nova-micro" || len(l.Rungs) != 4 {
		t.Fatalf("ladder: %+v", l)
	}
	if pe := l.Rungs[0]; !pe.Monthly.Known || pe.Monthly.Money <= 0 || !pe.OneTime.Known {
		t.Errorf("prompt engineering: %+v", pe)
	}
	if ft := l.Rungs[2]; ft.Offered != "yes" || ft.OneTime.Known || !strings.Contains(fmt.Sprint(ft.Basis), "--train-tokens") {
		t.Errorf("fine-tuning: %+v", ft)
	}
	if cpt := l.Rungs[3]; cpt.Offered != "no" {
		t.Errorf("continued pre-training: %+v", cpt)
	}

	var table, js bytes.Buffer
	if err := advise.WriteTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"SAVED / MONTH", "batch", "unknown", "Customization ladder for nova-micro", "confidence:"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	if err := advise.WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Recommendations []struct {
			Kind          string  `json:"kind"`
			MonthlySaving *string `json:"monthly_saving_usd"`
		} `json:"recommendations"`
		Ladder struct {
			Rungs []struct {
				OneTime *string `json:"one_time_usd"`
			} `json:"rungs"`
		} `json:"ladder"`
	}
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Recommendations[0].MonthlySaving == nil || decoded.Ladder.Rungs[2].OneTime != nil {
		t.Errorf("json: %s", js.String())
	}
}

// TestShortWindow: a window shorter than a day says its figures are only
// as steady as that traffic.
func TestShortWindow(t *testing.T) {
	store := sqlitetest.MustOpenLedger(t)
	s := &seeder{t: t}
	s.add(advise.Month-10*time.Minute, "chat", "nova-lite", "acme", "x", llm.Usage{InputTokens: 10, OutputTokens: 10}, nil)
	if err := store.Append(context.Background(), s.out); err != nil {
		t.Fatal(err)
	}
	rep, err := advise.Analyze(context.Background(), store, advise.Options{Since: since, Until: now, Now: now, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Span != 10*time.Minute || !strings.Contains(strings.Join(rep.Notes, " "), "10m0s of traffic") {
		t.Errorf("span %v, notes %q", rep.Span, rep.Notes)
	}
}

func absDiff(a, b llm.Money) llm.Money {
	if a > b {
		return a - b
	}
	return b - a
}
