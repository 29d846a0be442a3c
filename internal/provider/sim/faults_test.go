package sim

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// recorder replaces the provider's sleep and records every wait asked for.
type recorder struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.sleeps = append(r.sleeps, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recorder) total() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum time.Duration
	for _, d := range r.sleeps {
		sum += d
	}
	return sum
}

func TestFaults(t *testing.T) {
	all := func(r FaultRates) Options { return Options{TimeScale: 0.5, Faults: Faults{FaultRates: r}} }
	for _, tc := range []struct {
		name      string
		opts      Options
		model     string
		kind      llm.ErrorKind
		upstreams []string
		msg       string
		slept     time.Duration
	}{
		{"throttle", all(FaultRates{Throttle: 1}), "nova-pro", llm.KindThrottled, []string{"ThrottlingException"}, "Too many tokens, please wait before trying again.", 0},
		{"server error", all(FaultRates{ServerError: 1}), "nova-pro", llm.KindUnavailable, []string{"InternalServerException", "ServiceUnavailableException"}, "", 0},
		{"timeout", all(FaultRates{Timeout: 1}), "nova-pro", llm.KindTimeout, []string{"ModelTimeoutException"}, "timed out", 15 * time.Second},
		{"timeout after a set delay", Options{TimeScale: 1, Faults: Faults{FaultRates: FaultRates{Timeout: 1}, TimeoutAfter: 2 * time.Second}}, "nova-pro", llm.KindTimeout, []string{"ModelTimeoutException"}, "", 2 * time.Second},
		{"per-model rates", Options{Faults: Faults{Models: map[string]FaultRates{"pro": {Throttle: 1}}}}, "amazon.nova-pro-v1:0", llm.KindThrottled, []string{"ThrottlingException"}, "", 0},
		{"per-model rates replace the defaults", Options{Faults: Faults{FaultRates: FaultRates{Throttle: 1}, Models: map[string]FaultRates{"nova-lite": {}}}}, "nova-lite", "", nil, "", 0},
		{"mid-stream faults spare Invoke", all(FaultRates{MidStream: 1}), "nova-pro", "", nil, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSim(t, tc.opts)
			rec := &recorder{}
			p.sleep = rec.sleep
			_, err := p.Invoke(context.Background(), ask(tc.model, "hi"))
			if tc.kind == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != tc.kind || !contains(tc.upstreams, e.Upstream) || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("error %#v, want kind %s upstream in %v", err, tc.kind, tc.upstreams)
			}
			if got := rec.total(); got != tc.slept {
				t.Errorf("slept %v before failing, want %v", got, tc.slept)
			}
			if _, err := p.Stream(context.Background(), ask(tc.model, "hi")); llm.KindOf(err) != tc.kind {
				t.Errorf("Stream error %v, want kind %s", err, tc.kind)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestFaultsDeterministicAndProportional(t *testing.T) {
	opts := Options{Seed: 42, Faults: Faults{FaultRates: FaultRates{Throttle: 0.2, ServerError: 0.1, Timeout: 0.05}}}
	run := func() []llm.ErrorKind {
		p := newSim(t, opts)
		var kinds []llm.ErrorKind
		for range 400 {
			_, err := p.Invoke(context.Background(), ask("nova-micro", "hi"))
			kinds = append(kinds, llm.KindOf(err))
		}
		return kinds
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different faults")
	}
	count := map[llm.ErrorKind]int{}
	for _, k := range a {
		count[k]++
	}
	for kind, want := range map[llm.ErrorKind]int{llm.KindThrottled: 80, llm.KindUnavailable: 40, llm.KindTimeout: 20} {
		if got := count[kind]; got < want/2 || got > want*2 {
			t.Errorf("%s: %d of 400 calls, want about %d", kind, got, want)
		}
	}
}

func TestMidStreamFault(t *testing.T) {
	p := newSim(t, Options{Faults: Faults{FaultRates: FaultRates{MidStream: 1}}})
	s, err := p.Stream(context.Background(), ask("nova-pro", "Explain prompt caching in detail."))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	for {
		ev, err := s.Recv()
		if err != nil {
			wantErr(t, err, llm.KindModelError, "modelStreamErrorException")
			if _, again := s.Recv(); again != err {
				t.Errorf("Recv after the fault returned %v", again)
			}
			break
		}
		if ev.Type == llm.EventMetadata {
			t.Fatal("the stream completed despite the fault")
		}
		n++
	}
	if n < 2 {
		t.Errorf("the fault struck after %d events, want some events first", n)
	}
}

func TestFaultsValidateAndYAML(t *testing.T) {
	const doc = `
throttle: 0.1
server_error: 0.05
timeout: 0.01
mid_stream: 0.02
timeout_after: 45s
models:
  nova-pro: {throttle: 0.5}
  claude-3-7-sonnet: {server_error: 0.2, mid_stream: 0.1}
`
	var f Faults
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	want := Faults{
		FaultRates:   FaultRates{Throttle: 0.1, ServerError: 0.05, Timeout: 0.01, MidStream: 0.02},
		TimeoutAfter: 45 * time.Second,
		Models:       map[string]FaultRates{"nova-pro": {Throttle: 0.5}, "claude-3-7-sonnet": {ServerError: 0.2, MidStream: 0.1}},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("decoded %+v, want %+v", f, want)
	}
	cat := catalog.MustBuiltin()
	if err := f.Validate(cat); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for _, bad := range []Faults{
		{FaultRates: FaultRates{Throttle: 1.5}},
		{FaultRates: FaultRates{Throttle: 0.6, ServerError: 0.6}},
		{FaultRates: FaultRates{MidStream: -0.1}},
		{Models: map[string]FaultRates{"no-such-model": {}}},
		{Models: map[string]FaultRates{"nova-pro": {Timeout: 2}}},
	} {
		if err := bad.Validate(cat); err == nil {
			t.Errorf("Validate(%+v) accepted it", bad)
		}
	}
}
