package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/cache/cachetest"
)

// entry is the size of a typical stored answer.
var entry = make([]byte, 2048)

func BenchmarkGet(b *testing.B) {
	c := open(b)
	ctx := context.Background()
	k := cachetest.RandomKey()
	if err := c.Set(ctx, k, entry, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := c.Get(ctx, k); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	c := open(b)
	ctx := context.Background()
	k := cachetest.RandomKey()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Set(ctx, k, entry, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	c := open(b)
	ctx := context.Background()
	k := cachetest.RandomKey()
	if err := c.Set(ctx, k, entry, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Get(ctx, k); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
