// Package monitor turns ledger records into Prometheus metrics named after
// Bedrock's CloudWatch metrics (namespace AWS/Bedrock), so dashboards built
// for Bedrock read Penny the same way, plus Penny's cost and savings.
//
// Metrics are registered on a prometheus.Registerer passed in; there are
// no package-level metrics.
package monitor

import (
	"context"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/penny-gateway/penny/internal/anomaly"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// MaxTenants bounds the tenant label's cardinality: tenants beyond the
// first MaxTenants seen are reported as "other". MaxModels does the same
// for the model label, which a refused request takes from the client
// (any name it asked for).
const (
	MaxTenants = 200
	MaxModels  = 500
)

// labelSet is a label's values seen so far, at most max of them; others
// fold into "other".
type labelSet struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func (l *labelSet) value(v string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[v] {
		return v
	}
	if len(l.seen) >= l.max {
		return "other"
	}
	l.seen[v] = true
	return v
}

// Metrics observes ledger records.
type Metrics struct {
	invocations   *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	ttft          *prometheus.HistogramVec
	inputTokens   *prometheus.CounterVec
	outputTokens  *prometheus.CounterVec
	cacheRead     *prometheus.CounterVec
	cacheWrite    *prometheus.CounterVec
	throttles     *prometheus.CounterVec
	clientErrors  *prometheus.CounterVec
	serverErrors  *prometheus.CounterVec
	cost          *prometheus.CounterVec
	baseline      *prometheus.CounterVec
	savings       *prometheus.CounterVec
	responseCache *prometheus.CounterVec

	tenants, models labelSet
}

// New registers Penny's metrics on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"model", "route", "tenant"}
	m := &Metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_invocations_total",
			Help: "Successful model invocations (CloudWatch Invocations; throttled calls are not counted)."}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "penny_invocation_latency_seconds",
			Help:    "End-to-end request latency as Penny saw it (CloudWatch InvocationLatency).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}}, []string{"model", "route"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "penny_time_to_first_token_seconds",
			Help:    "Time to the first streamed token (CloudWatch TimeToFirstToken).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 16}}, []string{"model", "route"}),
		inputTokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_input_token_count_total",
			Help: "Input tokens billed at the input rate (CloudWatch InputTokenCount; excludes cache reads and writes)."}, labels),
		outputTokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_output_token_count_total",
			Help: "Output tokens (CloudWatch OutputTokenCount)."}, labels),
		cacheRead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_cache_read_input_token_count_total",
			Help: "Input tokens read from Bedrock's prompt cache (CloudWatch CacheReadInputTokenCount)."}, labels),
		cacheWrite: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_cache_write_input_token_count_total",
			Help: "Input tokens written to Bedrock's prompt cache (CloudWatch CacheWriteInputTokenCount)."}, labels),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_invocation_throttles_total",
			Help: "Throttled requests (CloudWatch InvocationThrottles)."}, labels),
		clientErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_invocation_client_errors_total",
			Help: "Requests that failed because of the request (CloudWatch InvocationClientErrors)."}, []string{"model", "route", "tenant", "kind"}),
		serverErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_invocation_server_errors_total",
			Help: "Requests that failed in Penny or upstream (CloudWatch InvocationServerErrors)."}, []string{"model", "route", "tenant", "kind"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_cost_usd_total",
			Help: "What requests cost, in US dollars (the ledger holds the exact figures)."}, labels),
		baseline: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_baseline_cost_usd_total",
			Help: "What requests would have cost on their baseline model, on demand, with no cache."}, labels),
		savings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_savings_usd_total",
			Help: "Baseline cost minus cost, by the cost levers that applied (strategy)."}, []string{"strategy", "route", "tenant"}),
		responseCache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "penny_response_cache_requests_total",
			Help: "Requests by response-cache verdict (hit, miss, bypass)."}, []string{"result", "route"}),
		tenants: labelSet{max: MaxTenants, seen: map[string]bool{}},
		models:  labelSet{max: MaxModels, seen: map[string]bool{}},
	}
	for _, c := range []prometheus.Collector{m.invocations, m.latency, m.ttft, m.inputTokens, m.outputTokens, m.cacheRead,
		m.cacheWrite, m.throttles, m.clientErrors, m.serverErrors, m.cost, m.baseline, m.savings, m.responseCache} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Observe counts one ledger record. It is safe for concurrent use.
