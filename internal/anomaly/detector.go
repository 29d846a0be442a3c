// Package anomaly watches finished requests for spend and invocation-rate
// spikes per tenant and per key, and for runaway loops (one key sending
// the same prompt over and over), and raises de-duplicated alerts to sinks:
// the log, webhooks (generic JSON or Slack) and an in-memory list for the
// API. On a runaway loop it can also ask for the offending key to be
// throttled.
//
// Spikes are judged against each subject's own rolling baseline, the
// per-minute values of the previous Config.Baseline minutes, with robust
// statistics (median and MAD) so a diurnal workload moves the baseline with
// it and one odd minute does not. A minute is judged while it is still
// running, so a spike is caught within the minute it starts.
package anomaly

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// Config configures a Detector. Zero fields take the defaults shown.
type Config struct {
	// Now is the clock; time.Now by default. Records are bucketed by when
	// they are observed (when their cost became known), not Record.Time.
	Now func() time.Time
	// Baseline is how many whole minutes before the current one form the
	// baseline (60).
	Baseline int
	// MinHistory is how many minutes a subject must have been seen for
	// before it can raise a spike alert (10), so that Penny starting up
	// under load, or a new key, does not alert on its first minutes.
	MinHistory int
	// K is how many robust standard deviations (1.4826·MAD) above the
	// median a minute must be to be a spike (6). For spend, the standard
	// deviation is at least what the baseline's request costs imply for
	// random arrivals, since per-minute spend of a key with few, unevenly
	// sized requests is heavy-tailed.
	K float64
	// SpendFloor is how far above the median a minute's spend must also be
	// to be a spike ($0.05), so near-zero baselines do not alert on
	// trivial amounts. RateFloor is the same for requests per minute (30).
	SpendFloor llm.Money
	RateFloor  float64
	// LoopCount identical prompt hashes from one key within LoopWindow are
	// a runaway loop (20 within 60 s).
	LoopCount  int
	LoopWindow time.Duration
	// Cooldown is how long an alert of one kind for one subject silences
	// further alerts of that kind for that subject (10 min).
	Cooldown time.Duration
	// Sinks receive every alert, in order, on the goroutine that called
	// Observe; each must return promptly (see Webhook).
	Sinks []Sink
	// Recent is how many alerts Recent keeps (100).
	Recent int
	// Throttle, when set, is called with the key and ThrottleFor (5 min)
	// when that key is caught in a runaway loop, at most once per
	// ThrottleFor per key. It is called outside the detector's lock on
	// Observe's goroutine and must not block.
	Throttle    func(keyID string, d time.Duration)
	ThrottleFor time.Duration
	// MaxSubjects bounds how many tenants, and separately how many keys,
	// have a series of their own (10,000). With auth off a client names
	// its tenant, so without a bound each new name would hold memory for
	// the whole baseline. Past it, new tenants share the series of
	// OverflowTenant (new keys that of OverflowKey), so a flood of new
	// names still raises a rate alert, and are not checked for loops; each
	// such record is counted (Overflowed).
	MaxSubjects int
}

// OverflowTenant and OverflowKey name the shared series of subjects past
// Config.MaxSubjects in alerts.
const (
	OverflowTenant = "(untracked tenants)"
	OverflowKey    = "(untracked keys)"
)

func (c *Config) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Baseline <= 0 {
		c.Baseline = 60
	}
	if c.MinHistory <= 0 {
		c.MinHistory = 10
	}
	if c.MinHistory > c.Baseline {
		c.MinHistory = c.Baseline
	}
	if c.K <= 0 {
		c.K = 6
	}
	if c.SpendFloor <= 0 {
		c.SpendFloor = 5 * llm.Dollar / 100
	}
	if c.RateFloor <= 0 {
		c.RateFloor = 30
	}
	if c.LoopCount <= 0 {
		c.LoopCount = 20
	}
	if c.LoopWindow <= 0 {
		c.LoopWindow = time.Minute
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 10 * time.Minute
	}
	if c.Recent <= 0 {
		c.Recent = 100
	}
	if c.ThrottleFor <= 0 {
		c.ThrottleFor = 5 * time.Minute
	}
	if c.MaxSubjects <= 0 {
		c.MaxSubjects = 10_000
	}
}

// Detector finds anomalies in a stream of ledger records. It is safe for
// concurrent use.
type Detector struct {
	cfg    Config
	recent *ring

	mu        sync.Mutex
	minute    int64 // the latest minute observed, in minutes since the epoch
	tenants   map[string]*series
	keys      map[subject]*series
	loops     map[subject]*loopKey
	lastAlert map[alertKey]time.Time
	// overflowed counts records of subjects past MaxSubjects.
	overflowed atomic.Int64
}

