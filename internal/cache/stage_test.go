package cache_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/cache/memory"
	"github.com/penny-gateway/penny/internal/llm"
)

// upstream is a fake provider: it answers with answer (or fails with err),
// counts its calls, and sets what the dispatcher would on req.
type upstream struct {
	calls  atomic.Int64
	mu     sync.Mutex
	answer func(req *llm.Request) *llm.Response
	err    error
	// events, if set, is what Stream sends (instead of EventsOf(answer)),
	// followed by streamErr.
	events    []llm.Event
	streamErr error
}

func (u *upstream) respond(req *llm.Request) (*llm.Response, error) {
	n := u.calls.Add(1)
	req.Meta.Provider = "sim"
	if req.Model == "micro" {
		req.Model = "nova-micro"
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return nil, u.err
	}
	if u.answer != nil {
		return u.answer(req), nil
	}
	return textAnswer("answer " + itoa(int(n))), nil
}

func (u *upstream) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	return u.respond(req)
}

func (u *upstream) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	resp, err := u.respond(req)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.events != nil {
		return &llm.SliceStream{Events: u.events, Err: u.streamErr}, nil
	}
	return &llm.SliceStream{Events: llm.EventsOf(resp), Err: u.streamErr}, nil
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func textAnswer(s string) *llm.Response {
	return &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock(s)}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 120, OutputTokens: 30, CacheReadTokens: 7},
		Latency:    420 * time.Millisecond,
	}
}

func ptr[T any](v T) *T { return &v }

// request returns a cacheable request (temperature 0) of tenant.
func request(tenant, text string) *llm.Request {
	return &llm.Request{
		Model:    "nova-micro",
		System:   []llm.SystemBlock{{Text: "You are terse."}},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(text)}}},
		Config:   llm.InferenceConfig{MaxTokens: ptr(100), Temperature: ptr(0.0)},
		Meta:     llm.Meta{Tenant: tenant, Cache: llm.CacheMiss, RequestID: "r-" + text},
	}
}

func canonical(name string) (string, error) {
	switch name {
	case "micro", "nova-micro", "us.amazon.nova-micro-v1:0":
		return "nova-micro", nil
	case "lite", "nova-lite":
		return "nova-lite", nil
	}
	return "", llm.Errorf(llm.KindNotFound, "unknown model %q", name)
}

type fixture struct {
	up      *upstream
	backend *memory.Cache
	inv     llm.Invoker
	clock   *fakeClock
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newFixture chains the cache stage (policy p by default) in front of a
// fake upstream, on an in-process backend with a fake clock.
func newFixture(t *testing.T, p cache.Policy, edit ...func(*cache.Options)) *fixture {
	t.Helper()
	f := &fixture{up: &upstream{}, clock: &fakeClock{now: time.Unix(1_800_000_000, 0)}}
	f.backend = memory.New(8<<20, memory.WithClock(f.clock.Now))
	t.Cleanup(func() { f.backend.Close() })
	o := cache.Options{Backend: f.backend, Default: p, ModelID: canonical, Now: f.clock.Now}
	for _, e := range edit {
		e(&o)
	}
	f.inv = llm.Chain(f.up, cache.Stage(o))
	return f
}

var on = cache.Policy{Enabled: true}

func (f *fixture) invoke(t *testing.T, req *llm.Request) *llm.Response {
	t.Helper()
	resp, err := f.inv.Invoke(context.Background(), req)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return resp
}

func TestHitMissBypass(t *testing.T) {
	f := newFixture(t, on)

	first := request("acme", "hello")
	r1 := f.invoke(t, first)
	if first.Meta.Cache != llm.CacheMiss || f.up.calls.Load() != 1 || r1.Text() != "answer 1" {
		t.Fatalf("first call: cache %s, %d upstream calls, %q", first.Meta.Cache, f.up.calls.Load(), r1.Text())
	}

	second := request("acme", "hello")
	second.Model = "micro" // an alias of the same model
	second.Meta.Route = "support"
	r2 := f.invoke(t, second)
	if second.Meta.Cache != llm.CacheHit || second.Meta.Coalesced || f.up.calls.Load() != 1 {
		t.Fatalf("second call: cache %s, coalesced %v, %d upstream calls", second.Meta.Cache, second.Meta.Coalesced, f.up.calls.Load())
	}
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("hit returned\n%+v\nwant the original\n%+v", r2, r1)
	}
	if second.Model != "nova-micro" || second.Meta.BaselineModel != "nova-micro" {
		t.Fatalf("hit left model %q, baseline %q; want the canonical id", second.Model, second.Meta.BaselineModel)
	}

	bypass := request("acme", "hello")
	bypass.Meta.Cache = llm.CacheBypass
	r3 := f.invoke(t, bypass)
	if bypass.Meta.Cache != llm.CacheBypass || f.up.calls.Load() != 2 || r3.Text() != "answer 2" {
		t.Fatalf("bypass: cache %s, %d upstream calls, %q", bypass.Meta.Cache, f.up.calls.Load(), r3.Text())
	}

	// The bypass's fresh answer replaced the entry.
	after := request("acme", "hello")
	if r := f.invoke(t, after); after.Meta.Cache != llm.CacheHit || r.Text() != "answer 2" {
		t.Fatalf("after bypass: cache %s, %q; want a hit on the fresh answer", after.Meta.Cache, r.Text())
	}

	other := request("acme", "goodbye")
	f.invoke(t, other)
	if other.Meta.Cache != llm.CacheMiss || f.up.calls.Load() != 3 {
		t.Fatalf("different prompt: cache %s, %d upstream calls", other.Meta.Cache, f.up.calls.Load())
	}
}

