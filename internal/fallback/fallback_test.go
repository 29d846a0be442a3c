package fallback

import (
	"context"
	"errors"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// clock is a fake clock whose Sleep advances it and records the waits.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	c.Advance(d)
	return ctx.Err()
}

// outcome is one scripted answer of a model: err fails the call (for a
// stream: after the events in before); otherwise it answers.
type outcome struct {
	err     error
	before  int // stream events delivered before err
	latency time.Duration
}

// fake scripts outcomes per model id; a model's last outcome repeats, and a
// model with no script answers.
type fake struct {
	clock  *clock
	mu     sync.Mutex
	script map[string][]outcome
	calls  []string
	tags   []string // Meta.Tags["seen"] at each call, to detect leaks
}

func (f *fake) next(r *llm.Request) outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Model)
	f.tags = append(f.tags, r.Meta.Tags["seen"])
	// Mutate the attempt's copy as a careless lower stage might.
	r.Meta.Tags["seen"] = r.Model
	r.Messages = append(r.Messages, llm.Message{Role: llm.RoleAssistant})
	s := f.script[r.Model]
	if len(s) == 0 {
		return outcome{}
	}
	o := s[0]
	if len(s) > 1 {
		f.script[r.Model] = s[1:]
	}
	if f.clock != nil {
		f.clock.Advance(o.latency)
	}
	return o
}

func answer(model string) *llm.Response {
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("from " + model)}},
		StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 1, OutputTokens: 2}}
}

func (f *fake) Invoke(_ context.Context, r *llm.Request) (*llm.Response, error) {
	if o := f.next(r); o.err != nil {
		return nil, o.err
	}
	return answer(r.Model), nil
}

func (f *fake) Stream(_ context.Context, r *llm.Request) (llm.Stream, error) {
	o := f.next(r)
	evs := llm.EventsOf(answer(r.Model))
	if o.err == nil {
		return &llm.SliceStream{Events: evs}, nil
	}
	if o.before < 0 { // Stream itself fails
		return nil, o.err
	}
	return &llm.SliceStream{Events: evs[:o.before], Err: o.err}, nil
}

func throttled(retryAfter time.Duration) error {
	e := llm.Errorf(llm.KindThrottled, "too many requests")
	e.RetryAfter = retryAfter
	return e
}

var (
	errThrottled   = throttled(0)
	errUnavailable = llm.Errorf(llm.KindUnavailable, "service unavailable")
	errValidation  = llm.Errorf(llm.KindValidation, "bad input")
)

type env struct {
	clock *clock
	fake  *fake
	inv   llm.Invoker
	cat   *catalog.Catalog
}

func newEnv(t *testing.T, list *List, rnd float64, o Options) *env {
	t.Helper()
	c := newClock()
	f := &fake{clock: c, script: map[string][]outcome{}}
	o.Catalog = catalog.MustBuiltin()
	o.Now, o.Sleep = c.Now, c.Sleep
	o.Rand = func() float64 { return rnd }
	if list != nil {
		if err := list.Validate(o.Catalog); err != nil {
			t.Fatal(err)
		}
		o.ListFor = func(*llm.Request) (List, bool) { return *list, true }
	}
	return &env{clock: c, fake: f, inv: Stage(o)(f), cat: o.Catalog}
}

func newReq(model string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}},
		Meta: llm.Meta{Route: "support", Tags: map[string]string{"seen": ""}}}
}

