package modeleval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// Options configure Run.
type Options struct {
	// Invoker answers every request (and the judge's, if any).
	Invoker llm.Invoker
	// Models are catalog ids, in the order results are reported.
	Models []string
	Scorer Scorer
	// Concurrency bounds requests in flight (default 8).
	Concurrency int
	// Rate limits requests started per second; 0 is unlimited.
	Rate float64
	// Out, if set, receives each result as a JSON line as soon as it is
	// scored, so that a killed run can resume.
	Out io.Writer
	// Done lists results to skip (from an earlier run's Out).
	Done map[Key]bool
	// OnResult, if set, is called after each result (e.g. a progress bar);
	// calls are serialized.
	OnResult func(Result)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ReportedLatency takes each answer's latency from the upstream's own
	// report (llm.Response.Latency, Converse's metrics.latencyMs) where it
	// has one, instead of the time the call took: for the simulator, which
	// reports Bedrock-like latencies without waiting them out.
	ReportedLatency bool
}

// Pending counts the requests Run will make for items.
func Pending(items []Item, models []string, done map[Key]bool) int {
	n := 0
	for _, it := range items {
		for _, m := range models {
			if !done[Key{it.ID, m}] {
				n++
			}
		}
	}
	return n
}

// Run answers every item not in Done on every model, at most Concurrency
// at a time and Rate per second, and returns the new results in no
// particular order. A failed request is a result with Error set, not an
// error of Run; Run fails only when the scorer rejects an item up front,
// Out cannot be written, or ctx ends (it then returns what it has).
func Run(ctx context.Context, items []Item, o Options) ([]Result, error) {
	if o.Invoker == nil || o.Scorer == nil || len(o.Models) == 0 {
		return nil, errors.New("modeleval: an invoker, a scorer and models are required")
	}
	for _, it := range items {
		if err := o.Scorer.Check(it); err != nil {
			return nil, fmt.Errorf("item %s: %w", it.ID, err)
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		it    Item
		model string
	}
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		for _, it := range items {
			for _, m := range o.Models {
				if o.Done[Key{it.ID, m}] {
					continue
				}
				select {
				case jobs <- job{it, m}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	lim := newLimiter(o.Rate)
	var (
		mu       sync.Mutex
		results  []Result
		writeErr error
		wg       sync.WaitGroup
	)
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := lim.wait(ctx); err != nil {
					return
				}
				res := runOne(ctx, o, j.it, j.model)
				if ctx.Err() != nil && res.Error != "" {
					return // cancelled: not a result worth keeping
				}
				mu.Lock()
				results = append(results, res)
				if o.Out != nil && writeErr == nil {
					if writeErr = writeLine(o.Out, res); writeErr != nil {
						cancel()
					}
				}
				if o.OnResult != nil {
					o.OnResult(res)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if writeErr != nil {
		return results, fmt.Errorf("writing results: %w", writeErr)
	}
	return results, context.Cause(ctx)
}

func writeLine(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func runOne(ctx context.Context, o Options, it Item, model string) Result {
	res := Result{ID: it.ID, Model: model, Prompt: it.PromptText()}
	req, err := it.Request(model)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	req.Meta.Received = o.Now()
	if req.Meta.Tags == nil {
		req.Meta.Tags = map[string]string{}
	}
	req.Meta.Tags["penny-eval"] = "answer"
	start := o.Now()
	resp, err := o.Invoker.Invoke(ctx, req)
	res.LatencyMS = float64(o.Now().Sub(start).Microseconds()) / 1000
	if err != nil {
		res.Error = fmt.Sprintf("%s: %v", llm.KindOf(err), err)
		return res
	}
	if o.ReportedLatency && resp.Latency > 0 {
		res.LatencyMS = float64(resp.Latency.Microseconds()) / 1000
	}
	res.Output = resp.Text()
	res.InputTokens, res.OutputTokens = resp.Usage.TotalInput(), resp.Usage.OutputTokens
	res.CostNanos, res.CostUSD = int64(resp.Cost), resp.Cost.Dollars()
	g, err := o.Scorer.Score(ctx, it, res.Output)
	if j := g.Judge; j != nil {
		res.JudgeInputTokens, res.JudgeOutputTokens = j.Usage.TotalInput(), j.Usage.OutputTokens
		res.JudgeCostNanos, res.JudgeUnparsed = int64(j.Cost), j.Unparsed
	}
	if err != nil {
		res.Error = "scoring: " + err.Error()
		return res
	}
	res.Score, res.Correct = g.Score, g.Correct
	return res
}

// limiter spaces request starts 1/rate apart.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	return &limiter{interval: time.Duration(float64(time.Second) / rate)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l.interval == 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(l.interval)
	l.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
