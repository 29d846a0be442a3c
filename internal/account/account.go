// Package account is the stage that prices every request: it turns the
// answer's usage into its cost and its baseline cost (what the request
// would have cost on its baseline model, on demand, uncached), through
// package catalog, and settles the request's llm.Bill. Nothing else in
// Penny prices a request: the frontends and the ledger read the Bill.
package account

import (
	"context"
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

// settlement is a priced answer, applied to its request by apply.
type settlement struct {
	model, baseline string // req.Model and Meta.BaselineModel to set
	bill            llm.Bill
}

// price prices usage u for req without changing req. invoked, if set, is
// the model a Bedrock prompt router chose: it is then the model priced
// (and, without a route's baseline, the baseline). served is the service
// tier the upstream reported; when it reported none, the tier asked for
// is assumed.
func (a *invoker) price(req *llm.Request, u llm.Usage, invoked string, served llm.ServiceTier) settlement {
	cat := a.o.Catalog
	st := settlement{model: req.Model, baseline: req.Meta.BaselineModel}
	if invoked != "" {
		if t, err := cat.Resolve(invoked); err == nil && t.Model != nil {
			st.model = t.Model.ID
			// A prompt router has no price of its own.
			if st.baseline == "" {
				st.baseline = t.Model.ID
			}
		}
	}
	if served == "" {
		served = req.ServiceTier
	}
	terms := catalog.TermsOf(req, served)
	st.bill = llm.Bill{Usage: u, ServiceTier: served}
	// A response-cache hit called no model: it costs nothing, and its
	// baseline is what the original answer's tokens would have cost.
	if req.Meta.Cache != llm.CacheHit {
		if m := model(cat, st.model); m != nil {
			c, exact := m.Cost(u, terms)
			st.bill.Cost, st.bill.PriceEstimated = c, !exact
		}
	}
	// Calls made on the request's behalf (a routing agent, a cascade's
	// rejected attempt) are charged to it, on demand at the default tier;
	// the baseline is unchanged: the application would have made one call.
	for _, x := range req.Meta.Extra {
		if m := model(cat, x.Model); m != nil {
			c, exact := m.Cost(x.Usage, catalog.Terms{Mode: terms.Mode})
			st.bill.Cost += c
			st.bill.PriceEstimated = st.bill.PriceEstimated || !exact
		}
	}
	base := st.baseline
	if base == "" {
		base = st.model
	}
	if m := model(cat, base); m != nil {
		st.bill.Baseline = m.BaselineCost(u)
	}
	return st
}

// apply writes a settlement to its request.
func (st settlement) apply(req *llm.Request) {
	req.Model, req.Meta.BaselineModel, req.Meta.Bill = st.model, st.baseline, st.bill
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
		a.price(req, llm.Usage{}, "", "").apply(req)
		return nil, err
	}
	st := a.price(req, resp.Usage, resp.InvokedModel, resp.ServiceTier)
	st.apply(req)
	resp.Cost, resp.BaselineCost = st.bill.Cost, st.bill.Baseline
	return resp, nil
}

func (a *invoker) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	s, err := a.next.Stream(ctx, req)
	if err != nil {
		a.price(req, llm.Usage{}, "", "").apply(req)
		return nil, err
	}
	// Until the stream settles, the bill is what a failure would cost.
	a.price(req, llm.Usage{}, "", "").apply(req)
	return &stream{Stream: s, a: a, req: req}, nil
}

// stream prices the metadata event, and on an early end (an error, or
// Close before it) counts what was sent so far and prices that. Recv runs
// on the goroutine reading the stream while the frontend reads req on its
// own, so Recv never writes req: the settlement is applied by Close, which
// the frontend calls once it has stopped reading.
type stream struct {
	llm.Stream
	a       *invoker
	req     *llm.Request
	started bool // an event was received: Bedrock bills the prompt
	settled *settlement
	output  strings.Builder
}

func (s *stream) Recv() (llm.Event, error) {
	ev, err := s.Stream.Recv()
	if err != nil {
		return ev, err
	}
	s.started = true
	switch ev.Type {
	case llm.EventBlockDelta:
		if s.settled == nil {
			s.output.WriteString(ev.Delta.Text)
			s.output.WriteString(ev.Delta.ToolInput)
			s.output.WriteString(ev.Delta.Reasoning)
		}
	case llm.EventMetadata:
		if ev.Usage != nil {
			st := s.a.price(s.req, *ev.Usage, ev.InvokedModel, ev.ServiceTier)
			ev.Cost, ev.BaselineCost = st.bill.Cost, st.bill.Baseline
			s.settled = &st
			s.output.Reset()
		}
	}
	return ev, nil
}

// Close applies the stream's settlement to its request: the upstream's
// usage when it reported it; else, once any event came (Bedrock bills the
// prompt and what it generated), Penny's own count of the prompt and of
// what was sent, marked estimated. It is safe to call more than once.
func (s *stream) Close() error {
	if s.settled == nil && s.started && s.a.o.Counter != nil {
		c := s.a.o.Counter
		u := llm.Usage{InputTokens: c.CountRequest(s.req), OutputTokens: c.Count(s.output.String())}
		st := s.a.price(s.req, u, "", "")
		st.bill.Estimated = true
		s.settled = &st
	}
	if s.settled != nil {
		s.settled.apply(s.req)
	}
	return s.Stream.Close()
}
