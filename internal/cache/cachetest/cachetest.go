// Package cachetest checks that a cache.Backend keeps the Backend contract.
// Each backend's tests run it against a real instance.
package cachetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/cache"
)

// Suite describes the backend under test.
type Suite struct {
	// New returns an empty-enough backend: keys are random, so a shared
	// server is fine. The suite closes it.
	New func(t *testing.T) cache.Backend
	// Advance moves the backend's clock by d: a fake clock's, or real time
	// (sleep) for a server.
	Advance func(d time.Duration)
	// TTL is the expiry the suite uses; short for a real server.
	TTL time.Duration
}

// RandomKey returns a key no other test uses.
func RandomKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Run runs the contract tests.
func Run(t *testing.T, s Suite) {
	ctx := context.Background()
	open := func(t *testing.T) cache.Backend {
		b := s.New(t)
		t.Cleanup(func() { b.Close() })
		return b
	}

	t.Run("get of a missing key", func(t *testing.T) {
		b := open(t)
		v, ok, err := b.Get(ctx, RandomKey())
		if err != nil || ok || v != nil {
			t.Fatalf("Get = %q, %v, %v; want nil, false, nil", v, ok, err)
		}
	})

	t.Run("set then get", func(t *testing.T) {
		b := open(t)
		k := RandomKey()
		want := []byte(`{"v":1,"text":"héllo"}` + "\x00\xff")
		if err := b.Set(ctx, k, want, time.Minute); err != nil {
			t.Fatal(err)
		}
		got, ok, err := b.Get(ctx, k)
		if err != nil || !ok || !bytes.Equal(got, want) {
			t.Fatalf("Get = %q, %v, %v; want %q", got, ok, err, want)
		}
	})

	t.Run("set replaces", func(t *testing.T) {
		b := open(t)
		k := RandomKey()
		for _, v := range []string{"one", "two"} {
			if err := b.Set(ctx, k, []byte(v), time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		got, ok, _ := b.Get(ctx, k)
		if !ok || string(got) != "two" {
			t.Fatalf("Get = %q, %v; want two", got, ok)
		}
	})

	t.Run("entries expire after their own ttl", func(t *testing.T) {
		b := open(t)
		short, long := RandomKey(), RandomKey()
		if err := b.Set(ctx, short, []byte("short"), s.TTL); err != nil {
			t.Fatal(err)
		}
		if err := b.Set(ctx, long, []byte("long"), 100*s.TTL); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := b.Get(ctx, short); !ok {
			t.Fatal("entry gone before its ttl")
		}
		s.Advance(2 * s.TTL)
		if v, ok, _ := b.Get(ctx, short); ok {
			t.Fatalf("entry %q still there after its ttl", v)
		}
		if _, ok, _ := b.Get(ctx, long); !ok {
			t.Fatal("entry with a longer ttl expired with the short one")
		}
	})

	t.Run("concurrent use", func(t *testing.T) {
		b := open(t)
		prefix := RandomKey()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					k := fmt.Sprintf("%s-%d-%d", prefix, g, i%5)
					v := []byte(k)
					if err := b.Set(ctx, k, v, time.Minute); err != nil {
						t.Error(err)
						return
					}
					if got, ok, err := b.Get(ctx, k); err != nil || (ok && !bytes.Equal(got, v)) {
						t.Errorf("Get(%s) = %q, %v, %v", k, got, ok, err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})

	t.Run("canceled context", func(t *testing.T) {
		b := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		// An in-process backend may ignore the context; a remote one must
		// fail rather than hang. Either way it must return.
		done := make(chan struct{})
		go func() {
			defer close(done)
			b.Get(cctx, RandomKey())
			b.Set(cctx, RandomKey(), []byte("x"), time.Minute)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Get/Set with a canceled context did not return")
		}
	})
}