func TestHitDoesNotShareResponses(t *testing.T) {
	f := newFixture(t, on)
	f.invoke(t, request("acme", "hello"))
	r1 := f.invoke(t, request("acme", "hello"))
	r1.Message.Content[0].Text = "changed by a caller"
	r1.Cost = 99
	if r2 := f.invoke(t, request("acme", "hello")); r2.Text() != "answer 1" || r2.Cost != 0 {
		t.Fatalf("a caller's change to a hit leaked into the next hit: %q, cost %d", r2.Text(), r2.Cost)
	}
}

func TestTTL(t *testing.T) {
	tests := []struct {
		name    string
		ttl     time.Duration
		advance time.Duration
		hit     bool
	}{
		{"default ttl, fresh", 0, 4*time.Minute + 59*time.Second, true},
		{"default ttl, expired", 0, 5*time.Minute + time.Second, false},
		{"route ttl, fresh", 30 * time.Second, 29 * time.Second, true},
		{"route ttl, expired", 30 * time.Second, 31 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, cache.Policy{Enabled: true, TTL: tt.ttl})
			f.invoke(t, request("acme", "hello"))
			f.clock.Advance(tt.advance)
			req := request("acme", "hello")
			f.invoke(t, req)
			if got := req.Meta.Cache == llm.CacheHit; got != tt.hit {
				t.Fatalf("after %s: cache %s", tt.advance, req.Meta.Cache)
			}
		})
	}
}

func TestTenants(t *testing.T) {
	tests := []struct {
		name   string
		shared bool
		hit    bool
	}{
		{"isolated by default", false, false},
		{"shared across tenants", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, cache.Policy{Enabled: true, SharedAcrossTenants: tt.shared})
			a := f.invoke(t, request("tenant-a", "what is our refund policy?"))
			req := request("tenant-b", "what is our refund policy?")
			b := f.invoke(t, req)
			if got := req.Meta.Cache == llm.CacheHit; got != tt.hit {
				t.Fatalf("tenant b: cache %s, %d upstream calls", req.Meta.Cache, f.up.calls.Load())
			}
			if !tt.hit && a.Text() == b.Text() {
				t.Fatalf("tenant b got tenant a's answer %q", b.Text())
			}
			// Tenant a still hits its own entry.
			again := request("tenant-a", "what is our refund policy?")
			if r := f.invoke(t, again); again.Meta.Cache != llm.CacheHit || r.Text() != a.Text() {
				t.Fatalf("tenant a again: cache %s, %q", again.Meta.Cache, r.Text())
			}
		})
	}
}

