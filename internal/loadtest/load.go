// Package loadtest is Penny's load harness: a stub Bedrock upstream that
// answers instantly, and a bounded load generator that measures latency
// percentiles and throughput. `penny bench` drives it to measure the latency
// Penny adds over calling the stub directly, in the same run.
package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Load describes one bounded run.
type Load struct {
	// URL is the full request URL.
	URL     string
	Body    []byte
	Headers http.Header
	// Concurrency is the number of workers (default 50).
	Concurrency int
	// Requests bounds the run (default 10,000).
	Requests int
	// Rate, if positive, paces requests open-loop at this many per second.
	// Latency is measured from when a request is actually sent; how late
	// each send was against its schedule is reported separately as
	// SendLag, so a stall that delays sending is not hidden. (Go timers
	// wake up to a millisecond late, which would otherwise swamp
	// sub-millisecond latencies.) Zero runs closed-loop as fast as the
	// workers go.
	Rate float64
	// MaxDuration stops the run early (default 2 minutes).
	MaxDuration time.Duration
	// Warmup requests are sent first and not measured (default 200).
	Warmup int
}

// Result summarises a run.
type Result struct {
	Requests   int
	Errors     int
	FirstError string
	Duration   time.Duration
	Throughput float64 // successful requests per second
	P50, P90   time.Duration
	P99, Max   time.Duration
	// SendLagP99 is the 99th percentile of how late paced sends were.
	SendLagP99 time.Duration
}

func (r Result) String() string {
	s := fmt.Sprintf("%d req, %d errors, %.0f req/s, p50 %s, p90 %s, p99 %s, max %s",
		r.Requests, r.Errors, r.Throughput, us(r.P50), us(r.P90), us(r.P99), us(r.Max))
	if r.SendLagP99 > 0 {
		s += ", send lag p99 " + us(r.SendLagP99)
	}
	return s
}

func us(d time.Duration) string { return d.Round(time.Microsecond).String() }

// NewClient returns an HTTP client with enough idle connections for
// concurrency workers to one host.
func NewClient(concurrency int) *http.Client {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency * 2,
		MaxIdleConnsPerHost: concurrency * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Run sends l's requests and measures them. It stops at l.Requests, at
// l.MaxDuration, or when ctx ends.
func Run(ctx context.Context, client *http.Client, l Load) Result {
	if l.Concurrency <= 0 {
		l.Concurrency = 50
	}
	if l.Requests <= 0 {
		l.Requests = 10_000
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = 2 * time.Minute
	}
	if l.Warmup == 0 {
		l.Warmup = 200
	}
	// Warm-up: open connections and let caches settle, unmeasured.
	warm := l
	warm.Requests, warm.Rate, warm.Warmup = max(l.Warmup, 1), 0, -1
	if l.Warmup > 0 {
		run(ctx, client, warm)
	}
	return run(ctx, client, l)
}

func run(ctx context.Context, client *http.Client, l Load) Result {
	ctx, cancel := context.WithTimeout(ctx, l.MaxDuration)
	defer cancel()
	type sample struct {
		d, lag time.Duration
		err    error
	}
	samples := make([]sample, l.Requests)
	var next atomic.Int64
	start := time.Now()
	var interval time.Duration
	if l.Rate > 0 {
		interval = time.Duration(float64(time.Second) / l.Rate)
	}
	var wg sync.WaitGroup
	for w := 0; w < l.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= l.Requests || ctx.Err() != nil {
					return
				}
				var lag time.Duration
				if interval > 0 {
					due := start.Add(time.Duration(i) * interval)
					if wait := time.Until(due); wait > 0 {
						t := time.NewTimer(wait)
						select {
						case <-t.C:
						case <-ctx.Done():
							t.Stop()
							return
						}
					}
					lag = time.Since(due)
				}
				begin := time.Now()
				err := do(ctx, client, l)
				samples[i] = sample{time.Since(begin), lag, err}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := Result{Duration: elapsed}
	lat := make([]time.Duration, 0, len(samples))
	lags := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		if s.d == 0 && s.err == nil {
			continue // not sent: stopped early
		}
		res.Requests++
		if s.err != nil {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = s.err.Error()
			}
			continue
		}
		lat = append(lat, s.d)
		lags = append(lags, s.lag)
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	if n := len(lags); n > 0 {
		res.SendLagP99 = lags[min(n-1, int(0.99*float64(n)))]
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		q := func(p float64) time.Duration { return lat[min(n-1, int(p*float64(n)))] }
		res.P50, res.P90, res.P99, res.Max = q(0.50), q(0.90), q(0.99), lat[n-1]
		res.Throughput = float64(n) / elapsed.Seconds()
	}
	return res
}

func do(ctx context.Context, client *http.Client, l Load) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(l.Body))
	if err != nil {
		return err
	}
	for k, v := range l.Headers {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
