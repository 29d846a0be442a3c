package main

import (
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// modelJSON is one model of `penny models --format json`: every catalog
// field, prices as exact decimal strings ("unknown" where not published).
type modelJSON struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	Vendor            string   `json:"vendor,omitempty"`
	BedrockID         string   `json:"bedrock_id"`
	Aliases           []string `json:"aliases,omitempty"`
	InferenceProfiles []string `json:"inference_profiles,omitempty"`
	RequiresProfile   bool     `json:"requires_profile"`
	Provider          string   `json:"provider"`
	Tier              string   `json:"tier"`
	ContextWindow     int      `json:"context_window"`
	MaxOutputTokens   int      `json:"max_output_tokens,omitempty"`
	Capabilities      capsJSON `json:"capabilities"`
	// PricesPerMillion is the flat on-demand summary kept for scripts.
	PricesPerMillion map[string]string `json:"prices_usd_per_million_tokens"`
	Pricing          pricingJSON       `json:"pricing"`
	Lifecycle        lifecycleJSON     `json:"lifecycle"`
	Performance      perfJSON          `json:"performance"`
	Sources          []sourceJSON      `json:"sources"`
}

// capsJSON is catalog.Capabilities with the catalog file's snake_case keys.
type capsJSON struct {
	Chat         bool              `json:"chat"`
	Embeddings   bool              `json:"embeddings"`
	Streaming    bool              `json:"streaming"`
	Tools        bool              `json:"tools"`
	Images       bool              `json:"images"`
	Documents    bool              `json:"documents"`
	Batch        bool              `json:"batch"`
	ServiceTiers []llm.ServiceTier `json:"service_tiers"`
	PromptCache  *promptCacheJSON  `json:"prompt_cache"`
}

type promptCacheJSON struct {
	MinTokens      int      `json:"min_tokens"`
	MaxCheckpoints int      `json:"max_checkpoints"`
	TTLs           []string `json:"ttls"`
}

type ratesJSON struct {
	Input        string `json:"input"`
	Output       string `json:"output"`
	CacheRead    string `json:"cache_read"`
	CacheWrite   string `json:"cache_write_5m"`
	CacheWrite1h string `json:"cache_write_1h"`
}

type pricingJSON struct {
	Source      string                       `json:"source"`
	OnDemand    ratesJSON                    `json:"on_demand"`
	Global      *ratesJSON                   `json:"global,omitempty"`
	LongContext *longJSON                    `json:"long_context,omitempty"`
	Batch       batchJSON                    `json:"batch"`
	Tiers       map[llm.ServiceTier]tierJSON `json:"tiers,omitempty"`
}

type longJSON struct {
	AboveTokens int        `json:"above_prompt_tokens"`
	Rates       ratesJSON  `json:"rates"`
	Global      *ratesJSON `json:"global,omitempty"`
}

type batchJSON struct {
	Input     string `json:"input"`
	Output    string `json:"output"`
	Estimated bool   `json:"estimated"`
}

type tierJSON struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

type lifecycleJSON struct {
	Status      catalog.Status `json:"status"`
	LegacySince string         `json:"legacy_since,omitempty"`
	Retires     string         `json:"retires,omitempty"`
	Replacement string         `json:"replacement,omitempty"`
	Source      string         `json:"source,omitempty"`
}

type perfJSON struct {
	TTFTMillis      int `json:"ttft_ms"`
	OutputTokensSec int `json:"output_tokens_per_sec"`
}

type sourceJSON struct {
	Key string `json:"key"`
	catalog.Source
}

func toRatesJSON(r catalog.Rates) ratesJSON {
	return ratesJSON{Input: r.Input.String(), Output: r.Output.String(), CacheRead: r.CacheRead.String(),
		CacheWrite: r.CacheWrite.String(), CacheWrite1h: r.CacheWrite1h.String()}
}