func TestTemperaturePolicy(t *testing.T) {
	tests := []struct {
		name      string
		temp      *float64
		allowWarm bool
		cached    bool
	}{
		{"zero", ptr(0.0), false, true},
		{"negative zero", ptr(-0.0), false, true},
		{"unset means the model default", nil, false, false},
		{"non-zero", ptr(0.7), false, false},
		{"non-zero allowed", ptr(0.7), true, true},
		{"unset allowed", nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, cache.Policy{Enabled: true, AllowNonZeroTemperature: tt.allowWarm})
			for range 2 {
				req := request("acme", "hello")
				req.Config.Temperature = tt.temp
				f.invoke(t, req)
			}
			if got := f.up.calls.Load() == 1; got != tt.cached {
				t.Fatalf("%d upstream calls for two identical requests", f.up.calls.Load())
			}
		})
	}
}

func TestPolicySelection(t *testing.T) {
	byRoute := func(o *cache.Options) {
		o.PolicyFor = func(req *llm.Request) (cache.Policy, bool) {
			switch req.Meta.Route {
			case "off":
				return cache.Policy{Enabled: false}, true
			case "on":
				return cache.Policy{Enabled: true}, true
			}
			return cache.Policy{}, false
		}
	}
	tests := []struct {
		name    string
		def     cache.Policy
		route   string
		cached  bool
		nilBack bool
	}{
		{"default on", on, "", true, false},
		{"default off", cache.Policy{}, "", false, false},
		{"route disables", on, "off", false, false},
		{"route enables", cache.Policy{}, "on", true, false},
		{"no backend", on, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.def, byRoute, func(o *cache.Options) {
				if tt.nilBack {
					o.Backend = nil
				}
			})
			var last *llm.Request
			for range 2 {
				last = request("acme", "hello")
				last.Meta.Route = tt.route
				f.invoke(t, last)
			}
			if got := f.up.calls.Load() == 1; got != tt.cached {
				t.Fatalf("%d upstream calls for two identical requests", f.up.calls.Load())
			}
			if !tt.cached && last.Meta.Cache != llm.CacheMiss {
				t.Fatalf("uncached request marked %s", last.Meta.Cache)
			}
		})
	}
}

func TestNotStored(t *testing.T) {
	answer := func(stop llm.StopReason, text string) func(*llm.Request) *llm.Response {
		return func(*llm.Request) *llm.Response {
			r := textAnswer(text)
			r.StopReason = stop
			return r
		}
	}
	tests := []struct {
		name   string
		policy cache.Policy
		answer func(*llm.Request) *llm.Response
		err    error
		stored bool
	}{
		{"end_turn", on, answer(llm.StopEndTurn, "ok"), nil, true},
		{"stop_sequence", on, answer(llm.StopSequence, "ok"), nil, true},
		{"max_tokens", on, answer(llm.StopMaxTokens, "ok"), nil, true},
		{"tool_use", on, answer(llm.StopToolUse, "ok"), nil, true},
		{"guardrail", on, answer(llm.StopGuardrail, "ok"), nil, false},
		{"content filtered", on, answer(llm.StopContentFilter, "ok"), nil, false},
		{"context window", on, answer(llm.StopContextWindow, "ok"), nil, false},
		{"malformed tool use", on, answer(llm.StopMalformedTool, "ok"), nil, false},
		{"error", on, nil, llm.Errorf(llm.KindThrottled, "slow down"), false},
		{"over max entry bytes", cache.Policy{Enabled: true, MaxEntryBytes: 1000}, answer(llm.StopEndTurn, strings.Repeat("long ", 300)), nil, false},
		{"within max entry bytes", cache.Policy{Enabled: true, MaxEntryBytes: 4000}, answer(llm.StopEndTurn, strings.Repeat("long ", 300)), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.policy)
			f.up.answer, f.up.err = tt.answer, tt.err
			for range 2 {
				f.inv.Invoke(context.Background(), request("acme", "hello"))
			}
			if got := f.up.calls.Load() == 1; got != tt.stored {
				t.Fatalf("%d upstream calls for two identical requests", f.up.calls.Load())
			}
		})
	}
}

