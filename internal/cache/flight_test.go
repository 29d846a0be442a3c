package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/cache/memory"
	"github.com/penny-gateway/penny/internal/llm"
)

// gatedUpstream blocks every call until release is closed, and counts the
// calls and their contexts' cancellations.
type gatedUpstream struct {
	release  chan struct{}
	calls    atomic.Int64
	canceled atomic.Int64
	err      error
	panicVal any
}

func (u *gatedUpstream) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	u.calls.Add(1)
	req.Model = "nova-micro"
	req.Meta.Provider = "sim"
	select {
	case <-u.release:
	case <-ctx.Done():
		u.canceled.Add(1)
		return nil, ctx.Err()
	}
	if u.panicVal != nil {
		panic(u.panicVal)
	}
	if u.err != nil {
		return nil, u.err
	}
	return &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("shared answer")}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 5},
	}, nil
}

func (u *gatedUpstream) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, errors.New("not used")
}

func newCoalescing(t *testing.T) (*stage, *gatedUpstream) {
	t.Helper()
	up := &gatedUpstream{release: make(chan struct{})}
	b := memory.New(1 << 20)
	t.Cleanup(func() { b.Close() })
	s := Stage(Options{Backend: b, Default: Policy{Enabled: true}})(up).(*stage)
	return s, up
}

func coalescable(tenant string) *llm.Request {
	zero := 0.0
	return &llm.Request{
		Model:    "micro",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("same question")}}},
		Config:   llm.InferenceConfig{Temperature: &zero},
		Meta:     llm.Meta{Tenant: tenant, Cache: llm.CacheMiss, Tags: map[string]string{"app": "chat"}},
	}
}

// waitFor polls until cond holds, for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waiting returns how many callers wait for the call of key.
func (s *stage) waiting(key string) int {
	s.flights.mu.Lock()
	defer s.flights.mu.Unlock()
	if f, ok := s.flights.m[key]; ok {
		return f.waiting
	}
	return 0
}

func keyOf(s *stage, req *llm.Request) string {
	pl, _ := s.plan(req)
	return pl.key
}

func TestCoalescingMakesOneUpstreamCall(t *testing.T) {
	const n = 64
	s, up := newCoalescing(t)
	reqs := make([]*llm.Request, n)
	resps := make([]*llm.Response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		reqs[i] = coalescable("acme")
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = s.Invoke(context.Background(), reqs[i])
		}()
	}
	key := keyOf(s, coalescable("acme"))
	waitFor(t, "all callers to wait", func() bool { return s.waiting(key) == n })
	close(up.release)
	wg.Wait()

	if c := up.calls.Load(); c != 1 {
		t.Fatalf("%d upstream calls for %d identical requests; want 1", c, n)
	}
	leaders := 0
	for i := range n {
		if errs[i] != nil || resps[i].Text() != "shared answer" || resps[i].Usage.InputTokens != 10 {
			t.Fatalf("caller %d: %+v, %v", i, resps[i], errs[i])
		}
		m := reqs[i].Meta
		switch {
		case m.Cache == llm.CacheMiss && !m.Coalesced:
			leaders++
			if m.Provider != "sim" || reqs[i].Model != "nova-micro" {
				t.Errorf("leader's request not updated by the upstream: provider %q, model %q", m.Provider, reqs[i].Model)
			}
		case m.Cache == llm.CacheHit && m.Coalesced:
			if m.Provider != "" {
				t.Errorf("waiter %d names provider %q; it called none", i, m.Provider)
			}
		default:
			t.Errorf("caller %d: cache %s, coalesced %v", i, m.Cache, m.Coalesced)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d callers recorded as the one upstream call", leaders)
	}
	// Each caller has its own Response.
	resps[0].Cost = 42
	for i := 1; i < n; i++ {
		if resps[i].Cost != 0 {
			t.Fatal("callers share one Response")
		}
	}
	// And the answer was stored.
	late := coalescable("acme")
	if r, err := s.Invoke(context.Background(), late); err != nil || late.Meta.Cache != llm.CacheHit || late.Meta.Coalesced || r.Text() != "shared answer" {
		t.Fatalf("after the call: %v, cache %s, coalesced %v", err, late.Meta.Cache, late.Meta.Coalesced)
	}
	if s.flights.inFlight() != 0 {
		t.Fatal("a finished call is still in flight")
	}
}

func TestCoalescingOnlyIdenticalRequests(t *testing.T) {
	s, up := newCoalescing(t)
	var wg sync.WaitGroup
	for _, tenant := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Invoke(context.Background(), coalescable(tenant))
		}()
	}
	waitFor(t, "three calls in flight", func() bool { return s.flights.inFlight() == 3 })
	close(up.release)
	wg.Wait()
	if c := up.calls.Load(); c != 3 {
		t.Fatalf("%d upstream calls for requests of three tenants; want 3", c)
	}
}

