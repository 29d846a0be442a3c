package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// rec is an answered on-demand record.
func rec(at time.Duration, route, model, tenant, hash string, in, out int, cost llm.Money) ledger.Record {
	return ledger.Record{Time: t0.Add(at), RequestID: "r" + at.String() + hash + tenant, Tenant: tenant, Route: route,
		API: "openai", Model: model, BaselineModel: model, Provider: "sim", Mode: "on_demand", Status: ledger.StatusOK,
		HTTPStatus: 200, InputTokens: in, OutputTokens: out, Cost: cost, BaselineCost: cost, PromptHash: hash,
		Latency: time.Second}
}

func TestMinuteUsage(t *testing.T) {
	ctx := context.Background()
	s := sqlitetest.MustOpenLedger(t)
	records := []ledger.Record{
		rec(0, "support", "nova-micro", "acme", "a", 100, 10, 5),
		rec(30*time.Second, "support", "nova-micro", "acme", "b", 200, 20, 7),
		rec(90*time.Second, "support", "nova-micro", "acme", "c", 300, 30, 11),
		rec(90*time.Second, "support", "nova-pro", "acme", "c", 1000, 50, 100),
	}
	hit := rec(40*time.Second, "support", "nova-micro", "acme", "a", 100, 10, 0)
	hit.Cache = "hit"
	batch := rec(50*time.Second, "support", "nova-micro", "acme", "d", 999, 9, 1)
	batch.Mode = "batch"
	failed := rec(55*time.Second, "support", "nova-micro", "acme", "e", 999, 9, 1)
	failed.Status = ledger.StatusError
	records = append(records, hit, batch, failed)
	if err := s.Append(ctx, records); err != nil {
		t.Fatal(err)
	}
	got, err := s.MinuteUsage(ctx, ledger.ProfileQuery{Since: t0, Until: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.MinuteUsage{
		{Route: "support", Model: "nova-micro", Minute: t0, Requests: 2, PromptTokens: 300, OutputTokens: 30, Cost: 12},
		{Route: "support", Model: "nova-micro", Minute: t0.Add(time.Minute), Requests: 1, PromptTokens: 300, OutputTokens: 30, Cost: 11},
		{Route: "support", Model: "nova-pro", Minute: t0.Add(time.Minute), Requests: 1, PromptTokens: 1000, OutputTokens: 50, Cost: 100},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPromptReuse(t *testing.T) {
	ctx := context.Background()
	s := sqlitetest.MustOpenLedger(t)
	// Hash "h" by acme: uses at 0, 2m (gap 2m), 12m (10m), 2h12m (2h);
	// the 2m use was a response-cache hit.
	records := []ledger.Record{
		rec(0, "support", "nova-micro", "acme", "h", 3000, 10, 40),
		rec(2*time.Minute, "support", "nova-micro", "acme", "h", 3000, 10, 0),
		rec(12*time.Minute, "support", "nova-micro", "acme", "h", 2500, 10, 30),
		rec(2*time.Hour+12*time.Minute, "support", "nova-micro", "acme", "h", 3000, 10, 40),
		// The same hash by another tenant is another group, used once.
		rec(time.Minute, "support", "nova-micro", "globex", "h", 3000, 10, 40),
		// Hash "x" used once only: not reported.
		rec(3*time.Minute, "support", "nova-micro", "acme", "x", 3000, 10, 40),
	}
	records[1].Cache = "hit"
	records[2].Cache = "miss"
	records[2].CacheReadTokens, records[2].InputTokens = 2000, 500
	if err := s.Append(ctx, records); err != nil {
		t.Fatal(err)
	}
	got, err := s.PromptReuse(ctx, ledger.ReuseQuery{ResponseTTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := ledger.PromptReuse{Tenant: "acme", Route: "support", Model: "nova-micro", PromptHash: "h", Uses: 4,
		MinPromptTokens: 2500, PromptTokens: 11500, CacheReadTokens: 2000, GapsWithin5m: 1, Gaps5to60m: 1, GapsOver60m: 1,
		Hits: 1, RepeatsWithinTTL: 1, RepeatCost: 30, Cost: 110}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestUsageGroups(t *testing.T) {
	ctx := context.Background()
	s := sqlitetest.MustOpenLedger(t)
	plain := rec(0, "support", "nova-micro", "acme", "a", 100, 10, 5)
	plain.MaxTokens = 500
	eval := rec(time.Minute, "support", "nova-micro", "acme", "b", 100, 20, 5)
	eval.Tags = map[string]string{"purpose": "nightly-Eval"}
	evalTenant := rec(2*time.Minute, "support", "nova-micro", "offline-jobs", "c", 100, 30, 5)
	slow := rec(3*time.Minute, "support", "nova-micro", "acme", "d", 100, 40, 5)
	slow.Latency = 2 * time.Minute
	slow.MaxTokens = 40
	long := rec(4*time.Minute, "support", "claude-sonnet-4-5", "acme", "e", 250_000, 50, 900)
	short := rec(5*time.Minute, "support", "claude-sonnet-4-5", "acme", "f", 1000, 60, 9)
	if err := s.Append(ctx, []ledger.Record{plain, eval, evalTenant, slow, long, short}); err != nil {
		t.Fatal(err)
	}
	got, err := s.UsageGroups(ctx, ledger.GroupQuery{TolerantWords: []string{"eval", "offline"},
		LongContext: map[string]int{"claude-sonnet-4-5": 200_000}})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		model, tenant        string
		tolerant, slow, long bool
	}
	byKey := map[key]ledger.UsageGroup{}
	for _, g := range got {
		byKey[key{g.Model, g.Tenant, g.Tolerant, g.Slow, g.Long}] = g
	}
	tests := []struct {
		k                   key
		requests, output    int64
		withMax, atLimit    int64
		maxSum, maxOutput   int64
		mode, tier, apiName string
	}{
		{key{"nova-micro", "acme", false, false, false}, 1, 10, 1, 0, 500, 10, "on_demand", "default", "openai"},
		{key{"nova-micro", "acme", true, false, false}, 1, 20, 0, 0, 0, 20, "on_demand", "default", "openai"},
		{key{"nova-micro", "offline-jobs", true, false, false}, 1, 30, 0, 0, 0, 30, "on_demand", "default", "openai"},
		{key{"nova-micro", "acme", false, true, false}, 1, 40, 1, 1, 40, 40, "on_demand", "default", "openai"},
		{key{"claude-sonnet-4-5", "acme", false, false, true}, 1, 50, 0, 0, 0, 50, "on_demand", "default", "openai"},
		{key{"claude-sonnet-4-5", "acme", false, false, false}, 1, 60, 0, 0, 0, 60, "on_demand", "default", "openai"},
	}
	if len(got) != len(tests) {
		t.Fatalf("%d groups, want %d: %+v", len(got), len(tests), got)
	}
	for _, tt := range tests {
		g, ok := byKey[tt.k]
		if !ok {
			t.Errorf("no group %+v", tt.k)
			continue
		}
		if g.Requests != tt.requests || g.OutputTokens != tt.output || g.WithMaxTokens != tt.withMax ||
			g.AtLimit != tt.atLimit || g.MaxTokensSum != tt.maxSum || g.MaxOutput != tt.maxOutput ||
			g.Mode != tt.mode || g.ServiceTier != tt.tier || g.API != tt.apiName {
			t.Errorf("group %+v = %+v", tt.k, g)
		}
	}
}
