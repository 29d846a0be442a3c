package redis_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/cache/cachetest"
	"github.com/penny-gateway/penny/internal/cache/redis"
	"github.com/penny-gateway/penny/internal/llm"
)

// countingUpstream answers every request with a numbered answer.
type countingUpstream struct{ calls atomic.Int64 }

func (u *countingUpstream) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	n := u.calls.Add(1)
	req.Meta.Provider = "sim"
	return &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock(fmt.Sprintf("answer %d", n))}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 50, OutputTokens: 20},
	}, nil
}

func (u *countingUpstream) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	resp, err := u.Invoke(ctx, req)
	if err != nil {
		return nil, err
	}
	return &llm.SliceStream{Events: llm.EventsOf(resp)}, nil
}

func newRequest(tenant, text string) *llm.Request {
	zero := 0.0
	return &llm.Request{
		Model:    "nova-micro",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(text)}}},
		Config:   llm.InferenceConfig{Temperature: &zero},
		Meta:     llm.Meta{Tenant: tenant, Cache: llm.CacheMiss},
	}
}

// TestTwoInstancesShareTheCache: two Penny instances with their own stage
// and Redis client; what one answers, the other serves from the cache.
func TestTwoInstancesShareTheCache(t *testing.T) {
	up := &countingUpstream{}
	policy := cache.Policy{Enabled: true, TTL: 400 * time.Millisecond}
	a := llm.Chain(up, cache.Stage(cache.Options{Backend: open(t), Default: policy}))
	b := llm.Chain(up, cache.Stage(cache.Options{Backend: open(t), Default: policy}))
	ctx := context.Background()
	text := "unique question " + cachetest.RandomKey() // fresh keys on a shared server

	r1, err := a.Invoke(ctx, newRequest("acme", text))
	if err != nil {
		t.Fatal(err)
	}
	req := newRequest("acme", text)
	req.Meta.Stream = true
	s, err := b.Stream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := llm.Collect(s)
	if err != nil {
		t.Fatal(err)
	}
	if req.Meta.Cache != llm.CacheHit || up.calls.Load() != 1 || r2.Text() != r1.Text() || r2.Usage != r1.Usage {
		t.Fatalf("instance b: cache %s, %d upstream calls, %q %+v", req.Meta.Cache, up.calls.Load(), r2.Text(), r2.Usage)
	}

	other := newRequest("globex", text)
	if _, err := b.Invoke(ctx, other); err != nil || other.Meta.Cache == llm.CacheHit {
		t.Fatalf("another tenant: %v, cache %s", err, other.Meta.Cache)
	}

	time.Sleep(600 * time.Millisecond) // past the ttl
	late := newRequest("acme", text)
	if _, err := a.Invoke(ctx, late); err != nil || late.Meta.Cache != llm.CacheMiss {
		t.Fatalf("after the ttl: %v, cache %s", err, late.Meta.Cache)
	}
}

// TestRedisDownServesFromUpstream: with no server, requests are answered
// by the upstream, promptly.
func TestRedisDownServesFromUpstream(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	backend, err := redis.New("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	up := &countingUpstream{}
	inv := llm.Chain(up, cache.Stage(cache.Options{Backend: backend, Default: cache.Policy{Enabled: true}}))
	start := time.Now()
	for i := range 5 {
		resp, err := inv.Invoke(context.Background(), newRequest("acme", "hello"))
		if err != nil || resp.Text() != fmt.Sprintf("answer %d", i+1) {
			t.Fatalf("call %d: %v, %v", i, resp, err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("five requests took %s with Redis down", d)
	}
}
