package catalog

import (
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

// Every built-in model names where its facts, prices and lifecycle come
// from, and every source has a date.
func TestBuiltinSources(t *testing.T) {
	c := MustBuiltin()
	for k, s := range c.Sources {
		if s.Title == "" || s.AsOf == "" {
			t.Errorf("source %s has no title or date", k)
		}
	}
	for _, m := range c.Models() {
		if len(m.Sources) == 0 || m.Prices.Source == "" {
			t.Errorf("%s: no sources for its facts or prices", m.ID)
		}
		if m.Lifecycle.Status != "" && m.Lifecycle.Source == "" {
			t.Errorf("%s: lifecycle %s without a source", m.ID, m.Lifecycle.Status)
		}
		if m.Capabilities.Chat && m.Performance.OutputTokensSec <= 0 {
			t.Errorf("%s: chat model without simulator performance figures", m.ID)
		}
		for _, tier := range m.Capabilities.ServiceTiers {
			if _, ok := m.Prices.Tiers[tier]; !ok && tier != llm.TierReserved {
				t.Errorf("%s: tier %s offered but its price is neither given nor marked unknown", m.ID, tier)
			}
		}
	}
}

// Hand-computed from the catalog's prices (USD per 1M tokens).
func TestCostTerms(t *testing.T) {
	c := MustBuiltin()
	cases := []struct {
		name  string
		model string
		usage llm.Usage
		terms Terms
		want  string
		exact bool
	}{
		// 1000 × 3.3 + 500 × 16.5 (regional: list price + 10 %)
		{"sonnet 4.5 regional", "claude-sonnet-4-5", llm.Usage{InputTokens: 1000, OutputTokens: 500}, Terms{}, "0.011550", true},
		// 1000 × 3 + 500 × 15 (global: list price)
		{"sonnet 4.5 global", "claude-sonnet-4-5", llm.Usage{InputTokens: 1000, OutputTokens: 500}, Terms{Global: true}, "0.010500", true},
		// 100 × 3.3 + 10000 × 0.33 read + 2000 × 4.125 5m write + 1000 × 6.6 1h write + 200 × 16.5
		{"cache TTLs", "claude-sonnet-4-5", llm.Usage{InputTokens: 100, CacheReadTokens: 10000, CacheWriteTokens: 3000,
			CacheWrite1hTokens: 1000, OutputTokens: 200}, Terms{}, "0.021780", true},
		// Global 1h write: 1000 × 2 (Haiku 4.5 list 1h write)
		{"haiku 4.5 global 1h write", "claude-haiku-4-5", llm.Usage{CacheWriteTokens: 1000, CacheWrite1hTokens: 1000}, Terms{Global: true}, "0.002000", true},
		// A prompt of exactly 200K is not long: 200000 × 3.3 + 1000 × 16.5
		{"200K is standard", "claude-sonnet-4-5", llm.Usage{InputTokens: 200_000, OutputTokens: 1000}, Terms{}, "0.676500", true},
		// Above 200K the whole request is long-context: 250000 × 6.6 + 1000 × 24.75
		{"long context", "claude-sonnet-4-5", llm.Usage{InputTokens: 250_000, OutputTokens: 1000}, Terms{}, "1.674750", true},
		// Cache reads count toward the prompt: 1000 × 6 + 250000 × 0.6 + 100 × 22.5, global
		{"long context global, cached", "claude-sonnet-4-5", llm.Usage{InputTokens: 1000, CacheReadTokens: 250_000, OutputTokens: 100},
			Terms{Global: true}, "0.158250", true},
		// Batch is 50 % of on-demand, which the catalog marks as an estimate
		{"sonnet 4.5 batch estimated", "claude-sonnet-4-5", llm.Usage{InputTokens: 1000, OutputTokens: 1000}, Terms{Mode: llm.ModeBatch}, "0.009900", false},
		// Long-context batch: half of 6.6, an estimate
		{"long batch", "claude-sonnet-4-5", llm.Usage{InputTokens: 300_000}, Terms{Mode: llm.ModeBatch}, "0.990000", false},
		// Published batch price: 1000 × 0.0175 + 1000 × 0.07
		{"nova micro batch published", "nova-micro", llm.Usage{InputTokens: 1000, OutputTokens: 1000}, Terms{Mode: llm.ModeBatch}, "0.0000875", true},
		// Batch jobs do not use the prompt cache: cache tokens at the batch input rate
		{"batch cache tokens", "nova-pro", llm.Usage{CacheReadTokens: 1000}, Terms{Mode: llm.ModeBatch}, "0.000400", true},
		// Flex and priority are offered for Nova Pro, their prices unknown:
		// default-tier rates, flagged. 1000 × 0.8 + 500 × 3.2
		{"nova pro default", "nova-pro", llm.Usage{InputTokens: 1000, OutputTokens: 500}, Terms{Tier: llm.TierDefault}, "0.002400", true},
		{"nova pro flex unknown", "nova-pro", llm.Usage{InputTokens: 1000, OutputTokens: 500}, Terms{Tier: llm.TierFlex}, "0.002400", false},
		{"nova pro priority unknown", "nova-pro", llm.Usage{InputTokens: 1000, OutputTokens: 500}, Terms{Tier: llm.TierPriority}, "0.002400", false},
		{"reserved is paid per TPM", "nova-pro", llm.Usage{InputTokens: 1000, OutputTokens: 500}, Terms{Tier: llm.TierReserved}, "0.000000", true},
		{"provisioned is paid per hour", "claude-sonnet-4-5", llm.Usage{InputTokens: 1000}, Terms{Mode: llm.ModeProvisioned}, "0.000000", true},
		// Nova has no 1-hour TTL: the 5-minute write rate stands in, flagged
		{"1h write without 1h price", "nova-pro", llm.Usage{CacheWriteTokens: 1000, CacheWrite1hTokens: 1000}, Terms{}, "0.000800", false},
		// Llama has no prompt cache: cache reads at the input rate, flagged
		{"cache read without price", "llama3-1-8b", llm.Usage{CacheReadTokens: 1000}, Terms{}, "0.000220", false},
		// No cache tokens, no cache price needed
		{"no cache tokens", "llama3-1-8b", llm.Usage{InputTokens: 1000, OutputTokens: 1000}, Terms{}, "0.000440", true},
		// Older Claude: one price on every endpoint
		{"opus 4.1", "claude-opus-4-1", llm.Usage{InputTokens: 1000, OutputTokens: 1000}, Terms{}, "0.090000", true},
		{"sonnet 4 global same price", "claude-sonnet-4", llm.Usage{InputTokens: 1000, OutputTokens: 1000}, Terms{Global: true}, "0.018000", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, exact := c.mustModel(t, tc.model).Cost(tc.usage, tc.terms)
			if got.String() != tc.want || exact != tc.exact {
				t.Errorf("Cost = %s (exact %v), want %s (exact %v)", got, exact, tc.want, tc.exact)
			}
		})
	}
}

