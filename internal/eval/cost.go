package eval

import (
	"fmt"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// Pricing prices a dataset's prompts on a cheap and a strong Bedrock model
// from the catalog, on demand and uncached.
type Pricing struct {
	Cheap, Strong *catalog.Model
}

// NewPricing looks up the two models by any name the catalog resolves.
func NewPricing(cat *catalog.Catalog, cheap, strong string) (Pricing, error) {
	c, err := cat.Resolve(cheap)
	if err != nil {
		return Pricing{}, fmt.Errorf("cheap model: %w", err)
	}
	s, err := cat.Resolve(strong)
	if err != nil {
		return Pricing{}, fmt.Errorf("strong model: %w", err)
	}
	if c.Model == nil || s.Model == nil {
		return Pricing{}, fmt.Errorf("a prompt router has no price of its own; name catalog models")
	}
	return Pricing{Cheap: c.Model, Strong: s.Model}, nil
}

// Costs prices every item of d on both models. The data holds no token
// counts, so they are estimated: prompt tokens at 4 bytes a token, output
// tokens from the item or else d.OutputTokens. With Bedrock's prices the
// ratio of the two models' costs hardly depends on these estimates; they
// only weigh long prompts more than short ones.
func (p Pricing) Costs(d *Dataset) Costs {
	if p.Cheap == nil || p.Strong == nil {
		return Costs{}
	}
	c := Costs{Cheap: make([]llm.Money, len(d.Items)), Strong: make([]llm.Money, len(d.Items))}
	for i, it := range d.Items {
		in := (len(it.Prompt) + 3) / 4
		out := func(n int) int {
			if n > 0 {
				return n
			}
			return d.OutputTokens
		}
		c.Cheap[i] = p.Cheap.BaselineCost(llm.Usage{InputTokens: in, OutputTokens: out(it.CheapTokens)})
		c.Strong[i] = p.Strong.BaselineCost(llm.Usage{InputTokens: in, OutputTokens: out(it.StrongTokens)})
	}
	return c
}
