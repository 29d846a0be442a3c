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

// TestLedgerMetrics reads a writer's counters and health through the
// registry, the health gauge flipping, and the commit histogram by
// result. (internal/app's tests read them from a real writer over HTTP.)
func TestLedgerMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	lm, err := NewLedgerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{stats: ledger.WriterStats{Accepted: 7, Written: 4, Spooled: 2, Replayed: 1, InSpool: 1, Failed: 1, Queued: 0},
		health: ledger.Health{OK: false}}
	if err := lm.Watch(src); err != nil {
		t.Fatal(err)
	}
	lm.ObserveCommit(3, 2*time.Millisecond, nil)
	lm.ObserveCommit(3, time.Second, fmt.Errorf("disk full"))
	want := `
# HELP penny_ledger_healthy 1 while the ledger database takes records, 0 while it fails or stalls (see /readyz).
# TYPE penny_ledger_healthy gauge
penny_ledger_healthy 0
# HELP penny_ledger_records_failed_total Records lost: neither the database nor the spool took them.
# TYPE penny_ledger_records_failed_total counter
penny_ledger_records_failed_total 1
# HELP penny_ledger_records_queued_total Records the ledger writer accepted.
# TYPE penny_ledger_records_queued_total counter
penny_ledger_records_queued_total 7
# HELP penny_ledger_records_replayed_total Records moved from the spool into the database.
# TYPE penny_ledger_records_replayed_total counter
penny_ledger_records_replayed_total 1
# HELP penny_ledger_records_spooled_total Records kept in the spool file because the database could not take them.
# TYPE penny_ledger_records_spooled_total counter
penny_ledger_records_spooled_total 2
# HELP penny_ledger_records_written_total Records committed to the ledger database as they came.
# TYPE penny_ledger_records_written_total counter
penny_ledger_records_written_total 4
# HELP penny_ledger_spool_records Records in the spool waiting to be replayed into the database.
# TYPE penny_ledger_spool_records gauge
penny_ledger_spool_records 1
`
	names := []string{"penny_ledger_healthy", "penny_ledger_records_failed_total", "penny_ledger_records_queued_total",
		"penny_ledger_records_replayed_total", "penny_ledger_records_spooled_total", "penny_ledger_records_written_total",
		"penny_ledger_spool_records"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(lm.commit); n != 2 {
		t.Errorf("commit histogram has %d series, want ok and error", n)
	}
	src.health.OK = true
	healthy := `
# HELP penny_ledger_healthy 1 while the ledger database takes records, 0 while it fails or stalls (see /readyz).
# TYPE penny_ledger_healthy gauge
penny_ledger_healthy 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(healthy), "penny_ledger_healthy"); err != nil {
		t.Error(err)
	}
}

type fakeSource struct {
	stats  ledger.WriterStats
	health ledger.Health
}

func (f *fakeSource) Stats() ledger.WriterStats { return f.stats }
func (f *fakeSource) Health() ledger.Health     { return f.health }

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