// A tier with a published price, and long-context rates missing for one
// endpoint, in a user's own model.
func TestRatesSubstitutes(t *testing.T) {
	m := &Model{Prices: Prices{
		RateSet:     RateSet{Input: Known(2_000_000_000), Output: Known(4_000_000_000), CacheRead: Known(200_000_000)},
		LongContext: &LongContext{Above: 100, RateSet: RateSet{Input: Known(3_000_000_000)}},
		Global:      &Endpoint{RateSet: RateSet{Input: Known(1_800_000_000), Output: Known(3_600_000_000)}},
		Tiers:       map[llm.ServiceTier]TierPrices{llm.TierFlex: {Input: Known(1_000_000_000), Output: Known(2_000_000_000)}},
	}}
	cases := []struct {
		name  string
		usage llm.Usage
		terms Terms
		want  string
		exact bool
	}{
		{"flex published", llm.Usage{InputTokens: 50, OutputTokens: 50}, Terms{Tier: llm.TierFlex}, "0.000150", true},
		{"flex cache read falls back to default", llm.Usage{CacheReadTokens: 50}, Terms{Tier: llm.TierFlex}, "0.000010", false},
		// Above the threshold the tier's long-context price is not given.
		{"flex long", llm.Usage{InputTokens: 1_000_000}, Terms{Tier: llm.TierFlex}, "3.000000", false},
		// Long-context output is not given: the standard output rate, flagged.
		{"long output missing", llm.Usage{InputTokens: 200, OutputTokens: 1_000_000}, Terms{}, "4.000600", false},
		{"long input given", llm.Usage{InputTokens: 1_000_000}, Terms{}, "3.000000", true},
		// The global endpoint has no long-context rates: the regional ones, flagged.
		{"global long missing", llm.Usage{InputTokens: 1_000_000}, Terms{Global: true}, "3.000000", false},
		// Global cache read is not given: the regional one, flagged.
		{"global cache read missing", llm.Usage{CacheReadTokens: 50}, Terms{Global: true}, "0.000010", false},
	}
	for _, tc := range cases {
		got, exact := m.Cost(tc.usage, tc.terms)
		if got.String() != tc.want || exact != tc.exact {
			t.Errorf("%s: Cost = %s (exact %v), want %s (exact %v)", tc.name, got, exact, tc.want, tc.exact)
		}
	}
}

