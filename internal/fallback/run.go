package fallback

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// run calls try on the candidates of p until one succeeds, a failure is
// not retryable, or the attempts, the candidates or the deadline run out.
// It copies the last attempt's Model and Meta back into req.
func (s *stage) run(ctx context.Context, req *llm.Request, p plan, try func(context.Context, *llm.Request) error) error {
	log := s.o.Logger.With("request_id", req.Meta.RequestID, "route", req.Meta.Route)
	deadline := s.o.Now().Add(p.list.Deadline)
	attempts := slices.Clone(req.Meta.Attempts)
	base := len(attempts)               // attempts before this stage, e.g. a cascade's
	notBefore := map[string]time.Time{} // from RetryAfter, per upstream
	var (
		last      *llm.Request
		lastErr   error
		calls     int
		idle      int                // consecutive candidates skipped without a call
		announced bool               // the skipped expensive models were logged
		openWait  time.Duration = -1 // the soonest an open breaker half-opens
	)
	finish := func(err error) error {
		if last != nil {
			req.Model, req.Meta = last.Model, last.Meta
		}
		req.Meta.Attempts = attempts
		return err
	}

	for i := 0; calls < p.list.MaxAttempts && idle < len(p.cands); i++ {
		c := p.cands[i%len(p.cands)]
		now := s.o.Now()
		var wait time.Duration
		if i > 0 && !announced && len(p.skipped) > 0 {
			announced = true
			log.Info("fallback: skipping models more expensive than the routed one (set allow_more_expensive to use them)",
				"routed", req.Model, "skipped", p.skipped)
		}
		if calls > 0 {
			wait = s.backoff(p.list.Backoff, calls)
			if now.Add(wait).After(deadline) {
				log.Info("fallback: deadline reached", "attempts", calls, "deadline", p.list.Deadline)
				break
			}
		}
		if nb := notBefore[c.key]; nb.Sub(now) > wait {
			wait = nb.Sub(now)
			if now.Add(wait).After(deadline) {
				log.Info("fallback: skipping a model whose retry-after ends past the deadline", "model", c.id, "retry_after", wait)
				idle++
				continue
			}
		}
		if ok, w := s.o.Breakers.Allow(c.key); !ok {
			log.Info("fallback: skipping a model whose circuit breaker is open", "model", c.id)
			attempts = append(attempts, llm.Attempt{Model: c.id, Kind: llm.KindUnavailable})
			if w > 0 && (openWait < 0 || w < openWait) {
				openWait = w
			}
			idle++
			continue
		}
		if calls > 0 { // a zero wait still checks that the caller is there
			if err := s.o.Sleep(ctx, wait); err != nil {
				s.o.Breakers.Release(c.key)
				return finish(llm.Errorf(llm.KindOf(err), "fallback: waiting to retry: %w", err))
			}
		}

		r := attemptCopy(req, c.id, attempts)
		start := s.o.Now()
		err := try(ctx, r)
		latency := s.o.Now().Sub(start)
		last, calls, idle = r, calls+1, 0
		if err == nil {
			s.o.Breakers.Success(c.key)
			if calls > 1 {
				log.Info("fallback: answered by a fallback model", "model", c.id, "attempts", calls)
			}
			return finish(nil)
		}
		kind := llm.KindOf(err)
		attempts = append(attempts, llm.Attempt{Model: c.id, Kind: kind, Latency: latency})
		lastErr = err
		switch {
		case ctx.Err() != nil:
			// The caller gave up: that says nothing about the upstream.
			s.o.Breakers.Release(c.key)
			return finish(err)
		case !llm.Retryable(kind):
			// The upstream answered, if only with a refusal.
			s.o.Breakers.Success(c.key)
			return finish(err)
		}
		if ra := retryAfter(err); ra > 0 {
			notBefore[c.key] = s.o.Now().Add(ra)
		}
		if s.o.Breakers.Failure(c.key) {
			log.Warn("fallback: circuit breaker opened", "model", c.id, "kind", kind)
		}
		log.Info("fallback: attempt failed", "model", c.id, "kind", kind, "latency", latency)
	}

	if lastErr == nil {
		e := llm.Errorf(llm.KindUnavailable, "fallback: no model of route %q is available: their circuit breakers are open", req.Meta.Route)
		if openWait > 0 {
			e.RetryAfter = openWait
		}
		return finish(e)
	}
	if calls == 1 {
		return finish(lastErr)
	}
	return finish(exhausted(lastErr, attempts[base:]))
}

// exhausted wraps the last retryable error, keeping its kind and
// RetryAfter, with a summary of the attempts.
func exhausted(last error, attempts []llm.Attempt) error {
	var parts []string
	for _, a := range attempts {
		parts = append(parts, a.Model+": "+string(a.Kind))
	}
	e := &llm.Error{
		Kind:    llm.KindOf(last),
		Message: fmt.Sprintf("fallback: every attempt failed (%s); last: %v", strings.Join(parts, ", "), last),
		Err:     last,
	}
	var le *llm.Error
	if errors.As(last, &le) {
		e.Upstream, e.RetryAfter = le.Upstream, le.RetryAfter
	}
	return e
}

func retryAfter(err error) time.Duration {
	var le *llm.Error
	if errors.As(err, &le) {
		return le.RetryAfter
	}
	return 0
}

// attemptCopy returns a copy of req for one attempt at model. The slices
// and maps a lower stage may append to or replace are copied; the blocks
// and their bytes are shared, and stay read-only as llm.Invoker requires.
func attemptCopy(req *llm.Request, model string, attempts []llm.Attempt) *llm.Request {
	r := *req
	r.Model = model
	r.System = slices.Clone(req.System)
	r.Messages = slices.Clone(req.Messages)
	r.Config.StopSequences = slices.Clone(req.Config.StopSequences)
	if req.Tools != nil {
		t := *req.Tools
		t.Tools = slices.Clone(t.Tools)
		r.Tools = &t
	}
	r.Meta.Tags = maps.Clone(req.Meta.Tags)
	r.Meta.Attempts = slices.Clip(slices.Clone(attempts))
	return &r
}
