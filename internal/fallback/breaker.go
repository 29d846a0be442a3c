package fallback

import (
	"strings"
	"sync"
	"time"
)

// State is a circuit breaker's state.
type State string

const (
	// Closed lets every call through and counts consecutive retryable failures.
	Closed State = "closed"
	// Open lets no call through until the cooldown has passed.
	Open State = "open"
	// HalfOpen lets exactly one probe through; its outcome closes or reopens
	// the breaker.
	HalfOpen State = "half-open"
)

// Breakers is a set of per-upstream circuit breakers, keyed by the id the
// request is sent with (lower-cased), so a model and its cross-region
// inference profile have separate breakers: they are separate capacity
// pools. It is safe for concurrent use and meant to be shared by every
// request that passes one fallback stage.
type Breakers struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu sync.Mutex
	m  map[string]*breaker
}

type breaker struct {
	state    State
	failures int       // consecutive retryable failures while closed
	openedAt time.Time // when the breaker last opened
	probing  bool      // a half-open probe is in flight
}

// NewBreakers returns breakers that open after threshold consecutive
// retryable failures and let one probe through after cooldown.
func NewBreakers(threshold int, cooldown time.Duration, now func() time.Time) *Breakers {
	if threshold <= 0 {
		threshold = DefaultBreakerThreshold
	}
	if cooldown <= 0 {
		cooldown = DefaultBreakerCooldown
	}
	if now == nil {
		now = time.Now
	}
	return &Breakers{threshold: threshold, cooldown: cooldown, now: now, m: map[string]*breaker{}}
}

func (b *Breakers) get(key string) *breaker {
	key = strings.ToLower(key)
	br, ok := b.m[key]
	if !ok {
		br = &breaker{state: Closed}
		b.m[key] = br
	}
	return br
}

// State reports the breaker state of key, moving an open breaker whose
// cooldown has passed to half-open.
func (b *Breakers) State(key string) State {
	b.mu.Lock()
	defer b.mu.Unlock()
	br := b.get(key)
	b.tick(br)
	return br.state
}

func (b *Breakers) tick(br *breaker) {
	if br.state == Open && !b.now().Before(br.openedAt.Add(b.cooldown)) {
		br.state, br.probing = HalfOpen, false
	}
}

// Allow reports whether a call to key may go ahead. In half-open it
// returns true to one caller only (the probe) until that caller reports
// its outcome with Success, Failure or Release. When it returns false,
// wait is how long until the breaker lets a probe through (0 while
// another probe is in flight).
func (b *Breakers) Allow(key string) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	br := b.get(key)
	b.tick(br)
	switch br.state {
	case Closed:
		return true, 0
	case HalfOpen:
		if br.probing {
			return false, 0
		}
		br.probing = true
		return true, 0
	}
	return false, br.openedAt.Add(b.cooldown).Sub(b.now())
}

// Success records that key answered: the breaker closes.
func (b *Breakers) Success(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	br := b.get(key)
	br.state, br.failures, br.probing = Closed, 0, false
}

// Failure records a retryable failure of key. It reports whether this
// failure opened the breaker (a failed half-open probe reopens it).
func (b *Breakers) Failure(key string) (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	br := b.get(key)
	switch br.state {
	case HalfOpen:
		br.state, br.openedAt, br.probing = Open, b.now(), false
		return true
	case Closed:
		br.failures++
		if br.failures >= b.threshold {
			br.state, br.openedAt, br.failures = Open, b.now(), 0
			return true
		}
	}
	return false
}

// Release ends a call whose outcome says nothing about the upstream (the
// client canceled): a half-open probe slot is freed, nothing else changes.
func (b *Breakers) Release(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.get(key).probing = false
}
