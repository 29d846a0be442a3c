package govern

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func counter(tb testing.TB) *tokens.Counter {
	c, err := tokens.New()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// step is one request in a rate-limit scenario: advance the clock, send.
type step struct {
	advance   time.Duration
	maxTokens int
	stream    bool
	// wantErr is a substring of the throttling message, "" for success.
	wantErr   string
	wantRetry time.Duration
}

func TestRateLimit(t *testing.T) {
	c := counter(t)
	prompt := "hello there"
	in := c.CountRequest(request("nova-micro", prompt, 0))
	tests := []struct {
		name   string
		limits keys.Limits
		usage  llm.Usage
		steps  []step
	}{
		{
			name:   "rpm",
			limits: keys.Limits{RPM: 3},
			steps: []step{{}, {}, {},
				{wantErr: "rate limit of 3 requests per minute for key PNYTEST exceeded", wantRetry: 20 * time.Second},
				{advance: 19 * time.Second, wantErr: "requests per minute", wantRetry: time.Second},
				{advance: time.Second},
				{wantErr: "requests per minute", wantRetry: 20 * time.Second},
			},
		},
		{
			name:   "no limits",
			limits: keys.Limits{},
			steps:  []step{{}, {}, {}, {}, {}},
		},
		{
			// Each request is charged in+100 up front, but uses 10: the
			// refunds let far more than 1000/(in+100) requests through.
			name:   "tpm refunds unused tokens",
			limits: keys.Limits{TPM: 1000},
			usage:  llm.Usage{InputTokens: 5, OutputTokens: 5},
			steps:  repeat(30, step{maxTokens: 100}),
		},
		{
			name:   "tpm refunds streams",
			limits: keys.Limits{TPM: 1000},
			usage:  llm.Usage{InputTokens: 5, OutputTokens: 5},
			steps:  repeat(30, step{maxTokens: 100, stream: true}),
		},
		{
			// Each request uses 600 tokens though it asked for 100: the
			// second is charged the debt of the first.
			name:   "tpm debits extra tokens",
			limits: keys.Limits{TPM: 1000},
			usage:  llm.Usage{InputTokens: 100, OutputTokens: 500},
			steps: []step{{maxTokens: 100}, {maxTokens: 100},
				{maxTokens: 100, wantErr: "rate limit of 1000 tokens per minute for key PNYTEST exceeded",
					wantRetry: time.Duration(float64(in+100+200) / 1000 * float64(time.Minute))},
			},
		},
		{
			// Larger than a minute's tokens: passes on a full bucket only.
			name:   "tpm request larger than the bucket",
			limits: keys.Limits{TPM: 100},
			usage:  llm.Usage{InputTokens: 100, OutputTokens: 400},
			steps: []step{{maxTokens: 400},
				{maxTokens: 400, wantErr: "100 tokens per minute", wantRetry: 5 * time.Minute},
				{advance: 5 * time.Minute, maxTokens: 400},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0)
			up := &upstream{usage: tt.usage}
			inv := RateLimit(RateOptions{Counter: c, Now: clk.Now})(up)
			ctx := withKey(&keys.Key{ID: "PNYTEST", Tenant: "acme", Limits: tt.limits})
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				req := request("nova-micro", prompt, s.maxTokens)
				var err error
				if s.stream {
					var st llm.Stream
					if st, err = inv.Stream(ctx, req); err == nil {
						_, err = llm.Collect(st)
					}
				} else {
					_, err = inv.Invoke(ctx, req)
				}
				checkThrottle(t, i, err, s.wantErr, s.wantRetry)
			}
		})
	}
}

func repeat(n int, s step) []step {
	steps := make([]step, n)
	for i := range steps {
		steps[i] = s
	}
	return steps
}

func checkThrottle(t *testing.T, i int, err error, wantErr string, wantRetry time.Duration) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		return
	}
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindThrottled {
		t.Fatalf("request %d: got %v, want a throttled error", i, err)
	}
	if !strings.Contains(e.Message, wantErr) {
		t.Errorf("request %d: message %q does not contain %q", i, e.Message, wantErr)
	}
	if d := e.RetryAfter - wantRetry; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("request %d: RetryAfter %v, want %v", i, e.RetryAfter, wantRetry)
	}
}

func TestRateLimitWithoutKeyPasses(t *testing.T) {
	up := &upstream{}
	inv := RateLimit(RateOptions{})(up)
	for range 10 {
		if _, err := inv.Invoke(t.Context(), request("nova-micro", "hi", 0)); err != nil {
			t.Fatal(err)
		}
	}
}

// A failed upstream call gives its tokens back; a request refused by RPM
// takes no tokens.
func TestRateLimitFailureRefunds(t *testing.T) {
	clk := newClock(t0)
	up := &upstream{err: llm.Errorf(llm.KindUnavailable, "down")}
	inv := RateLimit(RateOptions{Counter: counter(t), Now: clk.Now})(up)
	ctx := withKey(&keys.Key{ID: "PNYTEST", Limits: keys.Limits{TPM: 1000}})
	for i := range 20 {
		_, err := inv.Invoke(ctx, request("nova-micro", "hi", 900))
		if llm.KindOf(err) != llm.KindUnavailable {
			t.Fatalf("request %d: %v", i, err)
		}
	}
}

func TestRateLimitBoundsKeys(t *testing.T) {
	clk := newClock(t0)
	st := RateLimit(RateOptions{Counter: counter(t), Now: clk.Now, MaxKeys: 5})
	inv := st(&upstream{}).(*rateInvoker)
	for i := range 50 {
		k := &keys.Key{ID: fmt.Sprintf("PNY%03d", i), Limits: keys.Limits{RPM: 2}}
		if _, err := inv.Invoke(withKey(k), request("nova-micro", "hi", 0)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			clk.Advance(time.Minute) // earlier keys become idle
		}
		if n := len(inv.l.keys); n > 5 {
			t.Fatalf("%d keys kept, want at most 5", n)
		}
	}
}

func BenchmarkRateLimit(b *testing.B) {
	inv := RateLimit(RateOptions{Counter: counter(b)})(&upstream{usage: llm.Usage{InputTokens: 10, OutputTokens: 10}})
	ctx := withKey(&keys.Key{ID: "PNYBENCH", Limits: keys.Limits{RPM: 1 << 30, TPM: 1 << 30}})
	req := request("nova-micro", strings.Repeat("a typical short prompt of some words ", 20), 256)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := inv.Invoke(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
