// Package catalog knows Penny's Bedrock models, their capabilities and
// prices, and owns all money math: the cost of a Usage under a consumption
// mode. The built-in catalog is an embedded data file; a user file can
// override or add models.
package catalog

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
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
	// "global") of cross-region inference profiles for this model.
	InferenceProfiles []string `yaml:"inference_profiles"`
	// RequiresProfile is true when Bedrock serves the model on demand only
	// through a cross-region inference profile.
	RequiresProfile bool         `yaml:"requires_profile"`
	Tier            Tier         `yaml:"tier"`
	ContextWindow   int          `yaml:"context_window"`
	MaxOutputTokens int          `yaml:"max_output_tokens"`
	Capabilities    Capabilities `yaml:"capabilities"`
	Prices          Prices       `yaml:"prices"`
	Performance     Performance  `yaml:"performance"`
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
	// PromptCache is nil when the model has no Bedrock prompt caching.
	PromptCache *PromptCache `yaml:"prompt_cache"`
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

// Performance holds typical latency figures, used by the simulator.
type Performance struct {
	TTFTMillis      int `yaml:"ttft_ms"`
	OutputTokensSec int `yaml:"output_tokens_per_sec"`
}

// TTFT returns the typical time to first token.
func (p Performance) TTFT() time.Duration { return time.Duration(p.TTFTMillis) * time.Millisecond }

// Prices are per 1,000,000 tokens.
type Prices struct {
	Input       Rate `yaml:"input"`
	Output      Rate `yaml:"output"`
	BatchInput  Rate `yaml:"batch_input"`
	BatchOutput Rate `yaml:"batch_output"`
	CacheRead   Rate `yaml:"cache_read"`
	CacheWrite  Rate `yaml:"cache_write"`
	// BatchEstimated is true when AWS lists no batch price for the model and
	// the batch rates are 50 % of on-demand.
	BatchEstimated bool `yaml:"batch_estimated"`
}

// Rate is a price in nano-dollars per 1,000,000 tokens. In YAML it is
// written as an exact decimal number of dollars, e.g. "0.035".
type Rate int64

// UnmarshalYAML parses a decimal dollar amount exactly.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	m, err := ParseDollars(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*r = Rate(m)
	return nil
}

// Dollars returns the rate in US dollars per 1M tokens, as a Money.
func (r Rate) Dollars() llm.Money { return llm.Money(r) }

// Catalog is a set of models with lookup by every name Bedrock or a user
// may use for them. It is immutable after loading and safe for concurrent use.
type Catalog struct {
	Source string
	AsOf   string
	models []*Model
	byName map[string]*Model
}

type file struct {
	Source string   `yaml:"source"`
	AsOf   string   `yaml:"as_of"`
	Models []*Model `yaml:"models"`
}

// Builtin returns the embedded catalog.
func Builtin() (*Catalog, error) {
	c, err := parse(builtinYAML)
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

// Load returns the built-in catalog with the models of a user file merged
// in: a model whose id exists replaces the built-in entry, others are added.
// The file is decoded strictly: unknown keys are errors.
func Load(path string) (*Catalog, error) {
	base, err := Builtin()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return base, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	user, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return base.Merge(user)
}

// Merge returns a catalog with other's models replacing or added to c's.
func (c *Catalog) Merge(other *Catalog) (*Catalog, error) {
	byID := map[string]*Model{}
	var order []string
	for _, m := range c.models {
		byID[m.ID] = m
		order = append(order, m.ID)
	}
	for _, m := range other.models {
		if _, ok := byID[m.ID]; !ok {
			order = append(order, m.ID)
		}
		byID[m.ID] = m
	}
	models := make([]*Model, 0, len(order))
	for _, id := range order {
		models = append(models, byID[id])
	}
	out := &Catalog{Source: c.Source, AsOf: c.AsOf}
	if other.Source != "" {
		out.Source = c.Source + "; " + other.Source
	}
	return out, out.index(models)
}

func parse(data []byte) (*Catalog, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	c := &Catalog{Source: f.Source, AsOf: f.AsOf}
	return c, c.index(f.Models)
}

// index validates models and builds the name index.
func (c *Catalog) index(models []*Model) error {
	c.models = models
	c.byName = map[string]*Model{}
	add := func(name string, m *Model) error {
		key := strings.ToLower(name)
		if prev, ok := c.byName[key]; ok && prev != m {
			return fmt.Errorf("name %q is used by both %s and %s", name, prev.ID, m.ID)
		}
		c.byName[key] = m
		return nil
	}
	for i, m := range models {
		if m == nil || m.ID == "" {
			return fmt.Errorf("models[%d]: id is required", i)
		}
		if m.BedrockID == "" && m.Provider == "" {
			return fmt.Errorf("model %s: bedrock_id is required", m.ID)
		}
		if m.Tier.Rank() == 0 {
			return fmt.Errorf("model %s: tier %q is not one of economy, standard, premium, frontier", m.ID, m.Tier)
		}
		if m.Provider == "" {
			m.Provider = "bedrock"
		}
		if m.Prices.Input < 0 || m.Prices.Output < 0 || m.Prices.BatchInput < 0 || m.Prices.BatchOutput < 0 ||
			m.Prices.CacheRead < 0 || m.Prices.CacheWrite < 0 {
			return fmt.Errorf("model %s: prices must not be negative", m.ID)
		}
		names := append([]string{m.ID}, m.Aliases...)
		if m.BedrockID != "" {
			names = append(names, m.BedrockID)
			for _, geo := range m.InferenceProfiles {
				names = append(names, geo+"."+m.BedrockID)
			}
		}
		for _, n := range names {
			if err := add(n, m); err != nil {
				return err
			}
		}
	}
	return nil
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
		if a.Prices.Input != b.Prices.Input {
			return a.Prices.Input < b.Prices.Input
		}
		return a.ID < b.ID
	})
	return out
}
