package app

import (
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/penny-gateway/penny/internal/account"
	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/fallback"
	"github.com/penny-gateway/penny/internal/govern"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/promptcache"
	"github.com/penny-gateway/penny/internal/promptpolicy"
	"github.com/penny-gateway/penny/internal/route"
	"github.com/penny-gateway/penny/internal/servicetier"
	"github.com/penny-gateway/penny/internal/templates"
	"github.com/penny-gateway/penny/internal/tracing"
)

// stages holds what the chain is made of, each part built by New.
type stages struct {
	tracer      trace.TracerProvider
	account     account.Options
	templates   *templates.Store
	limiter     *govern.Limiter
	routes      *route.Table
	policy      promptpolicy.Options
	cache       cache.Options
	budget      llm.Stage
	promptCache promptcache.Options
	tier        servicetier.Options
	fallback    fallback.Options
}

// chain is every stage a request passes, outermost first, and the only
// place their order is written. The dispatcher (package dispatch) is
// below the last one.
func chain(s stages) []llm.Stage {
	return []llm.Stage{
		tracing.Stage(s.tracer),                                  // outermost: a span covers all the rest and carries the final cost
		account.Stage(s.account),                                 // prices what every stage below chose and called, failures included
		templates.Stage(s.templates),                             // renders managed templates first, so every later stage sees the real prompt
		s.limiter.Stage(),                                        // rate limits count every request, cache hits too, before any work is done
		route.Stage(s.routes, route.WithLogger(s.policy.Logger)), // picks the model; every stage below sees the chosen one
		promptpolicy.Stage(s.policy),                             // the chosen route's max_tokens and whitespace policy, before the cache key, so normalised prompts share entries
		cache.Stage(s.cache),                                     // exact response cache and coalescing on the chosen model; a hit ends the chain here
		s.budget,                                                 // budgets reserve after the cache, so hits (free) are never charged, and may downgrade the model
		promptcache.Stage(s.promptCache),                         // Bedrock prompt-cache checkpoints on the final model and prompt
		fallback.Stage(s.fallback),                               // each retry is one upstream call, with circuit breakers per model
		servicetier.Stage(s.tier),                                // last: the tier of each upstream call, Flex falling back to default when throttled
	}
}

// routeOverrides finds a request's route in the config, for the stages
// after routing that take per-route policies.
type routeOverrides map[string]*config.Route

func newRouteOverrides(rs []config.Route) routeOverrides {
	o := make(routeOverrides, len(rs))
	for i := range rs {
		o[strings.ToLower(rs[i].Name)] = &rs[i]
	}
	return o
}

// forRoute returns a stage's lookup of one per-route override: the value
// field picks from the request's route, and false when the request went
// through no route or its route does not set it.
func forRoute[T any](o routeOverrides, field func(*config.Route) *T) func(*llm.Request) (T, bool) {
	return func(req *llm.Request) (T, bool) {
		if req.Meta.Route != "" {
			if r, ok := o[strings.ToLower(req.Meta.Route)]; ok {
				if v := field(r); v != nil {
					return *v, true
				}
			}
		}
		var zero T
		return zero, false
	}
}
