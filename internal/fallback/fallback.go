// Package fallback retries a routed request on the next model of its
// route's fallback list when the upstream throttles, is unavailable, is
// loading the model or times out.
//
// The stage runs after routing and the response cache, just above the
// provider dispatcher: req.Model names the model routing chose. A request
// whose route has no fallback list passes through untouched, in a single
// attempt.
//
// What it promises:
//   - Only retryable failures (llm.Retryable: throttled, model_not_ready,
//     timeout, unavailable) move on to the next model; any other error is
//     returned at once, as it is. The candidates are the routed model
//     followed by the list, without duplicates; when MaxAttempts exceeds
//     their number the list is walked again from the routed model.
//   - Between attempts it sleeps a full-jitter exponential backoff
//     (uniform in [0, min(Max, Base·2ⁿ⁻¹)]). An error's RetryAfter is a
//     statement about that upstream only: it delays the next call to the
//     same upstream id, not a switch to another one; a candidate whose
//     RetryAfter ends past the deadline is skipped.
//   - The deadline bounds when a new attempt may start (including its
//     backoff), not a call in flight: an answer that takes longer than the
//     deadline to generate is not cut off here (per-call timeouts are the
//     provider's job, and cutting a stream mid-answer would be worse).
//   - It never falls back to a model whose input or output price is higher
//     than the routed model's (catalog.Compare under the request's mode and
//     tier: batch requests compare batch prices) unless the list says
//     allow_more_expensive; a model whose price is unknown (not in the
//     catalog, a prompt router) counts as more expensive. Skipped models are
//     logged, not recorded.
//   - Every failed call is appended to req.Meta.Attempts (the id called,
//     the error kind, the latency). A model skipped because its circuit
//     breaker is open is recorded too, as kind "unavailable" with zero
//     latency, so the ledger shows why it was not used; it does not count
//     against MaxAttempts and no backoff is slept for it. When every
//     candidate's breaker is open the error is kind unavailable with a
//     RetryAfter of the earliest half-open time.
//   - Each attempt gets its own copy of the request (the struct, its
//     message, system and tool slices, tags and attempts), so nothing a
//     lower stage changes leaks into the next attempt. At the end the
//     caller's req.Model and req.Meta are those of the last attempt: on
//     success req.Model is the model that answered.
//   - Streams are retried only before the first event: when Stream fails or
//     the first Recv fails. Once an event has been delivered the answer has
//     started reaching the client and a failure is returned as it is, with
//     no retry (a retry would duplicate or contradict what was sent).
//
// Breakers are per upstream id (lower-cased), shared by every request that
// passes the stage: a model and its cross-region inference profile are
// separate capacity pools and have separate breakers.
package fallback

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// Defaults for List and Options fields left zero.
const (
	DefaultBackoffBase      = 100 * time.Millisecond
	DefaultBackoffMax       = 2 * time.Second
	DefaultDeadline         = 30 * time.Second
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
)

// List is a route's fallback list, configured as `fallbacks:` on a route.
type List struct {
	// Models are tried in order after the routed model: catalog ids or
	// aliases, Bedrock model ids, or cross-region inference profile ids
	// such as "us.amazon.nova-pro-v1:0" (the same model through another
	// region's capacity).
	Models []string `yaml:"models"`
	// AllowMoreExpensive lets the stage fall back to a model whose input or
	// output price is higher than the routed model's. Off by default: an
	// outage must not silently raise the bill.
	AllowMoreExpensive bool `yaml:"allow_more_expensive"`
	// MaxAttempts bounds the number of upstream calls, the first included;
	// default one call to each model: the routed one and the list's, less
	// duplicates and models skipped as more expensive. A larger value walks
	// the list again.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff is the jittered exponential wait between attempts.
	Backoff Backoff `yaml:"backoff"`
	// Deadline bounds the time from the first attempt to the start of the
	// last one; default 30s.
	Deadline time.Duration `yaml:"deadline"`
}

// Backoff is an exponential backoff with full jitter.
type Backoff struct {
	// Base is the cap of the first wait; default 100ms.
	Base time.Duration `yaml:"base"`
	// Max caps every wait; default 2s.
	Max time.Duration `yaml:"max"`
}

// Validate checks l against the catalog, for config loading: every model
// must resolve to a priced catalog model, and no duration may be negative.
func (l List) Validate(c *catalog.Catalog) error {
	for _, id := range l.Models {
		t, err := c.Resolve(id)
		if err != nil {
			return fmt.Errorf("fallbacks: %w", err)
		}
		if t.Model == nil {
			return llm.Errorf(llm.KindValidation, "fallbacks: %q is a prompt router, which has no price: name a model", id)
		}
	}
	switch {
	case l.MaxAttempts < 0:
		return llm.Errorf(llm.KindValidation, "fallbacks: max_attempts must not be negative")
	case l.Backoff.Base < 0 || l.Backoff.Max < 0 || l.Deadline < 0:
		return llm.Errorf(llm.KindValidation, "fallbacks: backoff and deadline must not be negative")
	}
	return nil
}

func (l List) withDefaults() List {
	if l.Backoff.Base <= 0 {
		l.Backoff.Base = DefaultBackoffBase
	}
	if l.Backoff.Max <= 0 {
		l.Backoff.Max = DefaultBackoffMax
	}
	if l.Deadline <= 0 {
		l.Deadline = DefaultDeadline
	}
	return l
}