func TestInvoke(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name      string
		routed    string
		list      List
		rand      float64
		script    map[string][]outcome
		wantCalls []string
		wantModel string
		wantKind  llm.ErrorKind // "" for success
		attempts  []llm.Attempt
		sleeps    []time.Duration
	}{
		{
			name: "throttled then the next model", routed: "nova-pro", list: List{Models: []string{"nova-lite"}},
			rand:      0.5,
			script:    map[string][]outcome{"nova-pro": {{err: errThrottled, latency: 40 * ms}}},
			wantCalls: []string{"nova-pro", "nova-lite"}, wantModel: "nova-lite",
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindThrottled, Latency: 40 * ms}},
			sleeps:   []time.Duration{50 * ms}, // half of min(2s, 100ms)
		},
		{
			name: "same model through a cross-region profile", routed: "nova-pro",
			list:      List{Models: []string{"amazon.nova-pro-v1:0", "us.amazon.nova-pro-v1:0"}}, // the base id is a duplicate
			script:    map[string][]outcome{"nova-pro": {{err: errUnavailable}}},
			wantCalls: []string{"nova-pro", "us.amazon.nova-pro-v1:0"}, wantModel: "us.amazon.nova-pro-v1:0",
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindUnavailable}},
			sleeps:   []time.Duration{0},
		},
		{
			name: "more expensive model skipped", routed: "nova-lite", list: List{Models: []string{"nova-pro", "nova-micro"}},
			script:    map[string][]outcome{"nova-lite": {{err: errThrottled}}},
			wantCalls: []string{"nova-lite", "nova-micro"}, wantModel: "nova-micro",
			attempts: []llm.Attempt{{Model: "nova-lite", Kind: llm.KindThrottled}},
			sleeps:   []time.Duration{0},
		},
		{
			name: "more expensive model allowed", routed: "nova-lite",
			list:      List{Models: []string{"nova-pro", "nova-micro"}, AllowMoreExpensive: true},
			script:    map[string][]outcome{"nova-lite": {{err: errThrottled}}},
			wantCalls: []string{"nova-lite", "nova-pro"}, wantModel: "nova-pro",
			attempts: []llm.Attempt{{Model: "nova-lite", Kind: llm.KindThrottled}},
			sleeps:   []time.Duration{0},
		},
		{
			name: "only more expensive fallbacks: one attempt", routed: "nova-micro", list: List{Models: []string{"nova-pro"}},
			script:    map[string][]outcome{"nova-micro": {{err: errThrottled}}},
			wantCalls: []string{"nova-micro"}, wantModel: "nova-micro", wantKind: llm.KindThrottled,
			attempts: []llm.Attempt{{Model: "nova-micro", Kind: llm.KindThrottled}},
		},
		{
			name: "non-retryable returns at once", routed: "nova-pro", list: List{Models: []string{"nova-lite"}},
			script:    map[string][]outcome{"nova-pro": {{err: errValidation}}},
			wantCalls: []string{"nova-pro"}, wantModel: "nova-pro", wantKind: llm.KindValidation,
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindValidation}},
		},
		{
			name: "deadline stops retries", routed: "nova-pro",
			list: List{Models: []string{"nova-lite", "nova-micro"}, Deadline: 150 * ms, Backoff: Backoff{Base: 100 * ms, Max: 100 * ms}},
			rand: 1,
			script: map[string][]outcome{"nova-pro": {{err: errThrottled}}, "nova-lite": {{err: errThrottled}},
				"nova-micro": {{err: errThrottled}}},
			wantCalls: []string{"nova-pro", "nova-lite"}, wantModel: "nova-lite", wantKind: llm.KindThrottled,
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindThrottled}, {Model: "nova-lite", Kind: llm.KindThrottled}},
			sleeps:   []time.Duration{100 * ms},
		},
		{
			name: "retry-after honoured on the same model", routed: "nova-pro", list: List{MaxAttempts: 2},
			script:    map[string][]outcome{"nova-pro": {{err: throttled(time.Second)}, {}}},
			wantCalls: []string{"nova-pro", "nova-pro"}, wantModel: "nova-pro",
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindThrottled}},
			sleeps:   []time.Duration{time.Second},
		},
		{
			name: "retry-after does not delay another model", routed: "nova-pro", list: List{Models: []string{"nova-lite"}},
			rand:      0.5,
			script:    map[string][]outcome{"nova-pro": {{err: throttled(time.Second)}}},
			wantCalls: []string{"nova-pro", "nova-lite"}, wantModel: "nova-lite",
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindThrottled}},
			sleeps:   []time.Duration{50 * ms},
		},
		{
			name: "retry-after past the deadline stops", routed: "nova-pro", list: List{MaxAttempts: 3, Deadline: 500 * ms},
			script:    map[string][]outcome{"nova-pro": {{err: throttled(time.Second)}, {}}},
			wantCalls: []string{"nova-pro"}, wantModel: "nova-pro", wantKind: llm.KindThrottled,
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindThrottled}},
		},
		{
			name: "every attempt fails", routed: "nova-pro", list: List{Models: []string{"nova-lite"}},
			script:    map[string][]outcome{"nova-pro": {{err: errThrottled}}, "nova-lite": {{err: errUnavailable}}},
			wantCalls: []string{"nova-pro", "nova-lite"}, wantModel: "nova-lite", wantKind: llm.KindUnavailable,
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindThrottled}, {Model: "nova-lite", Kind: llm.KindUnavailable}},
			sleeps:   []time.Duration{0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, &tc.list, tc.rand, Options{})
			e.fake.script = tc.script
			req := newReq(tc.routed)
			resp, err := e.inv.Invoke(context.Background(), req)
			if got := llm.KindOf(err); got != tc.wantKind {
				t.Fatalf("error kind %q (%v), want %q", got, err, tc.wantKind)
			}
			if err == nil && resp.Text() != "from "+tc.wantModel {
				t.Errorf("answer %q, want from %s", resp.Text(), tc.wantModel)
			}
			if !reflect.DeepEqual(e.fake.calls, tc.wantCalls) {
				t.Errorf("calls %v, want %v", e.fake.calls, tc.wantCalls)
			}
			if req.Model != tc.wantModel {
				t.Errorf("req.Model %q, want %q", req.Model, tc.wantModel)
			}
			if !reflect.DeepEqual(req.Meta.Attempts, tc.attempts) {
				t.Errorf("attempts %+v, want %+v", req.Meta.Attempts, tc.attempts)
			}
			if !reflect.DeepEqual(e.clock.sleeps, tc.sleeps) {
				t.Errorf("sleeps %v, want %v", e.clock.sleeps, tc.sleeps)
			}
			// Each attempt saw a fresh copy: nothing the previous one changed.
			for i, seen := range e.fake.tags {
				if seen != "" {
					t.Errorf("attempt %d saw tag %q left by an earlier attempt", i, seen)
				}
			}
			if len(req.Messages) != 1 {
				t.Errorf("caller's messages changed: %d", len(req.Messages))
			}
		})
	}
}