// listed returns the rates of t with substitutes shown as "unknown".
func listed(m *catalog.Model, t catalog.Terms) ratesJSON {
	r := m.Rates(t)
	for _, p := range []*catalog.Price{&r.Input, &r.Output, &r.CacheRead, &r.CacheWrite, &r.CacheWrite1h} {
		if !p.Known {
			*p = catalog.Price{}
		}
	}
	return toRatesJSON(r)
}

func toPricingJSON(m *catalog.Model) pricingJSON {
	p := m.Prices
	out := pricingJSON{Source: p.Source, OnDemand: listed(m, catalog.Terms{}),
		Batch: batchJSON{Input: p.BatchInput.String(), Output: p.BatchOutput.String(), Estimated: p.BatchEstimated}}
	if p.Global != nil {
		g := listed(m, catalog.Terms{Global: true})
		out.Global = &g
	}
	if lc := p.LongContext; lc != nil {
		out.LongContext = &longJSON{AboveTokens: lc.Above, Rates: listed(m, catalog.Terms{LongContext: true})}
		if p.Global != nil {
			g := listed(m, catalog.Terms{LongContext: true, Global: true})
			out.LongContext.Global = &g
		}
	}
	for _, t := range m.Capabilities.ServiceTiers {
		if t == llm.TierReserved {
			continue
		}
		if out.Tiers == nil {
			out.Tiers = map[llm.ServiceTier]tierJSON{}
		}
		tp := p.Tiers[t]
		out.Tiers[t] = tierJSON{Input: tp.Input.String(), Output: tp.Output.String()}
	}
	return out
}

func modelsJSON(cat *catalog.Catalog, now time.Time) any {
	out := []modelJSON{}
	for _, m := range cat.Sorted() {
		c := m.Capabilities
		cj := capsJSON{Chat: c.Chat, Embeddings: c.Embeddings, Streaming: c.Streaming, Tools: c.Tools,
			Images: c.Images, Documents: c.Documents, Batch: c.Batch, ServiceTiers: c.ServiceTiers}
		if pc := c.PromptCache; pc != nil {
			ttls := pc.TTLs
			if len(ttls) == 0 {
				ttls = []string{"5m"}
			}
			cj.PromptCache = &promptCacheJSON{MinTokens: pc.MinTokens, MaxCheckpoints: pc.MaxCheckpoints, TTLs: ttls}
		}
		r, p := m.Rates(catalog.Terms{}), m.Prices
		l := m.Lifecycle
		var srcs []sourceJSON
		for _, k := range append(append([]string(nil), m.Sources...), p.Source, l.Source) {
			if s, ok := cat.Sources[k]; ok && !hasKey(srcs, k) {
				srcs = append(srcs, sourceJSON{Key: k, Source: s})
			}
		}
		out = append(out, modelJSON{ID: m.ID, Name: m.Name, Vendor: m.Vendor, BedrockID: m.BedrockID, Aliases: m.Aliases,
			InferenceProfiles: m.InferenceProfiles, RequiresProfile: m.RequiresProfile, Provider: m.Provider,
			Tier: string(m.Tier), ContextWindow: m.ContextWindow, MaxOutputTokens: m.MaxOutputTokens, Capabilities: cj,
			PricesPerMillion: map[string]string{"input": r.Input.String(), "output": r.Output.String(),
				"batch_input": p.BatchInput.String(), "batch_output": p.BatchOutput.String(),
				"cache_read": p.CacheRead.String(), "cache_write": p.CacheWrite.String(), "cache_write_1h": p.CacheWrite1h.String()},
			Pricing: toPricingJSON(m),
			Lifecycle: lifecycleJSON{Status: m.Status(now), LegacySince: l.LegacySince.String(), Retires: l.Retires.String(),
				Replacement: l.Replacement, Source: l.Source},
			Performance: perfJSON(m.Performance), Sources: srcs})
	}
	return map[string]any{"source": cat.Source, "as_of": cat.AsOf, "models": out}
}

func hasKey(srcs []sourceJSON, k string) bool {
	for _, s := range srcs {
		if s.Key == k {
			return true
		}
	}
	return false
}