type subject struct{ tenant, key string }

type alertKey struct {
	kind string
	subject
}

// New returns a Detector.
func New(cfg Config) *Detector {
	cfg.setDefaults()
	return &Detector{
		cfg:       cfg,
		recent:    newRing(cfg.Recent),
		minute:    math.MinInt64,
		tenants:   map[string]*series{},
		keys:      map[subject]*series{},
		loops:     map[subject]*loopKey{},
		lastAlert: map[alertKey]time.Time{},
	}
}

// Observe feeds one finished request to the detector. promptHash identifies
// the request's prompt for runaway-loop detection (see ledger.PromptHash); "" skips
// that check. Alerts it raises go to the sinks before Observe returns.
func (d *Detector) Observe(r *ledger.Record, promptHash string) {
	d.mu.Lock()
	now := d.cfg.Now()
	m := now.Unix() / 60
	if now.Unix() < 0 && now.Unix()%60 != 0 {
		m--
	}
	if m > d.minute {
		if d.minute != math.MinInt64 {
			d.sweep(m, now)
		}
		d.minute = m
	}
	m = d.minute // a clock that stepped back counts in the latest minute

	var alerts []Alert
	var throttle string
	tracked := true
	tsub := subject{tenant: r.Tenant}
	ts := d.tenants[r.Tenant]
	if ts == nil {
		if len(d.tenants) >= d.cfg.MaxSubjects {
			tracked, tsub = false, subject{tenant: OverflowTenant}
			ts = d.tenants[OverflowTenant]
		}
		if ts == nil {
			ts = newSeries(d.cfg.Baseline, m)
			d.tenants[tsub.tenant] = ts
		}
	}
	alerts = d.checkSeries(alerts, ts, tsub, m, now, r.Cost)
	if r.KeyID != "" {
		sk := subject{r.Tenant, r.KeyID}
		ks := d.keys[sk]
		if ks == nil {
			if len(d.keys) >= d.cfg.MaxSubjects {
				tracked, sk = false, subject{OverflowTenant, OverflowKey}
				ks = d.keys[sk]
			}
			if ks == nil {
				ks = newSeries(d.cfg.Baseline, m)
				d.keys[sk] = ks
			}
		}
		alerts = d.checkSeries(alerts, ks, sk, m, now, r.Cost)
	}
	if _, seen := d.loops[subject{r.Tenant, r.KeyID}]; !seen && len(d.loops) >= d.cfg.MaxSubjects {
		tracked = false
		promptHash = "" // loops are one key's; a shared series would join strangers' prompts
	}
	if !tracked {
		d.overflowed.Add(1)
	}
	if promptHash != "" {
		var loop bool
		alerts, loop = d.checkLoop(alerts, subject{r.Tenant, r.KeyID}, promptHash, now)
		if loop && d.cfg.Throttle != nil && r.KeyID != "" {
			lk := d.loops[subject{r.Tenant, r.KeyID}]
			if !now.Before(lk.throttledUntil) {
				lk.throttledUntil = now.Add(d.cfg.ThrottleFor)
				throttle = r.KeyID
			}
		}
	}
	d.mu.Unlock()

	for _, a := range alerts {
		d.recent.add(a)
		for _, s := range d.cfg.Sinks {
			s.Send(a)
		}
	}
	if throttle != "" {
		d.cfg.Throttle(throttle, d.cfg.ThrottleFor)
	}
}

// Overflowed returns how many records were of tenants or keys past
// Config.MaxSubjects (see there).
func (d *Detector) Overflowed() int64 { return d.overflowed.Load() }

// Tracked returns how many tenants and keys have a series of their own
// (the overflow series included).
func (d *Detector) Tracked() (tenants, keys int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.tenants), len(d.keys)
}

// Recent returns the latest alerts, newest first.
func (d *Detector) Recent() []Alert { return d.recent.list() }

// Publish sends an alert raised elsewhere (a budget threshold) through the
// detector's sinks and into Recent, so that every alert reaches the same
// places. The caller de-duplicates it.
func (d *Detector) Publish(a Alert) {
	if a.At.IsZero() {
		a.At = d.cfg.Now()
	}
	d.recent.add(a)
	for _, s := range d.cfg.Sinks {
		s.Send(a)
	}
}