func TestNoListPassesThrough(t *testing.T) {
	e := newEnv(t, nil, 0, Options{})
	e.fake.script["nova-pro"] = []outcome{{err: errThrottled}}
	req := newReq("nova-pro")
	_, err := e.inv.Invoke(context.Background(), req)
	if !errors.Is(err, errThrottled) || len(e.fake.calls) != 1 || req.Meta.Attempts != nil {
		t.Errorf("err %v, calls %v, attempts %v", err, e.fake.calls, req.Meta.Attempts)
	}
}

func TestCanceledDuringBackoff(t *testing.T) {
	e := newEnv(t, &List{Models: []string{"nova-lite"}}, 1, Options{})
	e.fake.script["nova-pro"] = []outcome{{err: errThrottled}}
	ctx, cancel := context.WithCancel(context.Background())
	inv := Stage(Options{Catalog: e.cat, Now: e.clock.Now,
		ListFor: func(*llm.Request) (List, bool) { return List{Models: []string{"nova-lite"}}, true },
		Sleep: func(ctx context.Context, d time.Duration) error {
			cancel() // the client leaves while we back off
			return ctx.Err()
		}})(e.fake)
	req := newReq("nova-pro")
	_, err := inv.Invoke(ctx, req)
	if llm.KindOf(err) != llm.KindCanceled || len(e.fake.calls) != 1 || len(req.Meta.Attempts) != 1 {
		t.Errorf("err %v (%s), calls %v, attempts %v", err, llm.KindOf(err), e.fake.calls, req.Meta.Attempts)
	}
}

