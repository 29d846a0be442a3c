package advise_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/advise"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/modeleval"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

const candidateYAML = `simulate: true
cache: {enabled: true, ttl: 10m}
routes:
  - name: support
    baseline: nova-pro
    strategy: fixed
    tiers: [{name: cheap, model: nova-micro}]
  - name: faq
    baseline: nova-lite
    tiers: [{name: t, model: nova-lite}]
  - name: agent
    baseline: claude-haiku-4-5
    tiers: [{name: t, model: claude-haiku-4-5}]
    prompt_cache: false
  - name: triage
    baseline: nova-pro
    tiers: [{name: cheap, model: nova-micro}, {name: strong, model: nova-pro}]
    rules: [{tier: strong, when: {keywords: [refund]}}]
    default: cheap
  - name: reports
    baseline: nova-pro
    tiers: [{name: t, model: nova-pro}]
`

func candidate(t *testing.T) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(path, []byte(candidateYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestWhatIf(t *testing.T) {
	s := &seeder{t: t}
	use := llm.Usage{InputTokens: 1000, OutputTokens: 200}
	for range 2 {
		s.add(time.Hour, "support", "nova-pro", "acme", "", use, nil)
	}
	for i := range 3 {
		// The cache answered "q" once, so it is cacheable.
		s.add(2*time.Hour+time.Duration(i)*2*time.Minute, "faq", "nova-lite", "acme", "q", use, func(r *ledger.Record) {
			if i == 1 {
				r.Cache, r.Cost = "hit", 0
			}
		})
	}
	for i := range 2 {
		s.add(3*time.Hour+time.Duration(i)*time.Minute, "faq", "nova-lite", "acme", "z", use, nil) // temperature unknown
	}
	s.add(4*time.Hour, "agent", "claude-haiku-4-5", "acme", "a", llm.Usage{InputTokens: 100, CacheReadTokens: 5000, OutputTokens: 10}, nil)
	for _, m := range []string{"nova-micro", "nova-lite", "nova-pro"} {
		s.add(5*time.Hour, "triage", m, "acme", "t-"+m, use, nil)
	}
	s.add(6*time.Hour, "reports", "nova-pro", "acme", "r", use, nil)
	store := sqlitetest.MustOpenLedger(t)
	if err := store.Append(context.Background(), s.out); err != nil {
		t.Fatal(err)
	}
	eval := []modeleval.Result{{ID: "1", Model: "nova-pro", Score: 1, Correct: true}, {ID: "1", Model: "nova-micro", Score: 0}}
	rep, err := advise.WhatIf(context.Background(), store, advise.WhatIfOptions{Since: since, Until: now, Config: candidate(t),
		Catalog: cat, Batch: []string{"reports"}, Eval: eval})
	if err != nil {
		t.Fatal(err)
	}
	on := func(model string, u llm.Usage, terms catalog.Terms) llm.Money { return cost(model, u, terms) }
	tests := []struct {
		route    string
		requests int64
		want     llm.Money
		hits     int64
	}{
		{"support", 2, 2 * on("nova-micro", use, catalog.Terms{}), 0},
		// One answer, two hits within the 10-minute TTL; the "z" repeat
		// was never answered from the cache and stays a miss.
		{"faq", 5, 3 * on("nova-lite", use, catalog.Terms{}), 2},
		{"agent", 1, on("claude-haiku-4-5", llm.Usage{InputTokens: 5100, OutputTokens: 10}, catalog.Terms{}), 0},
		// Text rules: models that are tiers stay, nova-lite maps by price
		// rank to the cheapest tier.
		{"triage", 3, 2*on("nova-micro", use, catalog.Terms{}) + on("nova-pro", use, catalog.Terms{}), 0},
		{"reports", 1, on("nova-pro", use, catalog.Terms{Mode: llm.ModeBatch}), 0},
	}
	byRoute := map[string]advise.RouteWhatIf{}
	for _, r := range rep.Routes {
		byRoute[r.Route] = r
	}
	var total llm.Money
	for _, tt := range tests {
		r, ok := byRoute[tt.route]
		if !ok {
			t.Errorf("%s: missing", tt.route)
			continue
		}
		total += tt.want
		if r.Requests != tt.requests || r.Counterfactual != tt.want || r.Hits != tt.hits {
			t.Errorf("%s: %d requests, what-if %v, %d hits; want %d, %v, %d", tt.route, r.Requests, r.Counterfactual, r.Hits,
				tt.requests, tt.want, tt.hits)
		}
	}
	if rep.Total.Counterfactual != total || rep.Total.Moves["nova-pro → nova-micro"] != 2 || rep.Total.Moves["nova-lite → nova-micro"] != 1 {
		t.Errorf("total %v (want %v), moves %v", rep.Total.Counterfactual, total, rep.Total.Moves)
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, s := range []string{"tokenizer", "temperature", "1 repeats within the TTL"} {
		if !strings.Contains(notes, s) {
			t.Errorf("notes lack %q:\n%s", s, notes)
		}
	}
	if len(rep.Quality) == 0 || !strings.Contains(rep.Quality[0].Value+rep.Quality[1].Value, "1.000 → 0.000") {
		t.Errorf("quality: %+v", rep.Quality)
	}
	var table, js bytes.Buffer
	if err := advise.WriteWhatIfTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "WHAT-IF $") || !strings.Contains(table.String(), "TOTAL") {
		t.Errorf("table:\n%s", table.String())
	}
	if err := advise.WriteWhatIfJSON(&js, rep); err != nil || !strings.Contains(js.String(), `"whatif_usd"`) {
		t.Errorf("json: %v %s", err, js.String())
	}
}
