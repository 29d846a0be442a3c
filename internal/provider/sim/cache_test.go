package sim

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// fakeClock is a settable clock for the prompt cache's TTLs.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestPromptCache(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)}
	p := newSim(t, Options{Now: clock.Now})
	c := counter(t)
	manual := strings.Repeat("Refunds are accepted within thirty days of purchase when the item is unused. ", 80)
	cached := func(model, question, ttl string) *llm.Request {
		r := ask(model, question)
		r.System = []llm.SystemBlock{{Text: "You are a support agent. Policy manual:\n" + manual}, {CachePoint: &llm.CachePoint{TTL: ttl}}}
		return r
	}
	prefix, _ := c.CountCheckpoints(&llm.Request{System: cached("x", "", "").System})
	if prefix < 1100 {
		t.Fatalf("prefix of %d tokens is too short for the test", prefix)
	}
	type want struct{ read, write int }
	for _, step := range []struct {
		name    string
		advance time.Duration
		req     *llm.Request
		want    want
	}{
		{"first sight writes", 0, cached("claude-3-7-sonnet", "Can I return shoes?", ""), want{0, prefix}},
		{"same prefix reads", time.Minute, cached("claude-3-7-sonnet", "And a jacket?", ""), want{prefix, 0}},
		{"a read refreshes the TTL", 4 * time.Minute, cached("claude-3-7-sonnet", "A hat?", "5m"), want{prefix, 0}},
		{"another model has its own cache", 0, cached("claude-sonnet-4", "A hat?", ""), want{0, prefix}},
		{"expired after five minutes", 5*time.Minute + time.Second, cached("claude-3-7-sonnet", "Gloves?", ""), want{0, prefix}},
		{"a one-hour entry", 0, cached("nova-pro", "Socks?", "1h"), want{0, prefix}},
		{"one-hour entry alive after 30 minutes", 30 * time.Minute, cached("nova-pro", "Socks?", "1h"), want{prefix, 0}},
		{"below the model's minimum", 0, cached("claude-3-5-haiku", "Belts?", ""), want{0, 0}},
		{"model without prompt caching", 0, cached("claude-3-haiku", "Belts?", ""), want{0, 0}},
	} {
		t.Run(step.name, func(t *testing.T) {
			clock.Advance(step.advance)
			resp := invoke(t, p, step.req)
			u := resp.Usage
			if u.CacheReadTokens != step.want.read || u.CacheWriteTokens != step.want.write {
				t.Errorf("cache read %d write %d, want %d and %d", u.CacheReadTokens, u.CacheWriteTokens, step.want.read, step.want.write)
			}
			if u.TotalInput() != c.CountRequest(step.req) {
				t.Errorf("total input %d, want %d", u.TotalInput(), c.CountRequest(step.req))
			}
		})
	}
}

func TestPromptCacheCheckpoints(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	p := newSim(t, Options{Now: clock.Now})
	c := counter(t)
	doc := strings.Repeat("The gateway records every request with its cost and its baseline cost. ", 90)
	req := func(question string) *llm.Request {
		r := ask("claude-sonnet-4", doc)
		r.System = []llm.SystemBlock{{Text: doc}, {CachePoint: &llm.CachePoint{}}}
		r.Messages[0].Content = append(r.Messages[0].Content, llm.Block{Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{}}, llm.TextBlock(question))
		return r
	}
	_, cps := c.CountCheckpoints(req("q"))
	sys, conv := cps[0].Tokens, cps[1].Tokens

	// Only the system prompt was seen before: it is read, the rest written.
	invoke(t, p, &llm.Request{Model: "claude-sonnet-4", System: req("").System, Messages: ask("", "other").Messages})
	u := invoke(t, p, req("first")).Usage
	if u.CacheReadTokens != sys || u.CacheWriteTokens != conv-sys {
		t.Errorf("read %d write %d, want %d and %d", u.CacheReadTokens, u.CacheWriteTokens, sys, conv-sys)
	}
	// Now the longer prefix is cached too.
	u = invoke(t, p, req("second")).Usage
	if u.CacheReadTokens != conv || u.CacheWriteTokens != 0 || u.InputTokens != c.CountRequest(req("second"))-conv {
		t.Errorf("usage %+v, want read %d", u, conv)
	}

	five := req("too many")
	for range 3 {
		five.Messages[0].Content = append(five.Messages[0].Content, llm.Block{Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{}})
	}
	_, err := p.Invoke(context.Background(), five)
	wantErr(t, err, llm.KindValidation, "ValidationException")
}

func TestPromptCacheBounded(t *testing.T) {
	pc := newPromptCache()
	now := time.Unix(0, 0)
	for i := range maxCacheEntries + sweepEvery {
		now = now.Add(time.Millisecond)
		pc.apply("m", []checkpoint{{tokens: 1, hash: uint64(i), ttl: ttlDefault}}, now)
	}
	if n := pc.len(); n > maxCacheEntries {
		t.Errorf("cache holds %d entries, bound is %d", n, maxCacheEntries)
	}
	// Everything expires.
	pc.apply("m", []checkpoint{{tokens: 1, hash: 1, ttl: ttlDefault}}, now.Add(time.Hour))
	for range sweepEvery {
		pc.apply("m", []checkpoint{{tokens: 1, hash: 1, ttl: ttlDefault}}, now.Add(time.Hour))
	}
	if n := pc.len(); n != 1 {
		t.Errorf("after expiry the cache holds %d entries, want 1", n)
	}
}
