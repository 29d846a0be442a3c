package govern

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

const prompt = "Summarize the quarterly report in three bullet points."

// fixture prices the test request on nova-micro: est is what the stage
// reserves for it with max_tokens 1000, and full is the usage that costs
// exactly est.
func fixture(t testing.TB) (cat *catalog.Catalog, full llm.Usage, est llm.Money) {
	cat = catalog.MustBuiltin()
	tr, err := cat.Resolve("nova-micro")
	if err != nil {
		t.Fatal(err)
	}
	full = llm.Usage{InputTokens: counter(t).CountRequest(request("nova-micro", prompt, 1000)), OutputTokens: 1000}
	est, _ = tr.Model.Cost(full, catalog.Terms{})
	return cat, full, est
}

// The requirement: 100 parallel requests overshoot a budget by at
// most one request's estimate.
func TestBudgetConcurrent(t *testing.T) {
	cat, full, est := fixture(t)
	for _, tt := range []struct {
		name   string
		usage  llm.Usage
		stream bool
	}{
		{"usage equals estimate", full, false},
		{"usage equals estimate, streamed", full, true},
		{"usage below estimate", llm.Usage{InputTokens: full.InputTokens, OutputTokens: 10}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0)
			up := &upstream{usage: tt.usage, delay: 2 * time.Millisecond}
			var spent atomic.Int64
			inv := Budget(BudgetOptions{Catalog: cat, Now: clk.Now})(up)
			k := &keys.Key{ID: "PNYTEST", Tenant: "acme", Limits: keys.Limits{BudgetMonth: est*10 + est/2}}
			tr, _ := cat.Resolve("nova-micro")
			cost, _ := tr.Model.Cost(tt.usage, catalog.Terms{})
			ctx := withKey(k)
			var wg sync.WaitGroup
			var ok, refused atomic.Int64
			for range 100 {
				wg.Go(func() {
					req := request("nova-micro", prompt, 1000)
					var err error
					if tt.stream {
						var s llm.Stream
						if s, err = inv.Stream(ctx, req); err == nil {
							_, err = llm.Collect(s)
						}
					} else {
						_, err = inv.Invoke(ctx, req)
					}
					switch llm.KindOf(err) {
					case "":
						ok.Add(1)
						spent.Add(int64(cost))
					case llm.KindBudget:
						refused.Add(1)
					default:
						t.Error(err)
					}
				})
			}
			wg.Wait()
			total := llm.Money(spent.Load())
			if total > k.Limits.BudgetMonth+est {
				t.Errorf("spent %v of a %v budget: overshoot beyond one estimate (%v)", total, k.Limits.BudgetMonth, est)
			}
			if ok.Load() < 10 || ok.Load()+refused.Load() != 100 {
				t.Errorf("%d admitted, %d refused; want at least 10 admitted and the rest refused", ok.Load(), refused.Load())
			}
			if int64(up.calls.Load()) != ok.Load() {
				t.Errorf("upstream called %d times for %d admitted", up.calls.Load(), ok.Load())
			}
		})
	}
}

func TestBudgetSequential(t *testing.T) {
	cat, full, est := fixture(t)
	tests := []struct {
		name      string
		budget    llm.Money
		ledger    llm.Money // spent before the first request
		usage     llm.Usage
		upErr     error
		maxTokens int
		want      int // requests admitted out of 20
	}{
		{name: "exact fit", budget: est * 5, usage: full, maxTokens: 1000, want: 5},
		{name: "ledger spend counts", budget: est * 5, ledger: est * 2, usage: full, maxTokens: 1000, want: 3},
		{name: "already over", budget: est, ledger: est * 2, usage: full, maxTokens: 1000, want: 0},
		{name: "cheap answers settle low", budget: est * 5, usage: llm.Usage{InputTokens: full.InputTokens}, maxTokens: 1000, want: 20},
		{name: "failures release", budget: est, upErr: llm.Errorf(llm.KindUnavailable, "down"), maxTokens: 1000, want: 20},
		{name: "estimate larger than budget", budget: est / 2, usage: full, maxTokens: 1000, want: 0},
		// Without max_tokens and before 20 answers are known, the estimate
		// is ColdOutputTokens (1024), a little above the 1000 answered.
		{name: "cold output estimate", budget: est * 5, usage: full, want: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0)
			up := &upstream{usage: tt.usage, err: tt.upErr}
			inv := Budget(BudgetOptions{Catalog: cat, Now: clk.Now,
				Spent: func(context.Context, string, time.Time) (llm.Money, error) { return tt.ledger, nil }})(up)
			ctx := withKey(&keys.Key{ID: "PNYTEST", Limits: keys.Limits{BudgetMonth: tt.budget}})
			got := 0
			for range 20 {
				_, err := inv.Invoke(ctx, request("nova-micro", prompt, tt.maxTokens))
				switch llm.KindOf(err) {
				case "", llm.KindUnavailable:
					got++
				case llm.KindBudget:
				default:
					t.Fatal(err)
				}
			}
			if got != tt.want {
				t.Errorf("%d admitted, want %d", got, tt.want)
			}
		})
	}
}

