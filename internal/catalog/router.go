package catalog

import "strings"

// promptRouters are the model pairs of Bedrock's default prompt routers,
// by the family name in the router ARN (e.g.
// arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1),
// as catalog ids, the cheaper model first. Source: AWS, "Understanding
// intelligent prompt routing" (the default routers' model pairs).
var promptRouters = []struct {
	family        string
	simple, heavy string
}{
	{"anthropic.claude", "claude-3-5-haiku", "claude-3-7-sonnet"},
	{"meta.llama", "llama3-1-8b", "llama3-1-70b"},
	{"amazon.nova", "nova-lite", "nova-pro"},
}

// PromptRouterModels returns the models a Bedrock prompt router may answer
// with, cheaper first, for a router ARN or id. known is false when the
// router's pair is not known (a custom router whose id names no family):
// then models are every chat model of the vendor the id names, or of the
// whole catalog when it names none, so that a caller reserving "the dearest
// it may choose" never reserves too little.
func (c *Catalog) PromptRouterModels(arn string) (models []*Model, known bool) {
	id := strings.ToLower(arn)
	if i := strings.LastIndex(id, "/"); i >= 0 {
		id = id[i+1:]
	}
	for _, f := range promptRouters {
		short := f.family[strings.Index(f.family, ".")+1:] // "claude", "llama", "nova"
		if !strings.Contains(id, f.family) && !strings.Contains(id, short) {
			continue
		}
		for _, name := range []string{f.simple, f.heavy} {
			if m, ok := c.byName[name]; ok {
				models = append(models, m)
			}
		}
		if len(models) == 2 {
			return models, true
		}
		models = nil
	}
	vendor := ""
	for _, v := range []string{"anthropic", "meta", "amazon", "mistral", "cohere", "deepseek", "qwen", "openai"} {
		if strings.Contains(id, v) {
			vendor = v
		}
	}
	for _, m := range c.Sorted() {
		if m.Capabilities.Chat && (vendor == "" || m.Vendor == vendor) {
			models = append(models, m)
		}
	}
	return models, false
}