// From Claude Sonnet 4.5 on, regional endpoints cost 10 % more than
// global on every rate (Anthropic: "Regional endpoints include a 10%
// pricing premium over global endpoints").
func TestRegionalPremium(t *testing.T) {
	for _, m := range MustBuiltin().Models() {
		g := m.Prices.Global
		if g == nil {
			continue
		}
		pairs := [][2]RateSet{{m.Prices.RateSet, g.RateSet}}
		if g.LongContext != nil {
			pairs = append(pairs, [2]RateSet{m.Prices.LongContext.RateSet, *g.LongContext})
		}
		for _, p := range pairs {
			regional, global := Rates(p[0]), Rates(p[1])
			for i, r := range []Price{regional.Input, regional.Output, regional.CacheRead, regional.CacheWrite, regional.CacheWrite1h} {
				gl := []Price{global.Input, global.Output, global.CacheRead, global.CacheWrite, global.CacheWrite1h}[i]
				if r.Known != gl.Known || r.Rate*10 != gl.Rate*11 {
					t.Errorf("%s: regional rate %d is %s, global %s: want 110 %%", m.ID, i, r, gl)
				}
			}
		}
	}
}

func TestBaselineCostLongContext(t *testing.T) {
	m := MustBuiltin().mustModel(t, "claude-sonnet-4-5")
	// Baseline: no cache, regional, on demand: 2000 × 3.3
	if got := m.BaselineCost(llm.Usage{InputTokens: 1000, CacheReadTokens: 1000}); got.String() != "0.006600" {
		t.Errorf("baseline = %s, want 0.006600", got)
	}
	// A long prompt's baseline is long too: 300000 × 6.6
	if got := m.BaselineCost(llm.Usage{InputTokens: 100_000, CacheReadTokens: 200_000}); got.String() != "1.980000" {
		t.Errorf("long baseline = %s, want 1.980000", got)
	}
}

func TestTermsOf(t *testing.T) {
	req := &llm.Request{ServiceTier: llm.TierFlex, Meta: llm.Meta{Mode: llm.ModeBatch,
		UpstreamModel: "global.anthropic.claude-sonnet-4-5-20250929-v1:0"}}
	if got := TermsOf(req, llm.TierPriority); got != (Terms{Mode: llm.ModeBatch, Tier: llm.TierPriority, Global: true}) {
		t.Errorf("TermsOf = %+v", got)
	}
	for id, want := range map[string]bool{
		"global.anthropic.claude-haiku-4-5-20251001-v1:0":                                                          true,
		"arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0": true,
		"us.anthropic.claude-haiku-4-5-20251001-v1:0":                                                              false,
		"global": false, "": false,
	} {
		if IsGlobalProfile(id) != want {
			t.Errorf("IsGlobalProfile(%q) = %v", id, !want)
		}
	}
}

// TestCostSum: a sum of short prompts is priced at the standard rates even
// when it exceeds the long-context threshold, and a month of tokens does
// not overflow.
func TestCostSum(t *testing.T) {
	m, err := MustBuiltin().Resolve("claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	sum := llm.Usage{InputTokens: 300_000, OutputTokens: 1000}
	got, _ := m.Model.CostSum(sum, Terms{})
	short, _ := m.Model.Cost(llm.Usage{InputTokens: 150_000, OutputTokens: 500}, Terms{})
	if got != 2*short {
		t.Errorf("CostSum = %v, want twice one short request's %v", got, short)
	}
	long, _ := m.Model.Cost(sum, Terms{})
	if long == got {
		t.Error("Cost of a 300K prompt should be at the long-context rates")
	}
	if above, ok := m.Model.LongContextAbove(); !ok || above != 200_000 {
		t.Errorf("LongContextAbove = %d, %v", above, ok)
	}
	huge, _ := m.Model.CostSum(llm.Usage{OutputTokens: 2_000_000_000}, Terms{})
	if want := 33000 * llm.Dollar; huge != want { // 2,000M tokens at $16.50 per 1M (regional)
		t.Errorf("CostSum of 2B output tokens = %v, want %v", huge, want)
	}
}
