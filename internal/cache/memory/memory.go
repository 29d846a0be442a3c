// Package memory is an in-process cache.Backend bounded by bytes, built on
// github.com/maypok86/otter (W-TinyLFU eviction, per-entry expiry).
package memory

import (
	"context"
	"math"
	"time"

	"github.com/maypok86/otter/v2"
)

// DefaultMaxBytes is the bound New uses when given none.
const DefaultMaxBytes = 64 << 20

// entryOverhead is what an entry costs beyond its key and value: otter's
// node and our value header, roughly.
const entryOverhead = 96

// Cache is an in-process cache. Its size, the sum of its entries' key and
// value lengths plus a small overhead each, stays within the bound it was
// made with: when over it, the cache evicts the entries least likely to be
// used again (an entry larger than the bound is not kept at all). Expired
// entries are never returned.
type Cache struct {
	c *otter.Cache[string, value]
}

type value struct {
	b   []byte
	ttl time.Duration
}

// Option configures New.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock makes the cache tell time with now instead of time.Now, for
// tests of expiry.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// New returns a cache that holds at most maxBytes (DefaultMaxBytes if
// maxBytes is zero or less).
func New(maxBytes int64, opts ...Option) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	o := &otter.Options[string, value]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(k string, v value) uint32 {
			return uint32(min(entryOverhead+len(k)+len(v.b), math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, value]) time.Duration {
			if e.Value.ttl <= 0 {
				return math.MaxInt64 // until evicted
			}
			return e.Value.ttl
		}),
	}
	var cfg options
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.now != nil {
		o.Clock = clock{cfg.now}
	}
	return &Cache{c: otter.Must(o)}
}

// Get returns the value stored under key, if present and not expired. It
// never fails.
func (c *Cache) Get(_ context.Context, key string) ([]byte, bool, error) {
	v, ok := c.c.GetIfPresent(key)
	return v.b, ok, nil
}

// Set stores val under key for ttl (ttl <= 0: until evicted), replacing
// what was there. It keeps val; it never fails.
func (c *Cache) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	c.c.Set(key, value{b: val, ttl: ttl})
	return nil
}

// Close stops the cache's background goroutines and drops its entries.
func (c *Cache) Close() error {
	c.c.InvalidateAll()
	c.c.StopAllGoroutines()
	return nil
}

// clock adapts a func() time.Time to otter.Clock. It has no ticks, so
// expired entries are dropped when read or evicted, not proactively.
type clock struct{ now func() time.Time }

func (c clock) NowNano() int64                      { return c.now().UnixNano() }
func (c clock) Tick(time.Duration) <-chan time.Time { return nil }

// Size returns the cache's weighted size in bytes, as counted against its
// bound. Evictions are done in the background; call CleanUp first for an
// exact figure.
func (c *Cache) Size() int64 { return int64(c.c.WeightedSize()) }

// CleanUp performs pending maintenance: evictions and removal of expired
// entries.
func (c *Cache) CleanUp() { c.c.CleanUp() }