func TestBreakerThroughStage(t *testing.T) {
	e := newEnv(t, &List{Models: []string{"nova-lite"}}, 0, Options{BreakerThreshold: 2, BreakerCooldown: 10 * time.Second})
	e.fake.script["nova-pro"] = []outcome{{err: errThrottled}}
	invoke := func() *llm.Request {
		t.Helper()
		e.fake.calls = nil
		req := newReq("nova-pro")
		if _, err := e.inv.Invoke(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		return req
	}
	for range 2 { // two consecutive throttles open nova-pro's breaker
		if req := invoke(); req.Model != "nova-lite" {
			t.Fatalf("answered by %s", req.Model)
		}
	}
	req := invoke()
	if want := []string{"nova-lite"}; !reflect.DeepEqual(e.fake.calls, want) {
		t.Errorf("open breaker: calls %v, want %v", e.fake.calls, want)
	}
	if want := []llm.Attempt{{Model: "nova-pro", Kind: llm.KindUnavailable}}; !reflect.DeepEqual(req.Meta.Attempts, want) {
		t.Errorf("open breaker: attempts %+v, want %+v", req.Meta.Attempts, want)
	}
	if len(e.clock.sleeps) != 2 {
		t.Errorf("a skipped model must not cost a backoff: sleeps %v", e.clock.sleeps)
	}

	e.clock.Advance(10 * time.Second)
	e.fake.script["nova-pro"] = []outcome{{}} // recovered
	req = invoke()
	if req.Model != "nova-pro" || len(req.Meta.Attempts) != 0 {
		t.Errorf("half-open probe: model %s, attempts %+v", req.Model, req.Meta.Attempts)
	}
	if invoke(); !reflect.DeepEqual(e.fake.calls, []string{"nova-pro"}) {
		t.Errorf("closed again: calls %v", e.fake.calls)
	}
}

func TestAllBreakersOpen(t *testing.T) {
	e := newEnv(t, &List{Models: []string{"nova-lite"}}, 0, Options{BreakerThreshold: 1, BreakerCooldown: 10 * time.Second})
	e.fake.script["nova-pro"] = []outcome{{err: errThrottled}}
	e.fake.script["nova-lite"] = []outcome{{err: errThrottled}}
	if _, err := e.inv.Invoke(context.Background(), newReq("nova-pro")); llm.KindOf(err) != llm.KindThrottled {
		t.Fatalf("first: %v", err)
	}
	e.fake.calls = nil
	e.clock.Advance(4 * time.Second)
	_, err := e.inv.Invoke(context.Background(), newReq("nova-pro"))
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindUnavailable || le.RetryAfter != 6*time.Second || len(e.fake.calls) != 0 {
		t.Errorf("err %#v, calls %v", err, e.fake.calls)
	}
}

func TestStream(t *testing.T) {
	cases := []struct {
		name      string
		script    map[string][]outcome
		wantCalls []string
		wantModel string
		wantText  string
		wantErr   error // from reading the stream
		attempts  []llm.Attempt
	}{
		{
			name:      "Stream fails",
			script:    map[string][]outcome{"nova-pro": {{err: errThrottled, before: -1}}},
			wantCalls: []string{"nova-pro", "nova-lite"}, wantModel: "nova-lite", wantText: "from nova-lite",
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindThrottled}},
		},
		{
			name:      "first Recv fails",
			script:    map[string][]outcome{"nova-pro": {{err: errUnavailable, before: 0}}},
			wantCalls: []string{"nova-pro", "nova-lite"}, wantModel: "nova-lite", wantText: "from nova-lite",
			attempts: []llm.Attempt{{Model: "nova-pro", Kind: llm.KindUnavailable}},
		},
		{
			name:      "no retry after a delivered event",
			script:    map[string][]outcome{"nova-pro": {{err: errUnavailable, before: 1}}},
			wantCalls: []string{"nova-pro"}, wantModel: "nova-pro", wantErr: errUnavailable,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, &List{Models: []string{"nova-lite"}}, 0, Options{})
			e.fake.script = tc.script
			req := newReq("nova-pro")
			st, err := e.inv.Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := llm.Collect(st)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("stream error %v, want %v", err, tc.wantErr)
			}
			if err == nil && resp.Text() != tc.wantText {
				t.Errorf("text %q, want %q", resp.Text(), tc.wantText)
			}
			if !reflect.DeepEqual(e.fake.calls, tc.wantCalls) {
				t.Errorf("calls %v, want %v", e.fake.calls, tc.wantCalls)
			}
			if req.Model != tc.wantModel || !reflect.DeepEqual(req.Meta.Attempts, tc.attempts) {
				t.Errorf("model %s attempts %+v, want %s %+v", req.Model, req.Meta.Attempts, tc.wantModel, tc.attempts)
			}
		})
	}
}

func TestStreamEmpty(t *testing.T) {
	e := newEnv(t, &List{Models: []string{"nova-lite"}}, 0, Options{})
	inv := Stage(Options{Catalog: e.cat, ListFor: func(*llm.Request) (List, bool) { return List{}, true }})(emptyStreamer{e.fake})
	st, err := inv.Stream(context.Background(), newReq("nova-pro"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("Recv: %v, want io.EOF", err)
		}
	}
}

type emptyStreamer struct{ *fake }

func (emptyStreamer) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return &llm.SliceStream{}, nil
}

func TestValidate(t *testing.T) {
	cat := catalog.MustBuiltin()
	cases := []struct {
		list List
		ok   bool
	}{
		{List{Models: []string{"nova-lite", "us.amazon.nova-pro-v1:0", "amazon.nova-micro-v1:0"}}, true},
		{List{Models: []string{"no-such-model"}}, false},
		{List{Models: []string{"arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/x"}}, false},
		{List{MaxAttempts: -1}, false},
		{List{Deadline: -time.Second}, false},
	}
	for _, tc := range cases {
		if err := tc.list.Validate(cat); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.list, err, tc.ok)
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t, &List{Models: []string{"nova-lite"}}, 0.5, Options{BreakerThreshold: 3})
	e.fake.script["nova-pro"] = []outcome{{err: errThrottled}}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			req := newReq("nova-pro")
			if _, err := e.inv.Invoke(context.Background(), req); err != nil || req.Model != "nova-lite" {
				t.Errorf("err %v model %s", err, req.Model)
			}
		})
	}
	wg.Wait()
	if got := e.fake.calls; len(got) < 32+3 || len(got) > 64 {
		t.Errorf("%d calls", len(got))
	}
}
