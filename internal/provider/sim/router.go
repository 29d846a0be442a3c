package sim

import (
	"strings"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// route plays Bedrock Intelligent Prompt Routing: it picks the cheaper
// model of the router's family for simple prompts and the stronger one for
// complex prompts (a long-answer request, a long prompt, code, tools in
// play, or a long conversation). A custom router's ARN has an opaque id, so
// the simulator knows it only if the id names a family.
func (p *Provider) route(arn string, req *llm.Request) (*catalog.Model, error) {
	models, known := p.cat.PromptRouterModels(arn)
	if !known {
		return nil, notFound("The prompt router %s is unknown to the simulator: it knows the default routers "+
			"for anthropic.claude, meta.llama and amazon.nova, or a router id that names one of them.", arn)
	}
	if p.complex(req) {
		return models[1], nil
	}
	return models[0], nil
}

// complex reports whether a router should send req to the stronger model.
func (p *Provider) complex(req *llm.Request) bool {
	prompt := req.LastUserText()
	switch {
	case classify(prompt) == sizeLong:
		return true
	case strings.Contains(prompt, "```"):
		return true
	case req.Tools != nil && len(req.Tools.Tools) > 0:
		return true
	case len(req.Messages) > 6:
		return true
	}
	return p.counter.Count(prompt) > 400
}