// Options configure Stage.
type Options struct {
	// Catalog resolves model ids and prices them. Required.
	Catalog *catalog.Catalog
	// ListFor returns the fallback list of the request's route; false
	// means none and the request passes through untouched. Nil: never.
	ListFor func(*llm.Request) (List, bool)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() then;
	// default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for jitter; default math/rand/v2.
	Rand func() float64
	// Logger receives fallbacks, skipped models and breaker changes;
	// default: discard.
	Logger *slog.Logger
	// BreakerThreshold is the number of consecutive retryable failures
	// that open a model's breaker; default 5.
	BreakerThreshold int
	// BreakerCooldown is how long a breaker stays open before it lets one
	// probe through; default 30s.
	BreakerCooldown time.Duration
	// Breakers, if set, is used instead of a new set built from the three
	// fields above, e.g. to share breakers between gateway instances in a
	// process or to report their state.
	Breakers *Breakers
}

// Stage returns the fallback stage. See the package documentation.
func Stage(o Options) llm.Stage {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Breakers == nil {
		o.Breakers = NewBreakers(o.BreakerThreshold, o.BreakerCooldown, o.Now)
	}
	return func(next llm.Invoker) llm.Invoker { return &stage{o: o, next: next} }
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type stage struct {
	o    Options
	next llm.Invoker
}

// Invoke implements llm.Invoker.
func (s *stage) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	p, ok := s.plan(req)
	if !ok {
		return s.next.Invoke(ctx, req)
	}
	var resp *llm.Response
	err := s.run(ctx, req, p, func(ctx context.Context, r *llm.Request) error {
		var err error
		resp, err = s.next.Invoke(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Stream implements llm.Invoker. Only failures before the first event are
// retried; see the package documentation.
func (s *stage) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	p, ok := s.plan(req)
	if !ok {
		return s.next.Stream(ctx, req)
	}
	var out llm.Stream
	err := s.run(ctx, req, p, func(ctx context.Context, r *llm.Request) error {
		st, err := s.next.Stream(ctx, r)
		if err != nil {
			return err
		}
		ev, err := st.Recv()
		switch {
		case err == io.EOF:
			out = &primed{Stream: st, eof: true}
		case err != nil:
			st.Close()
			return err
		default:
			out = &primed{Stream: st, first: &ev}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// primed replays the first event, read to decide whether to retry, then
// reads the upstream stream. Once it has been returned there is no retry.
type primed struct {
	llm.Stream
	first *llm.Event
	eof   bool
}

func (p *primed) Recv() (llm.Event, error) {
	if p.first != nil {
		ev := *p.first
		p.first = nil
		return ev, nil
	}
	if p.eof {
		return llm.Event{}, io.EOF
	}
	return p.Stream.Recv()
}

// Unwrap returns the upstream stream, for optional interfaces.
func (p *primed) Unwrap() llm.Stream { return p.Stream }

// candidate is a model id to call and its breaker key.
type candidate struct {
	id, key string
}

type plan struct {
	list    List
	cands   []candidate
	skipped []string // more expensive or unpriced models left out
}

// plan returns the candidates for req, or false when its route has no
// fallback list.
func (s *stage) plan(req *llm.Request) (plan, bool) {
	if s.o.ListFor == nil {
		return plan{}, false
	}
	l, ok := s.o.ListFor(req)
	if !ok {
		return plan{}, false
	}
	p := plan{list: l.withDefaults()}
	orig, _ := s.resolve(req.Model)
	terms := catalog.Terms{Mode: req.Meta.Mode, Tier: req.ServiceTier}
	seen := map[string]bool{}
	add := func(id string, m *catalog.Model, key string) {
		if !seen[key] {
			seen[key] = true
			p.cands = append(p.cands, candidate{id: id, key: key})
		}
	}
	add(req.Model, orig, s.key(req.Model))
	for _, id := range l.Models {
		m, key := s.resolve(id)
		if seen[key] {
			continue
		}
		if !l.AllowMoreExpensive && moreExpensive(orig, m, terms) {
			p.skipped = append(p.skipped, id)
			seen[key] = true
			continue
		}
		add(id, m, key)
	}
	if p.list.MaxAttempts <= 0 {
		p.list.MaxAttempts = len(p.cands)
	}
	return p, true
}

// resolve returns the catalog model of id (nil if unknown or a prompt
// router) and its breaker key: the upstream id it is sent as.
func (s *stage) resolve(id string) (*catalog.Model, string) {
	t, err := s.o.Catalog.Resolve(id)
	if err != nil || t.UpstreamID == "" {
		return nil, strings.ToLower(strings.TrimSpace(id))
	}
	return t.Model, strings.ToLower(t.UpstreamID)
}

func (s *stage) key(id string) string { _, k := s.resolve(id); return k }

// moreExpensive reports whether m may cost more per token than orig under
// t: unless catalog.Compare finds it no dearer on input and output. An
// unknown price on either side counts as more expensive.
func moreExpensive(orig, m *catalog.Model, t catalog.Terms) bool {
	return !catalog.Compare(m, orig, t).NotDearer()
}

// backoff returns the full-jitter wait before the retry that follows n calls.
func (s *stage) backoff(b Backoff, n int) time.Duration {
	ceil := b.Max
	if shift := n - 1; shift < 30 {
		if d := b.Base << shift; d > 0 && d < ceil {
			ceil = d
		}
	}
	return time.Duration(s.o.Rand() * float64(ceil))
}