// Close closes the sinks that have a Close(context.Context) error method,
// letting webhooks deliver what they have queued until ctx is done. The
// detector must not be used afterwards.
func (d *Detector) Close(ctx context.Context) error {
	var errs []error
	for _, s := range d.cfg.Sinks {
		if c, ok := s.(interface{ Close(context.Context) error }); ok {
			errs = append(errs, c.Close(ctx))
		}
	}
	return errors.Join(errs...)
}

// checkSeries adds cost and one request to s's current minute and judges
// the minute so far against s's baseline.
func (d *Detector) checkSeries(alerts []Alert, s *series, sub subject, m int64, now time.Time, cost llm.Money) []Alert {
	b := s.add(m, cost)
	base := s.baseline(m, d.cfg.MinHistory)
	if base == nil {
		return alerts
	}
	spendThreshold := max(threshold(base.spend, d.cfg.K, max(float64(d.cfg.SpendFloor), d.cfg.K*base.spendNoise)), base.spendMax)
	// One request, however large, is not a spike: the minute must beat
	// the threshold without its largest request (a single huge request is
	// what budgets are for).
	if float64(b.cost-b.largest) > spendThreshold && d.admit(KindSpendSpike, sub, now) {
		a := Alert{Kind: KindSpendSpike, Tenant: sub.tenant, KeyID: sub.key,
			Value: llm.Money(b.cost).Dollars(), Baseline: base.spend.median / float64(llm.Dollar),
			Threshold: spendThreshold / float64(llm.Dollar), Unit: UnitDollarsPerMinute, Window: time.Minute, At: now}
		a.Message = fmt.Sprintf("%s spent $%.4f so far this minute; its baseline is $%.4f/min and the alert threshold $%.4f/min",
			sub, a.Value, a.Baseline, a.Threshold)
		alerts = append(alerts, a)
	}
	rateThreshold := threshold(base.rate, d.cfg.K, d.cfg.RateFloor)
	if float64(b.count) > rateThreshold && d.admit(KindRateSpike, sub, now) {
		a := Alert{Kind: KindRateSpike, Tenant: sub.tenant, KeyID: sub.key,
			Value: float64(b.count), Baseline: base.rate.median, Threshold: rateThreshold,
			Unit: UnitRequestsPerMinute, Window: time.Minute, At: now}
		a.Message = fmt.Sprintf("%s sent %d requests so far this minute; its baseline is %.1f/min and the alert threshold %.1f/min",
			sub, b.count, a.Baseline, a.Threshold)
		alerts = append(alerts, a)
	}
	return alerts
}

// threshold is median + max(k·1.4826·MAD, floor). For spend the floor is
// the larger of SpendFloor and K times the baseline's compound-Poisson
// noise (see baseline.spendNoise), and a spend spike must also beat the
// baseline's largest minute.
func threshold(s stats, k, floor float64) float64 {
	return s.median + max(k*1.4826*s.mad, floor)
}

// admit reports whether an alert of kind for sub may be raised now, and if
// so starts its cool-down.
func (d *Detector) admit(kind string, sub subject, now time.Time) bool {
	k := alertKey{kind, sub}
	if last, ok := d.lastAlert[k]; ok && now.Sub(last) < d.cfg.Cooldown {
		return false
	}
	d.lastAlert[k] = now
	return true
}

func (s subject) String() string {
	if s.key == "" {
		return fmt.Sprintf("tenant %q", s.tenant)
	}
	return fmt.Sprintf("key %q (tenant %q)", s.key, s.tenant)
}

// sweep forgets what can no longer matter once the clock reaches minute m:
// subjects idle for a whole baseline, loop counts older than the loop
// window and expired cool-downs. It bounds memory by the active subjects
// and prompts.
func (d *Detector) sweep(m int64, now time.Time) {
	idle := m - int64(d.cfg.Baseline) - 1
	for t, s := range d.tenants {
		if s.last < idle {
			delete(d.tenants, t)
		}
	}
	for k, s := range d.keys {
		if s.last < idle {
			delete(d.keys, k)
		}
	}
	cutoff := now.Add(-d.cfg.LoopWindow).UnixNano()
	for k, lk := range d.loops {
		lk.prune(cutoff)
		if len(lk.hashes) == 0 && !now.Before(lk.throttledUntil) {
			delete(d.loops, k)
		}
	}
	for k, t := range d.lastAlert {
		if now.Sub(t) >= d.cfg.Cooldown {
			delete(d.lastAlert, k)
		}
	}
}