func TestErrorsPassThrough(t *testing.T) {
	f := newFixture(t, on)
	want := llm.Errorf(llm.KindThrottled, "slow down")
	f.up.err = want
	req := request("acme", "hello")
	if _, err := f.inv.Invoke(context.Background(), req); !errors.Is(err, want) {
		t.Fatalf("Invoke error = %v; want the upstream's", err)
	}
	if _, err := f.inv.Stream(context.Background(), request("acme", "hello")); !errors.Is(err, want) {
		t.Fatalf("Stream error = %v; want the upstream's", err)
	}
}

// failingBackend fails every call, like a Redis that is down.
type failingBackend struct {
	gets, sets atomic.Int64
	block      bool
}

func (b *failingBackend) Get(ctx context.Context, _ string) ([]byte, bool, error) {
	b.gets.Add(1)
	if b.block {
		<-ctx.Done()
		return nil, false, ctx.Err()
	}
	return nil, false, errors.New("connection refused")
}

func (b *failingBackend) Set(ctx context.Context, _ string, _ []byte, _ time.Duration) error {
	b.sets.Add(1)
	if b.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return errors.New("connection refused")
}

func (b *failingBackend) Close() error { return nil }

func TestBackendFailureServesFromUpstream(t *testing.T) {
	for _, block := range []bool{false, true} {
		name := map[bool]string{false: "fails", true: "hangs"}[block]
		t.Run(name, func(t *testing.T) {
			fb := &failingBackend{block: block}
			var logs bytes.Buffer
			var mu sync.Mutex
			logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
			f := newFixture(t, on, func(o *cache.Options) {
				o.Backend = fb
				o.Logger = logger
				o.BackendTimeout = 20 * time.Millisecond
			})
			start := time.Now()
			for i := range 3 {
				req := request("acme", "hello")
				resp, err := f.inv.Invoke(context.Background(), req)
				if err != nil || resp.Text() != "answer "+itoa(i+1) {
					t.Fatalf("call %d: %v, %v", i, resp, err)
				}
				s, err := f.inv.Stream(context.Background(), request("acme", "hello"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := llm.Collect(s); err != nil {
					t.Fatal(err)
				}
				f.up.calls.Add(-1) // count Invoke calls only
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("six requests took %s with a backend timeout of 20ms", d)
			}
			if fb.gets.Load() != 6 || fb.sets.Load() != 6 {
				t.Fatalf("backend saw %d gets, %d sets; want 6 each", fb.gets.Load(), fb.sets.Load())
			}
			mu.Lock()
			defer mu.Unlock()
			// Logged, but not once per failure.
			if n := strings.Count(logs.String(), "response cache backend failed"); n != 1 {
				t.Fatalf("logged %d times, want once (throttled):\n%s", n, logs.String())
			}
		})
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// corruptBackend returns garbage for every key.
type corruptBackend struct{ failingBackend }

func (*corruptBackend) Get(context.Context, string) ([]byte, bool, error) {
	return []byte(`{"v":999}`), true, nil
}

func TestCorruptEntryIsAMiss(t *testing.T) {
	f := newFixture(t, on, func(o *cache.Options) { o.Backend = &corruptBackend{} })
	req := request("acme", "hello")
	if r := f.invoke(t, req); req.Meta.Cache != llm.CacheMiss || r.Text() != "answer 1" {
		t.Fatalf("corrupt entry: cache %s, %q", req.Meta.Cache, r.Text())
	}
}

func TestUnresolvableModelUsesItsName(t *testing.T) {
	f := newFixture(t, on)
	router := "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"
	for range 2 {
		req := request("acme", "hello")
		req.Model = router
		f.invoke(t, req)
		if req.Meta.Cache == llm.CacheHit && req.Model != router {
			t.Fatalf("hit rewrote the model to %q", req.Model)
		}
	}
	if f.up.calls.Load() != 1 {
		t.Fatalf("%d upstream calls; a model name ModelID cannot resolve should still be cached by name", f.up.calls.Load())
	}
	other := request("acme", "hello")
	other.Model = "nova-lite"
	f.invoke(t, other)
	if other.Meta.Cache == llm.CacheHit {
		t.Fatal("another model hit the router's entry")
	}
}
