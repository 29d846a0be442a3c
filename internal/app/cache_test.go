package app

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/cache/redis/redistest"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
)

func startApp(t *testing.T, cfg config.Config) *App {
	t.Helper()
	a := serving(t, cfg)
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	return a
}

// serving builds Penny from cfg and serves it on its listener; the test
// shuts it down.
func serving(t *testing.T, cfg config.Config) *App {
	t.Helper()
	return servingWith(t, cfg, Options{Logger: quiet()})
}

// servingWith is serving with assembly options.
func servingWith(t *testing.T, cfg config.Config, opts Options) *App {
	t.Helper()
	a, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	return a
}

func chat(t *testing.T, a *App, tenant, body string) http.Header {
	t.Helper()
	req, _ := http.NewRequest("POST", a.URL()+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Penny-Tenant", tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return resp.Header
}

const cachedBody = `{"model":"nova-pro","temperature":0,"messages":[{"role":"user","content":"What are your support hours?"}]}`

// TestResponseCache: the second identical request is a free hit; another
// tenant does not see it; a temperature above 0 is not cached.
func TestResponseCache(t *testing.T) {
	a := startApp(t, simConfig(t, 0))
	first := chat(t, a, "acme", cachedBody)
	second := chat(t, a, "acme", cachedBody)
	other := chat(t, a, "globex", cachedBody)
	warm := chat(t, a, "acme", strings.Replace(cachedBody, `"temperature":0`, `"temperature":0.7`, 1))
	warm2 := chat(t, a, "acme", strings.Replace(cachedBody, `"temperature":0`, `"temperature":0.7`, 1))
	for name, tc := range map[string]struct {
		h     http.Header
		cache string
	}{"first": {first, "miss"}, "second": {second, "hit"}, "other tenant": {other, "miss"}, "warm": {warm, "miss"}, "warm again": {warm2, "miss"}} {
		if got := tc.h.Get("X-Penny-Cache"); got != tc.cache {
			t.Errorf("%s: x-penny-cache %q, want %q", name, got, tc.cache)
		}
	}
	if second.Get("X-Penny-Cost-Usd") != "0.000000000" || second.Get("X-Penny-Baseline-Cost-Usd") != first.Get("X-Penny-Cost-Usd") {
		t.Errorf("hit cost %s baseline %s; first cost %s", second.Get("X-Penny-Cost-Usd"), second.Get("X-Penny-Baseline-Cost-Usd"), first.Get("X-Penny-Cost-Usd"))
	}
	if second.Get("X-Penny-Model") != "nova-pro" || second.Get("X-Penny-Provider") != "cache" {
		t.Errorf("hit headers: %v", second)
	}
	a.Ledger.Flush(context.Background())
	recs, _ := a.Store.Records(context.Background(), ledger.RecordQuery{RequestID: second.Get("X-Penny-Request-Id")})
	if len(recs) != 1 || recs[0].Cache != "hit" || recs[0].Cost != 0 || recs[0].BaselineCost <= 0 || recs[0].Strategy != "response_cache" || recs[0].Model != "nova-pro" {
		t.Errorf("hit record: %+v", recs)
	}
}

// TestCoalescing: identical requests in flight together make one upstream
// call; the others are recorded as coalesced hits.
func TestCoalescing(t *testing.T) {
	a := startApp(t, simConfig(t, 0.5))
	const n = 8
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); chat(t, a, "acme", cachedBody) }()
	}
	wg.Wait()
	a.Ledger.Flush(context.Background())
	recs, _ := a.Store.Records(context.Background(), ledger.RecordQuery{})
	var miss, coalesced int
	for _, r := range recs {
		switch {
		case r.Cache == "miss":
			miss++
		case r.Cache == "hit" && strings.Contains(r.Strategy, "coalesced"):
			coalesced++
		}
	}
	if miss != 1 || coalesced != n-1 {
		t.Errorf("%d misses, %d coalesced of %d", miss, coalesced, n)
	}
}

// TestSharedRedisCache: two Penny instances on one Redis share answers.
func TestSharedRedisCache(t *testing.T) {
	url := redistest.URL(t)
	mk := func() *App {
		cfg := simConfig(t, 0)
		cfg.Cache.Backend = url
		cfg.Cache.TTL = 30 * time.Second
		return startApp(t, cfg)
	}
	a, b := mk(), mk()
	body := strings.Replace(cachedBody, "support hours", "support hours "+time.Now().Format(time.RFC3339Nano), 1)
	if h := chat(t, a, "acme", body); h.Get("X-Penny-Cache") != "miss" {
		t.Fatalf("first: %s", h.Get("X-Penny-Cache"))
	}
	if h := chat(t, b, "acme", body); h.Get("X-Penny-Cache") != "hit" {
		t.Errorf("other instance: %s", h.Get("X-Penny-Cache"))
	}
	if h := chat(t, b, "globex", body); h.Get("X-Penny-Cache") != "miss" {
		t.Errorf("other tenant on the shared cache: %s", h.Get("X-Penny-Cache"))
	}
}

// TestEmbeddingsCached: embeddings are deterministic, so an identical
// request is a response-cache hit whatever its (absent) temperature, and a
// different text is not.
func TestEmbeddingsCached(t *testing.T) {
	a := startApp(t, simConfig(t, 0))
	embed := func(text string) http.Header {
		resp, err := http.Post(a.URL()+"/v1/embeddings", "application/json",
			strings.NewReader(`{"model":"titan-embed-text-v2","input":"`+text+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp.Header
	}
	first, second, other := embed("reset my password"), embed("reset my password"), embed("where is my order")
	if first.Get("X-Penny-Cache") != "miss" || second.Get("X-Penny-Cache") != "hit" || other.Get("X-Penny-Cache") != "miss" {
		t.Errorf("cache verdicts %s %s %s", first.Get("X-Penny-Cache"), second.Get("X-Penny-Cache"), other.Get("X-Penny-Cache"))
	}
	if second.Get("X-Penny-Cost-Usd") != "0.000000000" || second.Get("X-Penny-Baseline-Cost-Usd") != first.Get("X-Penny-Cost-Usd") {
		t.Errorf("hit cost %s baseline %s, first %s", second.Get("X-Penny-Cost-Usd"), second.Get("X-Penny-Baseline-Cost-Usd"), first.Get("X-Penny-Cost-Usd"))
	}
}
