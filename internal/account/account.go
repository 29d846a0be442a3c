// Package account is the stage that prices every request: it turns the
// answer's usage into its cost and its baseline cost (what the request
// would have cost on its baseline model, on demand, uncached), through
// package catalog, and settles the request's llm.Bill. Nothing else in
// Penny prices a request: the frontends and the ledger read the Bill.
package account

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// Options configure the stage.
type Options struct {
	Catalog *catalog.Catalog
	// Counter counts the tokens of a stream cut short before the upstream
	// reported its usage (Bedrock still bills what it processed). Without
	// one, such a stream is priced at what was reported: nothing.
	Counter *tokens.Counter
}

// Stage returns the account stage. It sits outside routing and the
// response cache, so it sees the model finally used, the cache verdict and
// the calls made on the request's behalf (Meta.Extra). It sets Cost and
// BaselineCost on a Response and on a stream's metadata event, and
// req.Meta.Bill in every case: answered, failed (the extra calls were
// still billed) or a stream that ended early (usage counted by Penny and
// marked estimated).
func Stage(o Options) llm.Stage {
	return func(next llm.Invoker) llm.Invoker { return &invoker{o: o, next: next} }
}

type invoker struct {
	o    Options
	next llm.Invoker
}

// price settles req's bill for usage u and returns it. invoked, if set, is
// the model a Bedrock prompt router chose: req.Model then points at it.
// served is the service tier the upstream reported; when it reported none,
// the tier asked for is assumed.
func (a *invoker) price(req *llm.Request, u llm.Usage, invoked string, served llm.ServiceTier) llm.Bill {
	cat := a.o.Catalog
	if invoked != "" {
		if t, err := cat.Resolve(invoked); err == nil && t.Model != nil {
			req.Model = t.Model.ID
			// A prompt router has no price of its own: without a route's
			// baseline, the baseline is the model it chose.
			if req.Meta.BaselineModel == "" {
				req.Meta.BaselineModel = t.Model.ID
			}
		}
	}
	if served == "" {
		served = req.ServiceTier
	}
	terms := catalog.TermsOf(req, served)
	bill := llm.Bill{Usage: u, ServiceTier: served}
	// A response-cache hit called no model: it costs nothing, and its
	// baseline is what the original answer's tokens would have cost.
	if req.Meta.Cache != llm.CacheHit {
		if m := model(cat, req.Model); m != nil {
			c, exact := m.Cost(u, terms)
			bill.Cost, bill.PriceEstimated = c, !exact
		}
	}
	// Calls made on the request's behalf (a routing agent, a cascade's
	// rejected attempt) are charged to it, on demand at the default tier;
	// the baseline is unchanged: the application would have made one call.
	for _, x := range req.Meta.Extra {
		if m := model(cat, x.Model); m != nil {
			c, exact := m.Cost(x.Usage, catalog.Terms{Mode: terms.Mode})
			bill.Cost += c
			bill.PriceEstimated = bill.PriceEstimated || !exact
		}
	}
	base := req.Meta.BaselineModel
	if base == "" {
		base = req.Model
	}
	if m := model(cat, base); m != nil {
		bill.Baseline = m.BaselineCost(u)
	}
	req.Meta.Bill = bill
	return bill
}

func model(cat *catalog.Catalog, id string) *catalog.Model {
	if t, err := cat.Resolve(id); err == nil {
		return t.Model
	}
	return nil
}

func (a *invoker) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	resp, err := a.next.Invoke(ctx, req)
	if err != nil {
		// The answer failed, but calls made on the request's behalf were
		// billed.
		a.price(req, llm.Usage{}, "", "")
		return nil, err
	}
	b := a.price(req, resp.Usage, resp.InvokedModel, resp.ServiceTier)
	resp.Cost, resp.BaselineCost = b.Cost, b.Baseline
	return resp, nil
}

func (a *invoker) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	s, err := a.next.Stream(ctx, req)
	if err != nil {
		a.price(req, llm.Usage{}, "", "")
		return nil, err
	}
	// Until the stream settles, the bill is what a failure would cost.
	a.price(req, llm.Usage{}, "", "")
	return &stream{Stream: s, a: a, req: req}, nil
}

// stream prices the metadata event, and on an early end (an error, or
// Close before it) counts what was sent so far and settles that.
type stream struct {
	llm.Stream
	a       *invoker
	req     *llm.Request
	started bool // an event was received: Bedrock bills the prompt
	settled bool // the upstream reported usage
	output  strings.Builder
}

func (s *stream) Recv() (llm.Event, error) {
	ev, err := s.Stream.Recv()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			s.settleEstimate()
		}
		return ev, err
	}
	s.started = true
	switch ev.Type {
	case llm.EventBlockDelta:
		if !s.settled {
			s.output.WriteString(ev.Delta.Text)
			s.output.WriteString(ev.Delta.ToolInput)
			s.output.WriteString(ev.Delta.Reasoning)
		}
	case llm.EventMetadata:
		if ev.Usage != nil {
			b := s.a.price(s.req, *ev.Usage, ev.InvokedModel, ev.ServiceTier)
			ev.Cost, ev.BaselineCost = b.Cost, b.Baseline
			s.settled = true
			s.output.Reset()
		}
	}
	return ev, nil
}

// Close settles a stream that ends before the upstream reported usage.
func (s *stream) Close() error {
	s.settleEstimate()
	return s.Stream.Close()
}

// settleEstimate prices a stream that ended without the upstream's usage
// report (client gone, mid-stream error): Bedrock still bills the prompt
// and what it generated, so Penny counts both itself and marks the bill
// as estimated. It does nothing once settled or before any event.
func (s *stream) settleEstimate() {
	if s.settled || !s.started || s.a.o.Counter == nil {
		return
	}
	s.settled = true
	c := s.a.o.Counter
	u := llm.Usage{InputTokens: c.CountRequest(s.req), OutputTokens: c.Count(s.output.String())}
	s.a.price(s.req, u, "", "")
	s.req.Meta.Bill.Estimated = true
}
