// Package redis is a cache.Backend on Redis, so that several Penny
// instances share one response cache. Entries are plain strings under
// KeyPrefix with a Redis expiry; Redis's own maxmemory policy bounds the
// total size.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// KeyPrefix starts every key Penny writes. Its version changes when the
// meaning of keys or values does, so instances of different versions
// sharing a Redis never read each other's entries.
const KeyPrefix = "penny:cache:v1:"

// Cache is a Redis-backed cache. It is safe for concurrent use; it keeps a
// pool of connections.
type Cache struct {
	c *goredis.Client
}

// New returns a cache on the Redis server at rawURL:
// redis://[user:password@]host:port/db, rediss://… for TLS, or
// unix:///path.sock. It does not connect: a server that is down makes Get
// and Set fail until it is back; use Ping to check it at start-up.
func New(rawURL string) (*Cache, error) {
	opt, err := goredis.ParseURL(rawURL)
	if err != nil {
		// url.Error repeats the URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid Redis URL: %w", err)
	}
	// Let each call's context deadline bound it, so that a Redis that
	// hangs costs a request no more than the deadline it was given.
	opt.ContextTimeoutEnabled = true
	// A cache that is down should fail fast, so the request goes upstream
	// at once: dial once, and retry a command once (on a fresh connection,
	// for pooled ones the server closed), not the default five and three.
	opt.DialerRetries = 1
	opt.MaxRetries = 1
	return &Cache{c: goredis.NewClient(opt)}, nil
}

// Ping checks that the server answers.
func (c *Cache) Ping(ctx context.Context) error {
	if err := c.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Get returns the value stored under key, and false if there is none or it
// expired.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := c.c.Get(ctx, KeyPrefix+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis get: %w", err)
	}
	return b, true, nil
}

// Set stores val under key for ttl (SET with EX, or PX for ttls that are
// not whole seconds; at least 1ms). A ttl of zero or less keeps the entry
// until Redis evicts it.
func (c *Cache) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	switch {
	case ttl <= 0:
		ttl = 0
	case ttl < time.Millisecond:
		ttl = time.Millisecond
	}
	if err := c.c.Set(ctx, KeyPrefix+key, val, ttl).Err(); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// Close closes the connections.
func (c *Cache) Close() error { return c.c.Close() }

// SetLogger sends go-redis's own log lines to l at debug level, instead of
// the standard logger: the connection pool logs every failed dial, once
// per request while Redis is down, and the cache stage already reports
// those failures (throttled). go-redis's logger is process-wide, so the
// program calls this once at start-up.
func SetLogger(l *slog.Logger) {
	goredis.SetLogger(slogPrinter{l})
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.l.DebugContext(ctx, "redis: "+strings.TrimSpace(fmt.Sprintf(format, v...)))
}
