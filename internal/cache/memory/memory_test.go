package memory_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/cache/cachetest"
	"github.com/penny-gateway/penny/internal/cache/memory"
)

// fakeClock is a settable clock, safe for concurrent use.
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

func TestBackend(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	cachetest.Run(t, cachetest.Suite{
		New:     func(*testing.T) cache.Backend { return memory.New(1<<20, memory.WithClock(clock.Now)) },
		Advance: clock.Advance,
		TTL:     time.Minute,
	})
}

func TestTTLBoundary(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	c := memory.New(1<<20, memory.WithClock(clock.Now))
	defer c.Close()
	ctx := context.Background()
	c.Set(ctx, "k", []byte("v"), 5*time.Minute)
	clock.Advance(5*time.Minute - time.Second)
	if _, ok, _ := c.Get(ctx, "k"); !ok {
		t.Fatal("entry expired a second before its ttl")
	}
	clock.Advance(2 * time.Second)
	if _, ok, _ := c.Get(ctx, "k"); ok {
		t.Fatal("entry alive a second after its ttl")
	}
}

func TestBoundedByBytes(t *testing.T) {
	const bound = 64 << 10
	ctx := context.Background()
	c := memory.New(bound)
	defer c.Close()
	val := []byte(strings.Repeat("x", 1000))
	// Ten times the bound in total.
	for i := range 640 {
		c.Set(ctx, fmt.Sprintf("key-%04d", i), val, time.Hour)
	}
	c.CleanUp()
	if w := c.Size(); w > bound {
		t.Fatalf("cache holds %d bytes; bound is %d", w, bound)
	}
	kept := 0
	for i := range 640 {
		if _, ok, _ := c.Get(ctx, fmt.Sprintf("key-%04d", i)); ok {
			kept++
		}
	}
	if kept == 0 || kept > bound/len(val) {
		t.Fatalf("%d of 640 entries of 1000 bytes kept within %d bytes", kept, bound)
	}
	t.Logf("%d entries kept, %d bytes", kept, c.Size())
}

func TestEntryLargerThanBoundIsNotKept(t *testing.T) {
	ctx := context.Background()
	c := memory.New(4 << 10)
	defer c.Close()
	c.Set(ctx, "small", []byte("s"), time.Hour)
	c.Set(ctx, "huge", make([]byte, 8<<10), time.Hour)
	c.CleanUp()
	if _, ok, _ := c.Get(ctx, "huge"); ok {
		t.Fatal("an entry larger than the whole cache was kept")
	}
	if _, ok, _ := c.Get(ctx, "small"); !ok {
		t.Fatal("a huge entry evicted a small one")
	}
}
