package anomaly_test

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/anomaly"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// fakeClock is the simulator's clock: the test moves it.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// collector is a Sink that keeps every alert.
type collector struct{ alerts []anomaly.Alert }

func (c *collector) Send(a anomaly.Alert) { c.alerts = append(c.alerts, a) }

// simKey is one API key of the background workload: its mean rate follows
// a day-long sine, ±60 % around perMinute, peaking at peakHour UTC.
type simKey struct {
	tenant, key string
	perMinute   float64
	peakHour    float64
	distinct    int // distinct prompts it draws from (0: every prompt unique)
}

var background = []simKey{
	{"acme", "acme-chat", 60, 14, 0},
	{"acme", "acme-batch", 20, 3, 0},
	{"globex", "globex-app", 8, 20, 0},
	// A FAQ bot whose users often ask the same few questions.
	{"initech", "initech-faq", 12, 11, 50},
}

func (k simKey) rate(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	return k.perMinute * (1 + 0.6*math.Cos(2*math.Pi*(h-k.peakHour)/24))
}

// poisson draws from a Poisson distribution with mean lambda (Knuth's
// method; lambda here is at most a few per second).
func poisson(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// cost prices a request like a Sonnet-class model ($3/M in, $15/M out) with
// log-normal token counts, so some requests are much larger than most.
func cost(r *rand.Rand) llm.Money {
	in := math.Exp(7 + 0.8*r.NormFloat64())    // median ~1100 tokens
	out := math.Exp(5.5 + 0.7*r.NormFloat64()) // median ~250 tokens
	return llm.Money(in*3000 + out*15000)      // $3/M tokens is 3000 nano-dollars a token
}

// event is one request of the simulation.
type event struct {
	at     time.Time
	tenant string
	key    string
	cost   llm.Money
	hash   string
}

// simulate runs the background workload from start for d, one second at a
// time, plus the injected events, feeding the detector in time order.
func simulate(t testing.TB, d *anomaly.Detector, clock *fakeClock, rng *rand.Rand, start time.Time, dur time.Duration, inject func(at time.Time) []event) int {
	n := 0
	var batch []event
	for s := time.Duration(0); s < dur; s += time.Second {
		at := start.Add(s)
		batch = batch[:0]
		for _, k := range background {
			for range poisson(rng, k.rate(at)/60) {
				hash := "p" + string(rune(rng.IntN(1<<20)))
				if k.distinct > 0 {
					hash = "faq" + string(rune('a'+rng.IntN(k.distinct)))
				}
				batch = append(batch, event{at.Add(time.Duration(rng.Int64N(int64(time.Second)))), k.tenant, k.key, cost(rng), hash})
			}
		}
		if inject != nil {
			batch = append(batch, inject(at)...)
		}
		sort.Slice(batch, func(i, j int) bool { return batch[i].at.Before(batch[j].at) })
		for _, e := range batch {
			clock.t = e.at
			d.Observe(&ledger.Record{Time: e.at, Tenant: e.tenant, KeyID: e.key, Cost: e.cost, Status: ledger.StatusOK}, e.hash)
			n++
		}
	}
	return n
}

// TestDiurnalWeekNoFalseAlerts runs a week of normal diurnal traffic
// (±60 % over the day, Poisson arrivals, heavy-tailed costs) and expects no
// alert at all.
func TestDiurnalWeekNoFalseAlerts(t *testing.T) {
	days := 7
	if testing.Short() {
		days = 2
	}
	clock := &fakeClock{}
	sink := &collector{}
	d := anomaly.New(anomaly.Config{Now: clock.Now, Sinks: []anomaly.Sink{sink}})
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	n := simulate(t, d, clock, rng, start, time.Duration(days)*24*time.Hour, nil)
	minutes := days * 24 * 60
	subjects := 3 + len(background) // tenants + keys
	t.Logf("diurnal: %d days, %d requests, %d subject-minutes judged, %d false alerts (rate %.2g per subject-minute)",
		days, n, minutes*subjects, len(sink.alerts), float64(len(sink.alerts))/float64(minutes*subjects))
	for _, a := range sink.alerts {
		t.Errorf("false alert: %s", a.Message)
	}
}

// TestInjectedAnomaliesDetectedWithin60s injects, into the background
// workload, a runaway loop, a spend spike and a rate spike, each starting
// mid-minute, and expects each alert within 60 s of its onset.
func TestInjectedAnomaliesDetectedWithin60s(t *testing.T) {
	start := time.Date(2025, 3, 3, 6, 0, 0, 0, time.UTC)
	warm := 3 * time.Hour
	cases := []struct {
		name   string
		kind   string
		key    string
		offset time.Duration // onset's second within its minute
		inject func(rng *rand.Rand, onset, at time.Time) []event
	}{
		{
			// An agent retrying the same request every 2 s.
			name: "runaway loop", kind: anomaly.KindRunawayLoop, key: "globex-app", offset: 37 * time.Second,
			inject: func(rng *rand.Rand, onset, at time.Time) []event {
				if at.Sub(onset)%(2*time.Second) != 0 {
					return nil
				}
				return []event{{at, "globex", "globex-app", cost(rng), "stuck"}}
			},
		},
		{
			// Someone starts sending 100k-token contexts: $0.30 each, 6/min.
			name: "spend spike", kind: anomaly.KindSpendSpike, key: "acme-batch", offset: 51 * time.Second,
			inject: func(rng *rand.Rand, onset, at time.Time) []event {
				if at.Sub(onset)%(10*time.Second) != 0 {
					return nil
				}
				return []event{{at, "acme", "acme-batch", 300 * llm.Dollar / 1000, ""}}
			},
		},
		{
			// A client's traffic jumps to 3 requests per second.
			name: "rate spike", kind: anomaly.KindRateSpike, key: "globex-app", offset: 12 * time.Second,
			inject: func(rng *rand.Rand, onset, at time.Time) []event {
				var evs []event
				for range 3 {
					evs = append(evs, event{at.Add(time.Duration(rng.Int64N(int64(time.Second)))), "globex", "globex-app", cost(rng), ""})
				}
				return evs
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			sink := &collector{}
			var throttled []string
			d := anomaly.New(anomaly.Config{Now: clock.Now, Sinks: []anomaly.Sink{sink},
				Throttle: func(key string, _ time.Duration) { throttled = append(throttled, key) }})
			rng := rand.New(rand.NewPCG(3, 4))
			simulate(t, d, clock, rng, start, warm, nil)
			if len(sink.alerts) != 0 {
				t.Fatalf("alerts during warm-up: %v", sink.alerts)
			}
			onset := start.Add(warm + 20*time.Minute + tc.offset)
			simulate(t, d, clock, rng, start.Add(warm), 30*time.Minute, func(at time.Time) []event {
				if at.Before(onset) {
					return nil
				}
				return tc.inject(rng, onset, at)
			})
			var first *anomaly.Alert
			for i, a := range sink.alerts {
				if a.Kind == tc.kind && a.KeyID == tc.key {
					first = &sink.alerts[i]
					break
				}
			}
			if first == nil {
				t.Fatalf("no %s alert for %s; got %v", tc.kind, tc.key, sink.alerts)
			}
			delay := first.At.Sub(onset)
			t.Logf("%s: detected %.1f s after onset (onset at :%02d of its minute): %s",
				tc.name, delay.Seconds(), int(tc.offset.Seconds()), first.Message)
			if delay < 0 || delay > 60*time.Second {
				t.Errorf("detection delay %s, want within 60 s", delay)
			}
			for _, a := range sink.alerts {
				if a.At.Before(onset) {
					t.Errorf("alert before onset: %s", a.Message)
				}
			}
			if tc.kind == anomaly.KindRunawayLoop {
				// The fake throttle does not stop the loop, so the key is
				// throttled again each time the previous throttle ends.
				if len(throttled) == 0 || throttled[0] != tc.key {
					t.Errorf("throttled %v, want %s first", throttled, tc.key)
				}
				for _, k := range throttled {
					if k != tc.key {
						t.Errorf("throttled %s, want only %s", k, tc.key)
					}
				}
			}
		})
	}
}
