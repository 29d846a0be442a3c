package anomaly_test

import (
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
