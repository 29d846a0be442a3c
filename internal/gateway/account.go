package gateway

import (
	"context"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// account prices every answer: as a stage it sets Cost and BaselineCost on
// the Response (or on a stream's metadata event) from the model actually
// used and the request's baseline model. It is the one place the gateway
// turns tokens into money, through package catalog.
type account struct {
	cat *catalog.Catalog
}

func (a *account) stage(next llm.Invoker) llm.Invoker { return &accountInvoker{a: a, next: next} }

type accountInvoker struct {
	a    *account
	next llm.Invoker
}

// price fills cost fields for usage, and points req.Model at the model a
// prompt router chose.
func (a *account) price(req *llm.Request, u llm.Usage, invoked string) (cost, baseline llm.Money) {
	if invoked != "" {
		if t, err := a.cat.Resolve(invoked); err == nil && t.Model != nil {
			req.Model = t.Model.ID
			// A prompt router has no price of its own: without a route's
			// baseline, the baseline is the model it chose.
			if req.Meta.BaselineModel == "" {
				req.Meta.BaselineModel = t.Model.ID
			}
		}
	}
	mode := req.Meta.Mode
	if mode == "" {
		mode = llm.ModeOnDemand
	}
	// A response-cache hit called no model: it costs nothing, and its
	// baseline is what the original answer's tokens would have cost.
	if req.Meta.Cache != llm.CacheHit {
		if t, err := a.cat.Resolve(req.Model); err == nil && t.Model != nil {
			cost, _ = t.Model.Cost(u, catalog.Terms{Mode: mode})
		}
	}
	// Calls made on the request's behalf (a routing agent, a cascade's
	// rejected attempt) are charged to it; the baseline is unchanged: the
	// application would have made one call.
	for _, x := range req.Meta.Extra {
		if t, err := a.cat.Resolve(x.Model); err == nil && t.Model != nil {
			c, _ := t.Model.Cost(x.Usage, catalog.Terms{Mode: mode})
			cost += c
		}
	}
	base := req.Meta.BaselineModel
	if base == "" {
		base = req.Model
	}
	if t, err := a.cat.Resolve(base); err == nil && t.Model != nil {
		baseline = t.Model.BaselineCost(u)
	}
	return cost, baseline
}

func (ai *accountInvoker) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	resp, err := ai.next.Invoke(ctx, req)
	if err != nil {
		return nil, err
	}
	resp.Cost, resp.BaselineCost = ai.a.price(req, resp.Usage, resp.InvokedModel)
	return resp, nil
}

func (ai *accountInvoker) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	s, err := ai.next.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	return &accountStream{Stream: s, a: ai.a, req: req}, nil
}

type accountStream struct {
	llm.Stream
	a   *account
	req *llm.Request
}

func (s *accountStream) Recv() (llm.Event, error) {
	ev, err := s.Stream.Recv()
	if err == nil && ev.Type == llm.EventMetadata && ev.Usage != nil {
		ev.Cost, ev.BaselineCost = s.a.price(s.req, *ev.Usage, ev.InvokedModel)
	}
	return ev, err
}
