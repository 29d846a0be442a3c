package monitor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

type sink struct{ got []ledger.Record }

func (s *sink) Write(_ context.Context, r ledger.Record) error { s.got = append(s.got, r); return nil }

func TestObserve(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	next := &sink{}
	rec := Recorder{Next: next, Metrics: m}
	ok := ledger.Record{Model: "nova-micro", Route: "support", Tenant: "acme", Status: ledger.StatusOK, Cache: "miss",
		InputTokens: 100, OutputTokens: 50, CacheReadTokens: 1000, Latency: 300 * time.Millisecond, TTFT: 100 * time.Millisecond,
		Cost: 35 * llm.Nano * 1000, BaselineCost: 800 * llm.Nano * 1000, Strategy: "routing,prompt_cache"}
	records := []ledger.Record{
		ok, ok,
		{Model: "nova-pro", Route: "support", Tenant: "acme", Status: ledger.StatusError, ErrorKind: "throttled"},
		{Model: "nova-pro", Tenant: "acme", Status: ledger.StatusError, ErrorKind: "unavailable"},
		{Tenant: "acme", Status: ledger.StatusError, ErrorKind: "validation"},
	}
	for _, r := range records {
		if err := rec.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if len(next.got) != len(records) {
		t.Fatalf("recorder passed on %d records", len(next.got))
	}
	cases := []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.invocations.WithLabelValues("nova-micro", "support", "acme"), 2},
		{m.inputTokens.WithLabelValues("nova-micro", "support", "acme"), 200},
		{m.cacheRead.WithLabelValues("nova-micro", "support", "acme"), 2000},
		{m.throttles.WithLabelValues("nova-pro", "support", "acme"), 1},
		{m.serverErrors.WithLabelValues("nova-pro", "", "acme", "unavailable"), 1},
		{m.clientErrors.WithLabelValues("none", "", "acme", "validation"), 1},
		{m.savings.WithLabelValues("routing+prompt_cache", "support", "acme"), 2 * 0.000765},
	}
	for i, tc := range cases {
		if got := testutil.ToFloat64(tc.c); fmt.Sprintf("%.9f", got) != fmt.Sprintf("%.9f", tc.want) {
			t.Errorf("case %d: got %v, want %v", i, got, tc.want)
		}
	}
	// Names follow CloudWatch's Bedrock metrics.
	n, err := testutil.GatherAndCount(reg, "penny_invocations_total", "penny_invocation_latency_seconds",
		"penny_input_token_count_total", "penny_output_token_count_total", "penny_cache_read_input_token_count_total",
		"penny_invocation_throttles_total", "penny_invocation_server_errors_total", "penny_invocation_client_errors_total",
		"penny_time_to_first_token_seconds", "penny_cost_usd_total", "penny_baseline_cost_usd_total", "penny_savings_usd_total")
	if err != nil || n == 0 {
		t.Errorf("gather: %d series, %v", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP penny_invocation_throttles_total Throttled requests (CloudWatch InvocationThrottles).
# TYPE penny_invocation_throttles_total counter
penny_invocation_throttles_total{model="nova-pro",route="support",tenant="acme"} 1
`), "penny_invocation_throttles_total"); err != nil {
		t.Error(err)
	}
}

func TestCacheHitsAreNotInvocations(t *testing.T) {
	m, err := New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(&ledger.Record{Model: "nova-pro", Tenant: "acme", Status: ledger.StatusOK, Cache: "hit", InputTokens: 100,
		BaselineCost: 1000, Strategy: "response_cache"})
	if got := testutil.ToFloat64(m.invocations.WithLabelValues("nova-pro", "", "acme")); got != 0 {
		t.Errorf("hit counted as an invocation: %v", got)
	}
	if got := testutil.ToFloat64(m.inputTokens.WithLabelValues("nova-pro", "", "acme")); got != 0 {
		t.Errorf("hit tokens counted as billed: %v", got)
	}
	if got := testutil.ToFloat64(m.responseCache.WithLabelValues("hit", "")); got != 1 {
		t.Errorf("cache hits %v", got)
	}
	if got := testutil.ToFloat64(m.savings.WithLabelValues("response_cache", "", "acme")); got != 1e-6 {
		t.Errorf("savings %v", got)
	}
}

func TestTenantCardinalityIsBounded(t *testing.T) {
	m, err := New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < MaxTenants+50; i++ {
		m.Observe(&ledger.Record{Model: "nova-micro", Tenant: fmt.Sprintf("t%d", i), Status: ledger.StatusOK})
	}
	if got := testutil.ToFloat64(m.invocations.WithLabelValues("nova-micro", "", "other")); got != 50 {
		t.Errorf("other = %v, want 50", got)
	}
	if n := testutil.CollectAndCount(m.invocations); n != MaxTenants+1 {
		t.Errorf("%d series, want %d", n, MaxTenants+1)
	}
}

// TestModelCardinalityIsBounded: a refused request is labelled with the
// model it asked for, which any client makes up.
func TestModelCardinalityIsBounded(t *testing.T) {
	m, err := New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < MaxModels+50; i++ {
		m.Observe(&ledger.Record{Model: fmt.Sprintf("made-up-%d", i), Tenant: "acme", Status: ledger.StatusError, ErrorKind: "not_found"})
	}
	if got := testutil.ToFloat64(m.clientErrors.WithLabelValues("other", "", "acme", "not_found")); got != 50 {
		t.Errorf("other = %v, want 50", got)
	}
	if n := testutil.CollectAndCount(m.clientErrors); n != MaxModels+1 {
		t.Errorf("%d series, want %d", n, MaxModels+1)
	}
}