func (m *Metrics) Observe(r *ledger.Record) {
	model := r.Model
	if model == "" {
		model = "none"
	}
	model = m.models.value(model)
	tenant := m.tenants.value(r.Tenant)
	lv := []string{model, r.Route, tenant}
	if r.Cache != "" {
		m.responseCache.WithLabelValues(r.Cache, r.Route).Inc()
	}
	if r.Cache == string(llm.CacheHit) && r.Status == ledger.StatusOK {
		// A response-cache hit invoked no model: like CloudWatch, count
		// only real invocations and their tokens; the hit shows in the
		// cache counter and as savings.
		if s := r.Savings(); s > 0 {
			m.savings.WithLabelValues(strings.ReplaceAll(r.Strategy, ",", "+"), r.Route, tenant).Add(s.Dollars())
		}
		return
	}
	if r.Status == ledger.StatusError {
		kind := llm.ErrorKind(r.ErrorKind)
		switch {
		case kind == llm.KindThrottled || kind == llm.KindModelNotReady:
			m.throttles.WithLabelValues(lv...).Inc()
		case serverSide(kind):
			m.serverErrors.WithLabelValues(model, r.Route, tenant, r.ErrorKind).Inc()
		default:
			m.clientErrors.WithLabelValues(model, r.Route, tenant, r.ErrorKind).Inc()
		}
	} else {
		m.invocations.WithLabelValues(lv...).Inc()
		m.latency.WithLabelValues(model, r.Route).Observe(r.Latency.Seconds())
		if r.TTFT > 0 {
			m.ttft.WithLabelValues(model, r.Route).Observe(r.TTFT.Seconds())
		}
	}
	// Tokens and money count for failed requests too: a stream cut short
	// is still billed.
	add := func(c *prometheus.CounterVec, n int) {
		if n > 0 {
			c.WithLabelValues(lv...).Add(float64(n))
		}
	}
	add(m.inputTokens, r.InputTokens)
	add(m.outputTokens, r.OutputTokens)
	add(m.cacheRead, r.CacheReadTokens)
	add(m.cacheWrite, r.CacheWriteTokens)
	if r.Cost > 0 {
		m.cost.WithLabelValues(lv...).Add(r.Cost.Dollars())
	}
	if r.BaselineCost > 0 {
		m.baseline.WithLabelValues(lv...).Add(r.BaselineCost.Dollars())
	}
	if s := r.Savings(); s > 0 {
		strategy := r.Strategy
		if strategy == "" {
			strategy = "none"
		}
		m.savings.WithLabelValues(strings.ReplaceAll(strategy, ",", "+"), r.Route, tenant).Add(s.Dollars())
	}
}

func serverSide(k llm.ErrorKind) bool {
	switch k {
	case llm.KindTimeout, llm.KindModelError, llm.KindUnavailable, llm.KindInternal:
		return true
	}
	return false
}

// RecordWriter is where ledger records go (a *ledger.Writer).
type RecordWriter interface {
	Write(ctx context.Context, r ledger.Record) error
}

// Recorder observes each record, then passes it on to Next.
type Recorder struct {
	Next    RecordWriter
	Metrics *Metrics
	// Anomaly, if set, watches spend, request rates and repeated prompts.
	Anomaly *anomaly.Detector
}

// Write implements the gateway's Recorder.
func (r Recorder) Write(ctx context.Context, rec ledger.Record) error {
	r.Metrics.Observe(&rec)
	if r.Anomaly != nil {
		r.Anomaly.Observe(&rec, rec.PromptHash)
	}
	return r.Next.Write(ctx, rec)
}

// Admit asks Next whether a new request may be served (nil when Next
// does not say; see ledger.Writer.Admit).
func (r Recorder) Admit() error {
	if a, ok := r.Next.(interface{ Admit() error }); ok {
		return a.Admit()
	}
	return nil
}

// Ready asks Next whether records can be written (nil when Next does not
// say; see ledger.Writer.Ready).
func (r Recorder) Ready() error {
	if a, ok := r.Next.(interface{ Ready() error }); ok {
		return a.Ready()
	}
	return nil
}
