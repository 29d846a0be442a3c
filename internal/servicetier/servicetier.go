// Package servicetier is the stage that picks the Bedrock service tier
// (default, flex, priority) a request asks for. The client's own choice
// (Converse serviceTier, the InvokeModel tier header, the OpenAI and
// Anthropic service_tier fields, x-penny-service-tier) wins; otherwise the
// request's route may set one, or declare itself latency tolerant, which
// sends its requests to Flex on models that offer it. When Flex, chosen by
// the route, is throttled, the request is tried once more at the default
// tier and the throttled attempt is recorded (strategy fallback). What
// tier was served, and priced, is what Bedrock reports.
//
// It sits just above the dispatcher, below the fallback stage, so that
// each model a fallback list tries gets its own Flex-then-default chance.
package servicetier

import (
	"context"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// Policy is a route's tier settings.
type Policy struct {
	// Tier, if set, is the tier the route's requests ask for.
	Tier llm.ServiceTier
	// Tolerant routes go to Flex where the model offers it.
	Tolerant bool
}

// Options configure the stage.
type Options struct {
	// Catalog says which models offer Flex. Required for Tolerant routes.
	Catalog *catalog.Catalog
	// PolicyFor returns the policy of the request's route, if it has one.
	PolicyFor func(*llm.Request) (Policy, bool)
	// Now is the clock of attempt latencies (default time.Now).
	Now func() time.Time
}

// Stage returns the service-tier stage.
func Stage(o Options) llm.Stage {
	if o.Now == nil {
		o.Now = time.Now
	}
	return func(next llm.Invoker) llm.Invoker { return &stage{o: o, next: next} }
}

type stage struct {
	o    Options
	next llm.Invoker
}

// apply sets req's tier and reports whether Penny chose Flex for it (so a
// throttled Flex call may fall back to the default tier).
func (s *stage) apply(req *llm.Request) (chosenFlex bool) {
	if req.ServiceTier != "" || s.o.PolicyFor == nil {
		return false
	}
	p, ok := s.o.PolicyFor(req)
	if !ok {
		return false
	}
	switch {
	case p.Tier != "":
		req.ServiceTier = p.Tier
	case p.Tolerant && s.offersFlex(req.Model):
		req.ServiceTier = llm.TierFlex
	}
	return req.ServiceTier == llm.TierFlex
}

func (s *stage) offersFlex(model string) bool {
	if s.o.Catalog == nil {
		return false
	}
	t, err := s.o.Catalog.Resolve(model)
	return err == nil && t.Model != nil && t.Model.Capabilities.OffersTier(llm.TierFlex)
}

// retry reports whether a failed Flex call Penny chose should be tried at
// the default tier, and if so notes the attempt and switches req.
func (s *stage) retry(req *llm.Request, chosenFlex bool, err error, start time.Time) bool {
	if !chosenFlex || llm.KindOf(err) != llm.KindThrottled {
		return false
	}
	req.Meta.Attempts = append(req.Meta.Attempts, llm.Attempt{Model: req.Model + " (flex)", Kind: llm.KindThrottled,
		Latency: s.o.Now().Sub(start)})
	req.ServiceTier = llm.TierDefault
	return true
}

func (s *stage) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	flex := s.apply(req)
	start := s.o.Now()
	resp, err := s.next.Invoke(ctx, req)
	if err != nil && s.retry(req, flex, err, start) {
		return s.next.Invoke(ctx, req)
	}
	return resp, err
}

func (s *stage) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	flex := s.apply(req)
	start := s.o.Now()
	st, err := s.next.Stream(ctx, req)
	if err != nil && s.retry(req, flex, err, start) {
		return s.next.Stream(ctx, req)
	}
	return st, err
}
