package sim

import (
	"strings"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// routerFamilies are the model pairs of Bedrock's default prompt routers,
// by the family name in the router ARN (e.g.
// arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1),
// as catalog ids: the cheaper model first.
var routerFamilies = []struct {
	family        string
	simple, heavy string
}{
	{"anthropic.claude", "claude-3-5-haiku", "claude-3-7-sonnet"},
	{"meta.llama", "llama3-1-8b", "llama3-1-70b"},
	{"amazon.nova", "nova-lite", "nova-pro"},
}

// route plays Bedrock Intelligent Prompt Routing: it picks the cheaper
// model of the router's family for simple prompts and the stronger one for
// complex prompts (a long-answer request, a long prompt, code, tools in
// play, or a long conversation). A custom router's ARN has an opaque id, so
// the simulator knows it only if the id names a family.
func (p *Provider) route(arn string, req *llm.Request) (*catalog.Model, error) {
	id := strings.ToLower(arn)
	if i := strings.LastIndex(id, "/"); i >= 0 {
		id = id[i+1:]
	}
	for _, f := range routerFamilies {
		short := f.family[strings.Index(f.family, ".")+1:] // "claude", "llama", "nova"
		if !strings.Contains(id, f.family) && !strings.Contains(id, short) {
			continue
		}
		pick := f.simple
		if p.complex(req) {
			pick = f.heavy
		}
		t, err := p.cat.Resolve(pick)
		if err != nil || t.Model == nil {
			return nil, notFound("The prompt router %s routes to %s, which is not in Penny's catalog.", arn, pick)
		}
		return t.Model, nil
	}
	return nil, notFound("The prompt router %s is unknown to the simulator: it knows the default routers "+
		"for anthropic.claude, meta.llama and amazon.nova, or a router id that names one of them.", arn)
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
