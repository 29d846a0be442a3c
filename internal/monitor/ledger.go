package monitor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/penny-gateway/penny/internal/ledger"
)

// LedgerMetrics are the ledger writer's own metrics: what became of the
// records (written, spooled, replayed, lost), how long commits take, and
// whether the database is taking records.
type LedgerMetrics struct {
	commit *prometheus.HistogramVec
	reg    prometheus.Registerer
}

// NewLedgerMetrics registers the commit-latency histogram on reg; pass
// ObserveCommit to the writer (ledger.WriterOptions.OnCommit), then Watch
// it for the rest.
func NewLedgerMetrics(reg prometheus.Registerer) (*LedgerMetrics, error) {
	m := &LedgerMetrics{reg: reg, commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "penny_ledger_commit_seconds",
		Help:    "How long the ledger database took to commit a batch of records, by result (ok, error).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"result"})}
	if err := reg.Register(m.commit); err != nil {
		return nil, err
	}
	return m, nil
}

// ObserveCommit records one commit; its signature is
// ledger.WriterOptions.OnCommit's.
func (m *LedgerMetrics) ObserveCommit(_ int, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.commit.WithLabelValues(result).Observe(took.Seconds())
}

// LedgerSource is what Watch reads; *ledger.Writer is one.
type LedgerSource interface {
	Stats() ledger.WriterStats
	Health() ledger.Health
}

// Watch registers the metrics read from the writer's counters at scrape
// time.
func (m *LedgerMetrics) Watch(w LedgerSource) error {
	counter := func(name, help string, v func(ledger.WriterStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(w.Stats())) })
	}
	gauge := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v)
	}
	for _, c := range []prometheus.Collector{
		counter("penny_ledger_records_queued_total", "Records the ledger writer accepted.",
			func(s ledger.WriterStats) int64 { return s.Accepted }),
		counter("penny_ledger_records_written_total", "Records committed to the ledger database as they came.",
			func(s ledger.WriterStats) int64 { return s.Written }),
		counter("penny_ledger_records_spooled_total", "Records kept in the spool file because the database could not take them.",
			func(s ledger.WriterStats) int64 { return s.Spooled }),
		counter("penny_ledger_records_replayed_total", "Records moved from the spool into the database.",
			func(s ledger.WriterStats) int64 { return s.Replayed }),
		counter("penny_ledger_records_failed_total", "Records lost: neither the database nor the spool took them.",
			func(s ledger.WriterStats) int64 { return s.Failed }),
		gauge("penny_ledger_queue_depth", "Records accepted and not yet committed, spooled or lost.",
			func() float64 { return float64(w.Stats().Queued) }),
		gauge("penny_ledger_spool_records", "Records in the spool waiting to be replayed into the database.",
			func() float64 { return float64(w.Stats().InSpool) }),
		gauge("penny_ledger_healthy", "1 while the ledger database takes records, 0 while it fails or stalls (see /readyz).",
			func() float64 {
				if w.Health().OK {
					return 1
				}
				return 0
			}),
	} {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
