package govern

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// RateOptions configure RateLimit.
type RateOptions struct {
	// Counter estimates a request's input tokens for the TPM limit. Nil
	// means the process's shared Counter (tokens.New).
	Counter *tokens.Counter
	// DefaultMaxTokens is what a request without max_tokens is charged for
	// its output up front (default 1024); the charge is corrected from the
	// usage the answer reports.
	DefaultMaxTokens int
	// MaxKeys bounds how many keys' buckets are kept (default 10,000). When
	// it is reached, idle keys (full buckets, nothing in flight) are
	// forgotten, which loses nothing; if none is idle, the least recently
	// used is.
	MaxKeys int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewLimiter returns a Limiter whose Stage enforces each key's Limits.RPM
// and Limits.TPM with token buckets that hold a minute's worth and refill
// continuously. A request is charged one request and its estimated tokens
// (input counted by the Counter plus max_tokens) before it is passed on;
// after the answer the token charge is corrected to the usage reported
// (refunding or debiting; a response-cache hit is refunded in full). A
// stream is corrected when its metadata event passes; one that ends without
// usage keeps the estimate. A request larger than a whole minute's tokens
// passes when the bucket is full and leaves it in debt.
//
// Over a limit the request fails with an *llm.Error of kind KindThrottled
// whose RetryAfter is when the bucket will hold enough. A Limiter is safe for
// concurrent use; put it before routing, so that fallbacks are not charged
// twice.
func NewLimiter(o RateOptions) *Limiter {
	if o.Counter == nil {
		c, err := tokens.New()
		if err != nil {
			// The vocabulary is embedded in the binary: this is a broken build.
			panic("govern: " + err.Error())
		}
		o.Counter = c
	}
	if o.DefaultMaxTokens <= 0 {
		o.DefaultMaxTokens = 1024
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Limiter{o: o, keys: make(map[string]*rateEntry), penalties: make(map[string]time.Time)}
}

// RateLimit returns NewLimiter(o).Stage(): a limiter nobody can penalize.
func RateLimit(o RateOptions) llm.Stage { return NewLimiter(o).Stage() }

// Stage returns the stage that enforces the limits. Every stage of one
// Limiter shares its buckets and penalties.
func (l *Limiter) Stage() llm.Stage {
	return func(next llm.Invoker) llm.Invoker { return &rateInvoker{l: l, next: next} }
}

// Penalize refuses every request of keyID for d from now (kind
// KindThrottled, with RetryAfter until the end), whatever the key's limits;
// the anomaly detector calls it on a runaway loop. A later call replaces the
// penalty's end only if it is later; d <= 0 lifts the penalty.
func (l *Limiter) Penalize(keyID string, d time.Duration) {
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, until := range l.penalties { // few: keys caught looping
		if !until.After(now) {
			delete(l.penalties, id)
		}
	}
	if d <= 0 {
		delete(l.penalties, keyID)
		return
	}
	if until := now.Add(d); until.After(l.penalties[keyID]) {
		l.penalties[keyID] = until
	}
}

// checkPenalty returns the error for a request of keyID while it is
// penalized, nil otherwise.
func (l *Limiter) checkPenalty(keyID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.penalties) == 0 {
		return nil
	}
	return l.penalized(keyID, l.o.Now())
}

// penalized returns the error for a request of keyID while it is penalized.
// Called with l.mu held.
func (l *Limiter) penalized(keyID string, now time.Time) error {
	until, ok := l.penalties[keyID]
	if !ok {
		return nil
	}
	left := until.Sub(now)
	if left <= 0 {
		delete(l.penalties, keyID)
		return nil
	}
	left = (left + time.Second - 1).Truncate(time.Second) // whole seconds, rounded up
	return &llm.Error{Kind: llm.KindThrottled, RetryAfter: left,
		Message: "key " + keyID + " is throttled for " + left.String() + " after a runaway loop was detected"}
}

// Limiter enforces per-key rate limits and penalties; see NewLimiter.
type Limiter struct {
	o RateOptions
	// mu guards keys and every entry in it, and penalties; the work under
	// it is a few arithmetic operations, so one lock is cheaper than one
	// per key.
	mu        sync.Mutex
	keys      map[string]*rateEntry
	penalties map[string]time.Time // key id → end of its penalty
}

type rateEntry struct {
	req, tok bucket
	// rpm and tpm are the key's limits at its last request.
	rpm, tpm int
	inflight int
	used     time.Time
}

// bucket is a token bucket of capacity limit that refills at limit per
// minute. Tokens may go negative (debt) after a correction.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time, limit int) {
	if b.last.IsZero() {
		b.tokens, b.last = float64(limit), now
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(limit), b.tokens+d.Minutes()*float64(limit))
		b.last = now
	}
	b.tokens = min(b.tokens, float64(limit)) // the limit may have been lowered
}

// wait is how long until the bucket holds need tokens.
func (b *bucket) wait(need float64, limit int) time.Duration {
	missing := need - b.tokens
	if missing <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(missing / float64(limit) * float64(time.Minute)))
}

