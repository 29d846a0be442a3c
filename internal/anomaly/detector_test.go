package anomaly_test

import (
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/anomaly"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// steady feeds minutes of one request a minute costing c.
func steady(d *anomaly.Detector, clock *fakeClock, minutes int, c llm.Money) {
	for range minutes {
		clock.t = clock.t.Add(time.Minute)
		d.Observe(&ledger.Record{Tenant: "t", KeyID: "k", Cost: c}, "")
	}
}

func TestTrivialAmountsDoNotAlert(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := anomaly.New(anomaly.Config{Now: clock.Now})
	steady(d, clock, 60, 0)
	// 20 requests of $0.001 on a zero baseline: below both floors.
	for range 20 {
		d.Observe(&ledger.Record{Tenant: "t", KeyID: "k", Cost: llm.Dollar / 1000}, "")
	}
	if got := d.Recent(); len(got) != 0 {
		t.Errorf("alerts %v", got)
	}
}

func TestCooldownAndRecent(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := anomaly.New(anomaly.Config{Now: clock.Now})
	steady(d, clock, 60, 0)
	spike := func() {
		for range 100 {
			d.Observe(&ledger.Record{Tenant: "t", KeyID: "k"}, "")
		}
	}
	spike()
	if got := d.Recent(); len(got) != 2 { // tenant and key
		t.Fatalf("alerts %v, want a rate spike for the tenant and for the key", got)
	}
	clock.t = clock.t.Add(5 * time.Minute)
	spike()
	if got := d.Recent(); len(got) != 2 {
		t.Fatalf("%d alerts within the cool-down, want 2", len(got))
	}
	clock.t = clock.t.Add(6 * time.Minute)
	spike()
	got := d.Recent()
	if len(got) != 4 || !got[0].At.After(got[3].At) {
		t.Fatalf("%d alerts after the cool-down, want 4 newest first", len(got))
	}
}

func TestMinHistory(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := anomaly.New(anomaly.Config{Now: clock.Now})
	for range 500 { // a new key starting big is not a spike
		d.Observe(&ledger.Record{Tenant: "t", KeyID: "k", Cost: llm.Dollar}, "")
	}
	if got := d.Recent(); len(got) != 0 {
		t.Errorf("alerts %v", got)
	}
}

func TestConcurrentObserve(t *testing.T) {
	d := anomaly.New(anomaly.Config{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				d.Observe(&ledger.Record{Tenant: "t", KeyID: string(rune('a' + g)), Cost: llm.Money(i)}, "h")
				_ = d.Recent()
			}
		})
	}
	wg.Wait()
}

// TestDistinctTenantsAreBounded is finding 6: with auth off a client names
// its tenant, and 40,000 names used to hold a series each for an hour.
// Past MaxSubjects they share one overflow series, which still alerts on
// their flood, and are counted.
func TestDistinctTenantsAreBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := anomaly.New(anomaly.Config{Now: clock.Now, MaxSubjects: 1000})
	// A steady overflow series first, so that the flood below is judged
	// against a baseline.
	for i := range 1000 {
		d.Observe(&ledger.Record{Tenant: "steady-" + strconv.Itoa(i)}, "")
	}
	for range 60 {
		clock.t = clock.t.Add(time.Minute)
		d.Observe(&ledger.Record{Tenant: "steady-0"}, "")
		d.Observe(&ledger.Record{Tenant: "one-off"}, "")
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 40_000 {
		d.Observe(&ledger.Record{Tenant: "t-" + strconv.Itoa(i), KeyID: "k-" + strconv.Itoa(i)}, "same prompt")
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	tenants, keys := d.Tracked()
	if tenants > 1001 || keys > 1001 {
		t.Errorf("%d tenants and %d keys tracked, want at most 1,000 each and the overflow series", tenants, keys)
	}
	if got := d.Overflowed(); got < 40_000 {
		t.Errorf("Overflowed = %d, want every one of the 40,000 new tenants counted", got)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("40,000 new tenants grew the heap by %d MB", grew>>20)
	}
	var flood, loop bool
	for _, a := range d.Recent() {
		flood = flood || a.Kind == anomaly.KindRateSpike && a.Tenant == anomaly.OverflowTenant
		loop = loop || a.Kind == anomaly.KindRunawayLoop
	}
	if !flood {
		t.Errorf("the flood of new tenants raised no rate alert on %q: %v", anomaly.OverflowTenant, d.Recent())
	}
	if loop {
		t.Error("strangers sharing the overflow series were taken for a runaway loop")
	}
	// Once the tracked tenants go idle for a baseline, new ones get series
	// of their own again.
	clock.t = clock.t.Add(2 * time.Hour)
	d.Observe(&ledger.Record{Tenant: "newcomer"}, "")
	if tenants, _ := d.Tracked(); tenants > 2 {
		t.Errorf("%d tenants still tracked after two idle hours", tenants)
	}
}