func TestCoalescedWaiterCanLeave(t *testing.T) {
	s, up := newCoalescing(t)
	key := keyOf(s, coalescable("acme"))

	leaderDone := make(chan error, 1)
	leaderReq := coalescable("acme")
	go func() {
		_, err := s.Invoke(context.Background(), leaderReq)
		leaderDone <- err
	}()
	waitFor(t, "the leader", func() bool { return s.waiting(key) == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	waiterDone := make(chan error, 1)
	go func() {
		_, err := s.Invoke(ctx, coalescable("acme"))
		waiterDone <- err
	}()
	waitFor(t, "the waiter", func() bool { return s.waiting(key) == 2 })
	cancel()
	select {
	case err := <-waiterDone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("waiter whose context ended got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter whose context ended kept waiting")
	}
	close(up.release)
	if err := <-leaderDone; err != nil {
		t.Fatalf("the leader failed after a waiter left: %v", err)
	}
	if up.canceled.Load() != 0 {
		t.Fatal("the upstream call was canceled")
	}
}

func TestCoalescedLeaderCanLeave(t *testing.T) {
	s, up := newCoalescing(t)
	key := keyOf(s, coalescable("acme"))

	ctx, cancel := context.WithCancel(context.Background())
	leaderReq := coalescable("acme")
	leaderDone := make(chan error, 1)
	go func() {
		_, err := s.Invoke(ctx, leaderReq)
		leaderDone <- err
	}()
	waitFor(t, "the leader", func() bool { return s.waiting(key) == 1 })
	waiterReq := coalescable("acme")
	waiterDone := make(chan error, 1)
	go func() {
		resp, err := s.Invoke(context.Background(), waiterReq)
		if err == nil && resp.Text() != "shared answer" {
			err = errors.New("wrong answer " + resp.Text())
		}
		waiterDone <- err
	}()
	waitFor(t, "the waiter", func() bool { return s.waiting(key) == 2 })

	cancel() // the client that started the call goes away
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader whose context ended got %v", err)
	}
	close(up.release)
	if err := <-waiterDone; err != nil {
		t.Fatalf("waiter failed when the leader left: %v", err)
	}
	// The call went on for the waiter, which now pays for it: the leader
	// that left is recorded as canceled at no cost, so the upstream's
	// charge must land on the waiter, as a miss.
	if up.canceled.Load() != 0 || waiterReq.Meta.Coalesced || waiterReq.Meta.Cache != llm.CacheMiss || waiterReq.Meta.Provider != "sim" {
		t.Fatalf("canceled %d, waiter meta %+v", up.canceled.Load(), waiterReq.Meta)
	}
}

func TestCoalescedCallCanceledWhenEveryoneLeaves(t *testing.T) {
	s, up := newCoalescing(t)
	key := keyOf(s, coalescable("acme"))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Invoke(ctx, coalescable("acme"))
		}()
	}
	waitFor(t, "three callers", func() bool { return s.waiting(key) == 3 })
	cancel()
	wg.Wait()
	waitFor(t, "the upstream call to be canceled", func() bool { return up.canceled.Load() == 1 })
	if s.flights.inFlight() != 0 {
		t.Fatal("an abandoned call is still in flight")
	}
	// A new request starts a new call rather than joining the canceled one.
	close(up.release)
	if _, err := s.Invoke(context.Background(), coalescable("acme")); err != nil {
		t.Fatalf("request after an abandoned call: %v", err)
	}
	if up.calls.Load() != 2 {
		t.Fatalf("%d upstream calls; want 2", up.calls.Load())
	}
}

func TestCoalescedFailureReachesEveryWaiter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		panicVal any
		kind     llm.ErrorKind
	}{
		{"error", llm.Errorf(llm.KindThrottled, "too many requests"), nil, llm.KindThrottled},
		{"panic", nil, "boom", llm.KindInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 8
			s, up := newCoalescing(t)
			up.err, up.panicVal = tc.err, tc.panicVal
			key := keyOf(s, coalescable("acme"))
			reqs := make([]*llm.Request, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				reqs[i] = coalescable("acme")
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = s.Invoke(context.Background(), reqs[i])
				}()
			}
			waitFor(t, "all callers", func() bool { return s.waiting(key) == n })
			close(up.release)
			wg.Wait()
			coalesced := 0
			for i := range n {
				if llm.KindOf(errs[i]) != tc.kind {
					t.Fatalf("caller %d got %v; want a %s error", i, errs[i], tc.kind)
				}
				if reqs[i].Meta.Cache == llm.CacheHit {
					t.Fatalf("caller %d of a failed call is recorded as a hit", i)
				}
				if reqs[i].Meta.Coalesced {
					coalesced++
				}
			}
			if coalesced != n-1 || up.calls.Load() != 1 {
				t.Fatalf("%d coalesced, %d upstream calls", coalesced, up.calls.Load())
			}
			// Nothing was stored: the next request calls upstream again.
			up.err, up.panicVal = nil, nil
			next := coalescable("acme")
			if _, err := s.Invoke(context.Background(), next); err != nil || next.Meta.Cache != llm.CacheMiss {
				t.Fatalf("after a failed call: %v, cache %s", err, next.Meta.Cache)
			}
		})
	}
}

func TestBypassIsNotCoalesced(t *testing.T) {
	s, up := newCoalescing(t)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := coalescable("acme")
			req.Meta.Cache = llm.CacheBypass
			s.Invoke(context.Background(), req)
		}()
	}
	waitFor(t, "three upstream calls", func() bool { return up.calls.Load() == 3 })
	close(up.release)
	wg.Wait()
}