func (b *bucket) full(now time.Time, limit int) bool {
	if limit <= 0 || b.last.IsZero() {
		return true
	}
	return b.tokens+now.Sub(b.last).Minutes()*float64(limit) >= float64(limit)
}

// take charges one request and n tokens to k's buckets, both or neither.
func (l *Limiter) take(k *keys.Key, n int) (*rateEntry, error) {
	now := l.o.Now()
	rpm, tpm := k.Limits.RPM, k.Limits.TPM
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[k.ID]
	if e == nil {
		if len(l.keys) >= l.o.MaxKeys {
			l.evict(now)
		}
		e = &rateEntry{}
		l.keys[k.ID] = e
	}
	e.used, e.rpm, e.tpm = now, rpm, tpm
	if rpm > 0 {
		e.req.refill(now, rpm)
		if e.req.tokens < 1 {
			return nil, &llm.Error{Kind: llm.KindThrottled, RetryAfter: e.req.wait(1, rpm),
				Message: "rate limit of " + strconv.Itoa(rpm) + " requests per minute for key " + k.ID + " exceeded"}
		}
	}
	if tpm > 0 {
		e.tok.refill(now, tpm)
		need := float64(min(n, tpm))
		if e.tok.tokens < need {
			return nil, &llm.Error{Kind: llm.KindThrottled, RetryAfter: e.tok.wait(need, tpm),
				Message: "rate limit of " + strconv.Itoa(tpm) + " tokens per minute for key " + k.ID + " exceeded"}
		}
		e.tok.tokens -= float64(n)
	}
	if rpm > 0 {
		e.req.tokens--
	}
	e.inflight++
	return e, nil
}

// done ends a request charged n tokens that used actual tokens (actual < 0:
// unknown, keep the charge).
func (l *Limiter) done(e *rateEntry, k *keys.Key, n, actual int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.inflight--
	if actual < 0 || k.Limits.TPM <= 0 {
		return
	}
	e.tok.refill(l.o.Now(), k.Limits.TPM)
	e.tok.tokens = min(float64(k.Limits.TPM), e.tok.tokens+float64(n-actual))
}

// evict forgets idle keys, or else the least recently used one. Called
// with l.mu held, when the map is full.
func (l *Limiter) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	removed := false
	for id, e := range l.keys {
		if e.inflight > 0 {
			continue
		}
		if e.req.full(now, e.rpm) && e.tok.full(now, e.tpm) {
			delete(l.keys, id)
			removed = true
			continue
		}
		if oldest == "" || e.used.Before(oldestAt) {
			oldest, oldestAt = id, e.used
		}
	}
	if !removed && oldest != "" {
		delete(l.keys, oldest)
	}
}

type rateInvoker struct {
	l    *Limiter
	next llm.Invoker
}

// charge is what a request is charged up front for the TPM limit.
func (l *Limiter) charge(k *keys.Key, req *llm.Request) int {
	if k.Limits.TPM <= 0 {
		return 0
	}
	out := l.o.DefaultMaxTokens
	if req.Config.MaxTokens != nil && *req.Config.MaxTokens > 0 {
		out = *req.Config.MaxTokens
	}
	return l.o.Counter.CountRequest(req) + out
}

func (ri *rateInvoker) begin(ctx context.Context, req *llm.Request) (*keys.Key, *rateEntry, int, error) {
	k, ok := keys.FromContext(ctx)
	if !ok || k == nil {
		return nil, nil, 0, nil
	}
	if err := ri.l.checkPenalty(k.ID); err != nil {
		return nil, nil, 0, err
	}
	if k.Limits.RPM <= 0 && k.Limits.TPM <= 0 {
		return nil, nil, 0, nil
	}
	n := ri.l.charge(k, req)
	e, err := ri.l.take(k, n)
	return k, e, n, err
}

func (ri *rateInvoker) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	k, e, n, err := ri.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return ri.next.Invoke(ctx, req)
	}
	resp, err := ri.next.Invoke(ctx, req)
	actual := -1
	switch {
	case err == nil:
		actual = usedTokens(req, resp.Usage)
	case llm.KindOf(err) != llm.KindTimeout && llm.KindOf(err) != llm.KindCanceled:
		// The upstream refused or failed before generating: nothing used.
		actual = 0
	}
	ri.l.done(e, k, n, actual)
	return resp, err
}

func usedTokens(req *llm.Request, u llm.Usage) int {
	if req.Meta.Cache == llm.CacheHit {
		return 0
	}
	return u.Total()
}

func (ri *rateInvoker) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	k, e, n, err := ri.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return ri.next.Stream(ctx, req)
	}
	s, err := ri.next.Stream(ctx, req)
	if err != nil {
		actual := 0
		if kind := llm.KindOf(err); kind == llm.KindTimeout || kind == llm.KindCanceled {
			actual = -1
		}
		ri.l.done(e, k, n, actual)
		return nil, err
	}
	return &settleStream{Stream: s, settle: func(ev *llm.Event, started bool) {
		actual := -1 // cut short: keep the charge
		switch {
		case ev != nil:
			actual = usedTokens(req, *ev.Usage)
		case !started:
			actual = 0
		}
		ri.l.done(e, k, n, actual)
	}}, nil
}
