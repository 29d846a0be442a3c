// Package servicetier is the stage that picks the Bedrock service tier
// (default, flex, priority) a request asks for: the client's own choice
// (Converse serviceTier, the InvokeModel tier header, the OpenAI and
// Anthropic service_tier fields) wins; otherwise the request's route may
// set one. What tier was served, and priced, is what Bedrock reports.
package servicetier

import (
	"context"

	"github.com/penny-gateway/penny/internal/llm"
)

// Options configure the stage.
type Options struct {
	// TierFor returns the tier of the request's route, if it sets one.
	TierFor func(*llm.Request) (llm.ServiceTier, bool)
}

// Stage returns the service-tier stage. It runs after routing, so that
// TierFor sees the route.
func Stage(o Options) llm.Stage {
	return func(next llm.Invoker) llm.Invoker { return &stage{o: o, next: next} }
}

type stage struct {
	o    Options
	next llm.Invoker
}

func (s *stage) apply(req *llm.Request) {
	if req.ServiceTier != "" || s.o.TierFor == nil {
		return
	}
	if t, ok := s.o.TierFor(req); ok {
		req.ServiceTier = t
	}
}

func (s *stage) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	s.apply(req)
	return s.next.Invoke(ctx, req)
}

func (s *stage) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	s.apply(req)
	return s.next.Stream(ctx, req)
}
