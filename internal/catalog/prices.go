package catalog

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/penny-gateway/penny/internal/llm"
)

// Prices are a model's published prices per 1,000,000 tokens, as the data
// file writes them. They are the data's shape, not an API: read the rates
// that apply to a request with Model.Rates and price it with Model.Cost.
//
// The top-level rates are on demand at the default service tier through the
// base model id and its geographic inference profiles (us., eu., apac., jp.,
// which AWS prices at the source region's price).
type Prices struct {
	// Source is the key, in the catalog's sources, of where the prices come
	// from.
	Source  string `yaml:"source"`
	RateSet `yaml:",inline"`
	// BatchInput and BatchOutput are the batch-inference rates.
	// BatchEstimated is true when AWS lists no batch price for the model
	// and they are 50 % of on-demand, AWS's general batch discount.
	BatchInput     Price `yaml:"batch_input"`
	BatchOutput    Price `yaml:"batch_output"`
	BatchEstimated bool  `yaml:"batch_estimated"`
	// LongContext, if set, replaces every rate of a request whose prompt
	// exceeds its threshold.
	LongContext *LongContext `yaml:"long_context"`
	// Global, if set, are the prices through the global. cross-region
	// inference profile; without it a global profile costs what the
	// geographic ones do.
	Global *Endpoint `yaml:"global"`
	// Tiers are the prices of the flex and priority service tiers; a tier
	// the model offers (Capabilities.ServiceTiers) that is missing here, or
	// written as "unknown", has no published price.
	Tiers map[llm.ServiceTier]TierPrices `yaml:"tiers"`
}

// RateSet is the rates of one way of calling a model. Cache writes are
// priced by their time to live: CacheWrite for the default five minutes,
// CacheWrite1h for one hour.
type RateSet struct {
	Input        Price `yaml:"input"`
	Output       Price `yaml:"output"`
	CacheRead    Price `yaml:"cache_read"`
	CacheWrite   Price `yaml:"cache_write"`
	CacheWrite1h Price `yaml:"cache_write_1h"`
}

// LongContext is the rates of a request whose prompt (input, cache read and
// cache write tokens together) exceeds Above tokens: Anthropic bills the
// whole request, output included, at these rates.
type LongContext struct {
	Above   int `yaml:"above"`
	RateSet `yaml:",inline"`
}

// Endpoint is the prices through another endpoint (the global profile),
// with its own long-context rates; their threshold is the model's.
type Endpoint struct {
	RateSet     `yaml:",inline"`
	LongContext *RateSet `yaml:"long_context"`
}

// TierPrices are a service tier's input and output rates. In YAML a tier
// may be written as "unknown".
type TierPrices struct {
	Input  Price `yaml:"input"`
	Output Price `yaml:"output"`
}

// UnmarshalYAML accepts "unknown" for a tier whose prices are not published.
func (t *TierPrices) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == unknownWord {
		*t = TierPrices{}
		return nil
	}
	type plain TierPrices
	return n.Decode((*plain)(t))
}

// Rate is a price in nano-dollars per 1,000,000 tokens.
type Rate int64

// Dollars returns the rate in US dollars per 1M tokens, as a Money.
func (r Rate) Dollars() llm.Money { return llm.Money(r) }

// Price is a Rate that may be unknown: not published, or not set. In YAML
// it is an exact decimal number of dollars, e.g. "0.035", or "unknown".
type Price struct {
	Rate  Rate
	Known bool
}

// Known returns the known price r.
func Known(r Rate) Price { return Price{Rate: r, Known: true} }

const unknownWord = "unknown"

// UnmarshalYAML parses a decimal dollar amount exactly, or "unknown".
func (p *Price) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == unknownWord {
		*p = Price{}
		return nil
	}
	m, err := ParseDollars(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*p = Known(Rate(m))
	return nil
}

// String is the price in dollars per 1M tokens without trailing zeros, or
// "unknown".
func (p Price) String() string {
	if !p.Known {
		return unknownWord
	}
	s := p.Rate.Dollars().String()
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" {
		return "0"
	}
	return s
}

// or returns p if known or already a substitute (unknown with a rate),
// else q's rate marked unknown: a substitute.
func (p Price) or(q Price) Price {
	if p.Known || p.Rate != 0 {
		return p
	}
	return Price{Rate: q.Rate}
}

// each calls f with every price of s and its YAML name.
func (s RateSet) each(f func(name string, p Price) error) error {
	for _, x := range []struct {
		name string
		p    Price
	}{{"input", s.Input}, {"output", s.Output}, {"cache_read", s.CacheRead}, {"cache_write", s.CacheWrite},
		{"cache_write_1h", s.CacheWrite1h}} {
		if err := f(x.name, x.p); err != nil {
			return err
		}
	}
	return nil
}

// validate checks that no price is negative and, for models that answer in
// text, that input and output are known.
func (p *Prices) validate(chat bool) error {
	nonNeg := func(where string) func(string, Price) error {
		return func(name string, x Price) error {
			if x.Rate < 0 {
				return fmt.Errorf("%s%s must not be negative", where, name)
			}
			return nil
		}
	}
	sets := map[string]RateSet{"": p.RateSet}
	if lc := p.LongContext; lc != nil {
		if lc.Above <= 0 {
			return fmt.Errorf("long_context.above must be a positive number of tokens")
		}
		sets["long_context."] = lc.RateSet
	}
	if g := p.Global; g != nil {
		sets["global."] = g.RateSet
		if g.LongContext != nil {
			if p.LongContext == nil {
				return fmt.Errorf("global.long_context needs long_context (its threshold)")
			}
			sets["global.long_context."] = *g.LongContext
		}
	}
	for where, s := range sets {
		if err := s.each(nonNeg(where)); err != nil {
			return err
		}
	}
	if p.BatchInput.Rate < 0 || p.BatchOutput.Rate < 0 {
		return fmt.Errorf("batch prices must not be negative")
	}
	for tier, tp := range p.Tiers {
		if tier != llm.TierFlex && tier != llm.TierPriority {
			return fmt.Errorf("tiers: %q is not flex or priority (default is the base price; reserved is priced per tokens-per-minute, not per token)", tier)
		}
		if tp.Input.Rate < 0 || tp.Output.Rate < 0 {
			return fmt.Errorf("tiers.%s: prices must not be negative", tier)
		}
	}
	if !p.Input.Known {
		return fmt.Errorf("input price is required")
	}
	if chat && !p.Output.Known {
		return fmt.Errorf("output price is required for a chat model")
	}
	return nil
}
