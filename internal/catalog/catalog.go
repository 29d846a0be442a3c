// Package catalog knows Penny's Bedrock models, their capabilities, prices
// and lifecycle, and owns all money math: the cost of a Usage under the
// Terms a request was served on. The built-in catalog is an embedded data
// file; a user file can override (merge into) or add models.
package catalog

import (
	_ "embed"
	"fmt"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/penny-gateway/penny/internal/llm"
)

//go:embed models.yaml
var builtinYAML []byte

// Tier is a model's capability and price class, cheapest first.
type Tier string

const (
	TierEconomy  Tier = "economy"
	TierStandard Tier = "standard"
	TierPremium  Tier = "premium"
	TierFrontier Tier = "frontier"
)

// Rank orders tiers: economy 1 … frontier 4, unknown 0.
func (t Tier) Rank() int {
	switch t {
	case TierEconomy:
		return 1
	case TierStandard:
		return 2
	case TierPremium:
		return 3
	case TierFrontier:
		return 4
	}
	return 0
}

// Model is one catalog entry.
type Model struct {
	// ID is Penny's short name, e.g. "nova-micro".
	ID     string `yaml:"id"`
	Name   string `yaml:"name"`
	Vendor string `yaml:"vendor"`
	// BedrockID is the base model id sent to Bedrock.
	BedrockID string   `yaml:"bedrock_id"`
	Aliases   []string `yaml:"aliases"`
	// InferenceProfiles lists the geographic prefixes ("us", "eu", "apac",
	// "jp", "global") of cross-region inference profiles for this model.
	InferenceProfiles []string `yaml:"inference_profiles"`
	// RequiresProfile is true when Bedrock serves the model on demand only
	// through a cross-region inference profile.
	RequiresProfile bool `yaml:"requires_profile"`
	Tier            Tier `yaml:"tier"`
	// ContextWindow and MaxOutputTokens are in tokens; 0 is unknown.
	ContextWindow   int          `yaml:"context_window"`
	MaxOutputTokens int          `yaml:"max_output_tokens"`
	Capabilities    Capabilities `yaml:"capabilities"`
	Prices          Prices       `yaml:"prices"`
	Lifecycle       Lifecycle    `yaml:"lifecycle"`
	Performance     Performance  `yaml:"performance"`
	// Sources are the keys, in the catalog's sources, of where the model's
	// facts (ids, profiles, limits, capabilities) come from.
	Sources []string `yaml:"sources"`
	// Provider names the upstream that serves this model ("bedrock" by
	// default; a config may point a model at an OpenAI-compatible upstream).
	Provider string `yaml:"provider"`
}

// Capabilities says what a model can do.
type Capabilities struct {
	Chat       bool `yaml:"chat"`
	Embeddings bool `yaml:"embeddings"`
	Streaming  bool `yaml:"streaming"`
	Tools      bool `yaml:"tools"`
	Images     bool `yaml:"images"`
	Documents  bool `yaml:"documents"`
	Batch      bool `yaml:"batch"`
	// ServiceTiers lists the service tiers besides default that Bedrock
	// offers for the model ("flex", "priority", "reserved").
	ServiceTiers []llm.ServiceTier `yaml:"service_tiers"`
	// PromptCache is nil when the model has no Bedrock prompt caching.
	PromptCache *PromptCache `yaml:"prompt_cache"`
}

// OffersTier reports whether Bedrock serves m at tier; the default tier
// ("" or "default") always.
func (c Capabilities) OffersTier(tier llm.ServiceTier) bool {
	if tier == "" || tier == llm.TierDefault {
		return true
	}
	for _, t := range c.ServiceTiers {
		if t == tier {
			return true
		}
	}
	return false
}

// PromptCache describes Bedrock prompt caching for a model.
type PromptCache struct {
	// MinTokens is the minimum prefix length, in tokens, for a checkpoint.
	MinTokens      int `yaml:"min_tokens"`
	MaxCheckpoints int `yaml:"max_checkpoints"`
	// TTLs are the cache lifetimes a checkpoint may ask for ("5m", "1h");
	// empty means only the default five minutes.
	TTLs []string `yaml:"ttls"`
}

// Performance holds typical latency figures, used by the simulator. They
// are estimates from public benchmarks, not AWS guarantees.
type Performance struct {
	TTFTMillis      int `yaml:"ttft_ms"`
	OutputTokensSec int `yaml:"output_tokens_per_sec"`
}

// TTFT returns the typical time to first token.
func (p Performance) TTFT() time.Duration { return time.Duration(p.TTFTMillis) * time.Millisecond }

// Source is where catalog facts come from.
type Source struct {
	Title string `yaml:"title" json:"title"`
	URL   string `yaml:"url" json:"url,omitempty"`
	// AsOf is the date (YYYY-MM-DD) the source was read.
	AsOf string `yaml:"as_of" json:"as_of"`
	// Note qualifies the source, e.g. that it is secondary and to verify.
	Note string `yaml:"note" json:"note,omitempty"`
}

// Catalog is a set of models with lookup by every name Bedrock or a user
// may use for them. It is immutable after loading and safe for concurrent use.
type Catalog struct {
	Source string
	AsOf   string
	// Sources are the catalog's sources by key.
	Sources map[string]Source
	models  []*Model
	byName  map[string]*Model
	// raw holds each model's YAML mapping by id, so that a user file's
	// entry can be merged into it.
	raw map[string]*yaml.Node
}

// Builtin returns the embedded catalog.
func Builtin() (*Catalog, error) {
	c, err := Parse(builtinYAML)
	if err != nil {
		return nil, fmt.Errorf("built-in catalog: %w", err)
	}
	return c, nil
}

// MustBuiltin is Builtin for tests and program start-up; it panics on a
// broken embedded file, which the tests of this package rule out.
func MustBuiltin() *Catalog {
	c, err := Builtin()
	if err != nil {
		panic(err)
	}
	return c
}

// Models returns every model, in catalog order.
func (c *Catalog) Models() []*Model { return c.models }

// Sorted returns every model ordered by tier, then input price, then id.
func (c *Catalog) Sorted() []*Model {
	out := append([]*Model(nil), c.models...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Tier.Rank() != b.Tier.Rank() {
			return a.Tier.Rank() < b.Tier.Rank()
		}
		if a.Prices.Input.Rate != b.Prices.Input.Rate {
			return a.Prices.Input.Rate < b.Prices.Input.Rate
		}
		return a.ID < b.ID
	})
	return out
}
