package redis_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/cache/cachetest"
	"github.com/penny-gateway/penny/internal/cache/redis"
	"github.com/penny-gateway/penny/internal/cache/redis/redistest"
	goredis "github.com/redis/go-redis/v9"
)

// open returns a cache on the test server, closed when the test ends.
func open(t testing.TB) *redis.Cache {
	t.Helper()
	c, err := redis.New(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("the test Redis at $%s does not answer: %v", redistest.EnvURL, err)
	}
	return c
}

func TestBackend(t *testing.T) {
	open(t) // skip early, once, without a server
	cachetest.Run(t, cachetest.Suite{
		New:     func(t *testing.T) cache.Backend { return open(t) },
		Advance: time.Sleep,
		TTL:     150 * time.Millisecond,
	})
}

// TestSharedBetweenInstances: what one Penny instance stores, another reads.
func TestSharedBetweenInstances(t *testing.T) {
	a, b := open(t), open(t)
	ctx := context.Background()
	k := cachetest.RandomKey()
	if err := a.Set(ctx, k, []byte("answer"), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok, err := b.Get(ctx, k)
	if err != nil || !ok || string(got) != "answer" {
		t.Fatalf("second instance Get = %q, %v, %v", got, ok, err)
	}
}

// TestStoredUnderPrefixWithExpiry checks the layout other tools rely on
// (key prefix, a Redis expiry in seconds or milliseconds) through a client
// of its own.
func TestStoredUnderPrefixWithExpiry(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	k := cachetest.RandomKey()
	if err := c.Set(ctx, k, []byte("v"), 90*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, k+"-ms", []byte("v"), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	opt, err := goredis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(opt)
	defer raw.Close()
	if v, err := raw.Get(ctx, redis.KeyPrefix+k).Result(); err != nil || v != "v" {
		t.Fatalf("GET %s%s = %q, %v", redis.KeyPrefix, k, v, err)
	}
	if ttl := raw.TTL(ctx, redis.KeyPrefix+k).Val(); ttl < 89*time.Second || ttl > 90*time.Second {
		t.Fatalf("TTL = %s; want 90s", ttl)
	}
	if pttl := raw.PTTL(ctx, redis.KeyPrefix+k+"-ms").Val(); pttl < 1400*time.Millisecond || pttl > 1500*time.Millisecond {
		t.Fatalf("PTTL = %s; want 1.5s", pttl)
	}
}

// TestServerDown: a server that is not there fails Get and Set promptly
// with an error; it does not hang or panic.
func TestServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c, err := redis.New("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if _, _, err := c.Get(ctx, "k"); err == nil {
		t.Fatal("Get on a server that is down succeeded")
	}
	if err := c.Set(ctx, "k", []byte("v"), time.Minute); err == nil {
		t.Fatal("Set on a server that is down succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("failing took %s", d)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"http://localhost:6379", "redis://user:s3cret@[::1", "memory"} {
		_, err := redis.New(u)
		if err == nil {
			t.Errorf("New(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) error repeats the password: %v", u, err)
		}
	}
}

func TestSetLogger(t *testing.T) {
	var buf bytes.Buffer
	redis.SetLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { redis.SetLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))) })
	c, err := redis.New("redis://" + closedPort(t) + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Get(context.Background(), "k")
	if !strings.Contains(buf.String(), "level=DEBUG") || !strings.Contains(buf.String(), "redis: ") {
		t.Fatalf("go-redis's log went elsewhere; got %q", buf.String())
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