func TestBudgetError(t *testing.T) {
	cat, full, est := fixture(t)
	clk := newClock(time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC))
	inv := Budget(BudgetOptions{Catalog: cat, Now: clk.Now,
		Spent: func(context.Context, string, time.Time) (llm.Money, error) { return 499_990_000_000, nil }})(&upstream{usage: full})
	ctx := withKey(&keys.Key{ID: "PNYTEST", Limits: keys.Limits{BudgetMonth: 500 * llm.Dollar}})
	_, err := inv.Invoke(ctx, request("nova-micro", strings.Repeat("many words ", 200_000), 1000))
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindBudget {
		t.Fatalf("got %v, want a budget error", err)
	}
	want := "monthly budget of $500.00 for key PNYTEST is exhausted ($499.99 spent); it resets on 2026-12-01T00:00:00Z"
	if e.Message != want {
		t.Errorf("message\n got %q\nwant %q", e.Message, want)
	}
	if e.RetryAfter != time.Hour {
		t.Errorf("RetryAfter %v, want 1h", e.RetryAfter)
	}
	_ = est
}

// Spent is read once per key and month, and again when the month turns;
// a failed read fails the request and is retried.
func TestBudgetReadsLedgerOncePerMonth(t *testing.T) {
	cat, full, est := fixture(t)
	clk := newClock(time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC))
	var mu sync.Mutex
	var since []time.Time
	fail := true
	inv := Budget(BudgetOptions{Catalog: cat, Now: clk.Now,
		Spent: func(_ context.Context, id string, s time.Time) (llm.Money, error) {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				fail = false
				return 0, errors.New("database is locked")
			}
			since = append(since, s)
			return est, nil // one request's worth already spent
		}})(&upstream{usage: full})
	ctx := withKey(&keys.Key{ID: "PNYTEST", Limits: keys.Limits{BudgetMonth: 3 * est}})
	if _, err := inv.Invoke(ctx, request("nova-micro", prompt, 1000)); llm.KindOf(err) != llm.KindUnavailable {
		t.Fatalf("ledger failure: got %v", err)
	}
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 10 {
		wg.Go(func() {
			if _, err := inv.Invoke(ctx, request("nova-micro", prompt, 1000)); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 2 {
		t.Errorf("November: %d admitted, want 2", ok.Load())
	}
	clk.Advance(2 * time.Minute)
	for range 3 {
		inv.Invoke(ctx, request("nova-micro", prompt, 1000))
	}
	want := []time.Time{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	mu.Lock()
	defer mu.Unlock()
	if len(since) != 2 || !since[0].Equal(want[0]) || !since[1].Equal(want[1]) {
		t.Errorf("Spent called with %v, want %v", since, want)
	}
}

func TestBudgetAlerts(t *testing.T) {
	cat, full, est := fixture(t)
	tests := []struct {
		name   string
		ledger llm.Money
		want   []int // thresholds alerted, in order, over 10 requests
	}{
		{"from zero", 0, []int{50, 80, 100}},
		{"restart past 50", 6 * est, []int{80, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0)
			var got []Alert
			inv := Budget(BudgetOptions{Catalog: cat, Now: clk.Now,
				Spent: func(context.Context, string, time.Time) (llm.Money, error) { return tt.ledger, nil },
				Alert: func(a Alert) { got = append(got, a) }})(&upstream{usage: full})
			k := &keys.Key{ID: "PNYTEST", Tenant: "acme", Limits: keys.Limits{BudgetMonth: 10 * est}}
			for range 12 {
				inv.Invoke(withKey(k), request("nova-micro", prompt, 1000))
			}
			var th []int
			for _, a := range got {
				th = append(th, a.Threshold)
				if a.KeyID != "PNYTEST" || a.Tenant != "acme" || a.Budget != 10*est || !a.At.Equal(t0) ||
					!reached(a.Spent, a.Budget, a.Threshold) {
					t.Errorf("alert %+v", a)
				}
			}
			if !equalInts(th, tt.want) {
				t.Errorf("thresholds %v, want %v", th, tt.want)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Streams settle on their metadata; cut short, they keep the estimate;
// failed before any event, they release it.
func TestBudgetStreams(t *testing.T) {
	cat, full, est := fixture(t)
	small := llm.Usage{InputTokens: full.InputTokens, OutputTokens: 1}
	tests := []struct {
		name   string
		events func(r *llm.Response) []llm.Event
		err    error
		read   int // events read before Close; -1 to the end
		want   int // requests admitted out of 10 with a budget of 3 estimates
	}{
		{name: "settles on usage", read: -1, want: 10},
		{name: "closed early keeps the estimate", read: 1, want: 3},
		{name: "no usage keeps the estimate", read: -1, want: 3,
			events: func(r *llm.Response) []llm.Event { evs := llm.EventsOf(r); return evs[:len(evs)-1] }},
		{name: "failure before any event releases", read: -1, want: 10, err: llm.Errorf(llm.KindThrottled, "slow down"),
			events: func(*llm.Response) []llm.Event { return nil }},
		{name: "failure midway keeps the estimate", read: -1, want: 3, err: llm.Errorf(llm.KindModelError, "broke"),
			events: func(r *llm.Response) []llm.Event { return llm.EventsOf(r)[:2] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &upstream{usage: small, events: tt.events, streamErr: tt.err}
			inv := Budget(BudgetOptions{Catalog: cat})(up)
			ctx := withKey(&keys.Key{ID: "PNYTEST", Limits: keys.Limits{BudgetMonth: 3 * est}})
			got := 0
			for range 10 {
				s, err := inv.Stream(ctx, request("nova-micro", prompt, 1000))
				if llm.KindOf(err) == llm.KindBudget {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				got++
				for i := 0; tt.read < 0 || i < tt.read; i++ {
					if _, err := s.Recv(); err != nil {
						break
					}
				}
				s.Close()
				s.Close()
			}
			if got != tt.want {
				t.Errorf("%d admitted, want %d", got, tt.want)
			}
		})
	}
}

func TestBudgetPassesWithoutLimit(t *testing.T) {
	cat, full, _ := fixture(t)
	inv := Budget(BudgetOptions{Catalog: cat})(&upstream{usage: full})
	for _, ctx := range []context.Context{t.Context(), withKey(&keys.Key{ID: "PNYTEST"})} {
		for range 5 {
			if _, err := inv.Invoke(ctx, request("nova-micro", prompt, 1000)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestDollars(t *testing.T) {
	for m, want := range map[llm.Money]string{0: "0.00", 500 * llm.Dollar: "500.00", 123_000: "0.000123", 1_500_000_000: "1.50"} {
		if got := dollars(m); got != want {
			t.Errorf("dollars(%d) = %q, want %q", m, got, want)
		}
	}
}

func BenchmarkBudget(b *testing.B) {
	cat, full, _ := fixture(b)
	inv := Budget(BudgetOptions{Catalog: cat})(&upstream{usage: full})
	ctx := withKey(&keys.Key{ID: "PNYBENCH", Limits: keys.Limits{BudgetMonth: 1 << 62}})
	req := request("nova-micro", strings.Repeat("a typical short prompt of some words ", 20), 256)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := inv.Invoke(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
