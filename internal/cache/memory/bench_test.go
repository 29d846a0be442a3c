package memory_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/cache/memory"
)

// entry is the size of a typical stored answer.
var entry = make([]byte, 2048)

const key = "3f1c9a0d6b2e4f8a7c5d1e0b9a8f7e6d5c4b3a2918f7e6d5c4b3a29180f1e2d3"

func BenchmarkGetHit(b *testing.B) {
	c := memory.New(64 << 20)
	defer c.Close()
	ctx := context.Background()
	c.Set(ctx, key, entry, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := c.Get(ctx, key); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	c := memory.New(64 << 20)
	defer c.Close()
	ctx := context.Background()
	c.Set(ctx, key, entry, time.Hour)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Get(ctx, key)
		}
	})
}

func BenchmarkSet(b *testing.B) {
	c := memory.New(64 << 20)
	defer c.Close()
	ctx := context.Background()
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = key[:56] + strconv.Itoa(10_000_000+i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Set(ctx, keys[i%len(keys)], entry, time.Hour)
		i++
	}
}
