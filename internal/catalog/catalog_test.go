package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestBuiltinHasRequiredModels(t *testing.T) {
	c := MustBuiltin()
	for _, id := range []string{"nova-micro", "nova-lite", "nova-pro", "nova-premier", "claude-3-haiku",
		"claude-3-5-haiku", "claude-3-7-sonnet", "claude-sonnet-4", "claude-opus-4", "llama3-1-8b",
		"llama3-1-70b", "llama3-3-70b", "mistral-small", "mistral-large", "titan-embed-text-v2",
		"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5", "claude-opus-4-1", "claude-sonnet-4-6", "claude-opus-4-6",
		"nova-2-lite", "gpt-oss-20b", "gpt-oss-120b", "deepseek-r1", "deepseek-v3-1", "qwen3-32b", "qwen3-235b",
		"qwen3-coder-480b", "llama4-maverick", "llama4-scout"} {
		tg, err := c.Resolve(id)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		m := tg.Model
		if m.Prices.Input.Rate <= 0 {
			t.Errorf("%s: no input price", id)
		}
		if m.Capabilities.Chat && (m.Prices.Output.Rate <= 0 || m.Performance.OutputTokensSec <= 0) {
			t.Errorf("%s: chat model without output price or speed", id)
		}
		// Limits are 0 only where no source gives them; Claude and Nova
		// have theirs.
		if (m.Vendor == "anthropic" || m.Vendor == "amazon") && (m.ContextWindow <= 0 || m.Capabilities.Chat && m.MaxOutputTokens <= 0) {
			t.Errorf("%s: no context window or max output", id)
		}
	}
	if c.AsOf == "" || c.Source == "" {
		t.Error("catalog has no source or date")
	}
}

// Hand-computed from the AWS price list (USD per 1M tokens).
func TestCost(t *testing.T) {
	c := MustBuiltin()
	get := func(id string) *Model { tg, _ := c.Resolve(id); return tg.Model }
	cases := []struct {
		name  string
		model string
		usage llm.Usage
		mode  llm.Mode
		want  string
	}{
		// 1000 × 0.035/1M + 500 × 0.14/1M = 0.000035 + 0.00007
		{"nova micro", "nova-micro", llm.Usage{InputTokens: 1000, OutputTokens: 500}, llm.ModeOnDemand, "0.000105"},
		// 1000 × 0.8/1M + 500 × 3.2/1M = 0.0008 + 0.0016
		{"nova pro", "nova-pro", llm.Usage{InputTokens: 1000, OutputTokens: 500}, llm.ModeOnDemand, "0.002400"},
		// batch is half price: 0.0012
		{"nova pro batch", "nova-pro", llm.Usage{InputTokens: 1000, OutputTokens: 500}, llm.ModeBatch, "0.001200"},
		// Nova cache read at 25 % of input: 2000 × 0.2/1M = 0.0004; writes at the
		// input rate, no surcharge: 1000 × 0.8/1M = 0.0008
		{"nova pro cache read", "nova-pro", llm.Usage{CacheReadTokens: 2000, CacheWriteTokens: 1000}, llm.ModeOnDemand, "0.001200"},
		// Claude Sonnet 4: write 1000 × 3.75/1M = 0.00375; read 1000 × 0.3/1M = 0.0003; input 100 × 3/1M = 0.0003
		{"sonnet cache", "claude-sonnet-4", llm.Usage{InputTokens: 100, CacheWriteTokens: 1000, CacheReadTokens: 1000}, llm.ModeOnDemand, "0.004350"},
		// Opus 4: 1M in + 1M out = 15 + 75
		{"opus million", "claude-opus-4", llm.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}, llm.ModeOnDemand, "90.000000"},
		// one Nova Micro input token costs 35 nano-dollars
		{"one token", "nova-micro", llm.Usage{InputTokens: 1}, llm.ModeOnDemand, "0.000000035"},
		// 1 batch token at 0.0175/1M = 17.5 nano-dollars, rounded half up
		{"rounding", "nova-micro", llm.Usage{InputTokens: 1}, llm.ModeBatch, "0.000000018"},
		{"provisioned per token is free", "nova-pro", llm.Usage{InputTokens: 1000}, llm.ModeProvisioned, "0.000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := get(tc.model).Cost(tc.usage, Terms{Mode: tc.mode})
			if got.String() != tc.want {
				t.Errorf("cost = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPriceRatios(t *testing.T) {
	c := MustBuiltin()
	get := func(id string) *Model { tg, _ := c.Resolve(id); return tg.Model }
	micro, pro := get("nova-micro"), get("nova-pro")
	// Nova Pro / Nova Micro ≈ 22.9 on input and output.
	for _, pair := range [][2]Price{{pro.Prices.Input, micro.Prices.Input}, {pro.Prices.Output, micro.Prices.Output}} {
		ratio := float64(pair[0].Rate) / float64(pair[1].Rate)
		if ratio < 22.8 || ratio > 23.0 {
			t.Errorf("pro/micro ratio = %.2f, want about 22.9", ratio)
		}
	}
	for _, m := range c.Models() {
		p := m.Prices
		if pc := m.Capabilities.PromptCache; pc != nil {
			sets := map[string]RateSet{"": p.RateSet}
			if p.LongContext != nil {
				sets["long context "] = p.LongContext.RateSet
			}
			if g := p.Global; g != nil {
				sets["global "] = g.RateSet
				if g.LongContext != nil {
					sets["global long context "] = *g.LongContext
				}
			}
			for name, set := range sets {
				if err := cacheRatios(m.Vendor, set, hasTTL1h(pc)); err != nil {
					t.Errorf("%s: %scache rates: %v", m.ID, name, err)
				}
			}
			if pc.MinTokens <= 0 || pc.MaxCheckpoints != 4 {
				t.Errorf("%s: prompt cache %+v", m.ID, pc)
			}
		}
		if m.Capabilities.Batch && p.BatchInput.Known &&
			(p.BatchInput.Rate*2 != p.Input.Rate || p.BatchOutput.Rate*2 != p.Output.Rate) {
			t.Errorf("%s: batch rates are not half of on-demand", m.ID)
		}
	}
}

func hasTTL1h(pc *PromptCache) bool {
	for _, t := range pc.TTLs {
		if t == "1h" {
			return true
		}
	}
	return false
}

// cacheRatios checks AWS's prompt-caching rules against a rate set: Nova
// reads at 25 % of input and writes at the input rate; Claude reads at
// 10 %, writes at 125 % for five minutes and 200 % for an hour.
func cacheRatios(vendor string, s RateSet, oneHour bool) error {
	in := s.Input.Rate
	switch vendor {
	case "amazon":
		if !s.CacheRead.Known || s.CacheRead.Rate*4 != in || s.CacheWrite.Rate != in {
			return fmt.Errorf("Nova read %s write %s for input %s", s.CacheRead, s.CacheWrite, s.Input)
		}
	case "anthropic":
		if !s.CacheWrite.Known || s.CacheWrite.Rate*4 != in*5 || s.CacheRead.Rate*10 != in {
			return fmt.Errorf("Claude read %s write %s for input %s", s.CacheRead, s.CacheWrite, s.Input)
		}
		if oneHour && (!s.CacheWrite1h.Known || s.CacheWrite1h.Rate != in*2) {
			return fmt.Errorf("Claude 1-hour write %s for input %s", s.CacheWrite1h, s.Input)
		}
	}
	if !oneHour && s.CacheWrite1h.Known {
		return fmt.Errorf("a 1-hour write price without the 1h TTL")
	}
	return nil
}

func TestBaselineCostIgnoresCache(t *testing.T) {
	pro := MustBuiltin().mustModel(t, "nova-pro")
	u := llm.Usage{InputTokens: 100, CacheReadTokens: 900, OutputTokens: 10}
	if got, want := pro.BaselineCost(u), cost(pro, llm.Usage{InputTokens: 1000, OutputTokens: 10}, Terms{}); got != want {
		t.Errorf("baseline = %s, want %s", got, want)
	}
	if cost(pro, u, Terms{}) >= pro.BaselineCost(u) {
		t.Error("cached cost should be below baseline")
	}
}

func cost(m *Model, u llm.Usage, t Terms) llm.Money {
	c, _ := m.Cost(u, t)
	return c
}

func (c *Catalog) mustModel(t *testing.T, id string) *Model {
	t.Helper()
	tg, err := c.Resolve(id)
	if err != nil {
		t.Fatal(err)
	}
	return tg.Model
}

func TestResolve(t *testing.T) {
	c := MustBuiltin()
	cases := []struct {
		id       string
		model    string
		upstream string
		kind     TargetKind
		errKind  llm.ErrorKind
	}{
		{"nova-micro", "nova-micro", "amazon.nova-micro-v1:0", KindCatalog, ""},
		{"Nova-Micro", "nova-micro", "amazon.nova-micro-v1:0", KindCatalog, ""},
		{"micro", "nova-micro", "amazon.nova-micro-v1:0", KindCatalog, ""},
		{"amazon.nova-micro-v1:0", "nova-micro", "amazon.nova-micro-v1:0", KindBase, ""},
		{"us.amazon.nova-micro-v1:0", "nova-micro", "us.amazon.nova-micro-v1:0", KindInferenceProfile, ""},
		{"eu.amazon.nova-pro-v1:0", "nova-pro", "eu.amazon.nova-pro-v1:0", KindInferenceProfile, ""},
		{"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0", "nova-lite", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0", KindBase, ""},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0", KindInferenceProfile, ""},
		{"global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", KindInferenceProfile, ""},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "anthropic.claude-sonnet-4-5-20250929-v1:0", KindCatalog, ""},
		{"arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1", "", "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1", KindPromptRouter, ""},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", "", "", "", llm.KindNotFound},
		{"gpt-4o", "", "", "", llm.KindNotFound},
		{"", "", "", "", llm.KindValidation},
		{"arn:aws:s3:::bucket/x", "", "", "", llm.KindValidation},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			tg, err := c.Resolve(tc.id)
			if tc.errKind != "" {
				if llm.KindOf(err) != tc.errKind {
					t.Fatalf("err = %v (kind %q), want kind %q", err, llm.KindOf(err), tc.errKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if tg.Model != nil {
				got = tg.Model.ID
			}
			if got != tc.model || tg.UpstreamID != tc.upstream || tg.Kind != tc.kind {
				t.Errorf("got (%s, %s, %s), want (%s, %s, %s)", got, tg.UpstreamID, tg.Kind, tc.model, tc.upstream, tc.kind)
			}
		})
	}
}

func TestUpstreamForRegion(t *testing.T) {
	c := MustBuiltin()
	cases := []struct{ model, region, want string }{
		{"nova-micro", "us-east-1", "amazon.nova-micro-v1:0"},
		{"claude-sonnet-4", "us-west-2", "us.anthropic.claude-sonnet-4-20250514-v1:0"},
		{"claude-sonnet-4", "eu-central-1", "eu.anthropic.claude-sonnet-4-20250514-v1:0"},
		{"claude-sonnet-4", "ap-northeast-1", "apac.anthropic.claude-sonnet-4-20250514-v1:0"},
		{"nova-premier", "eu-west-1", "us.amazon.nova-premier-v1:0"},
		// Tokyo prefers the jp. profile; never global. unless it is the only one.
		{"claude-sonnet-4-5", "ap-northeast-1", "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"claude-opus-4-6", "ap-southeast-2", "apac.anthropic.claude-opus-4-6-v1"},
		{"claude-haiku-4-5", "ap-northeast-1", "us.anthropic.claude-haiku-4-5-20251001-v1:0"},
		{"nova-2-lite", "eu-west-1", "us.amazon.nova-2-lite-v1:0"},
	}
	for _, tc := range cases {
		if got := c.mustModel(t, tc.model).UpstreamFor(tc.region); got != tc.want {
			t.Errorf("%s in %s = %s, want %s", tc.model, tc.region, got, tc.want)
		}
	}
}

func TestLoadUserFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "source: \"our negotiated prices\"\n"+readmeExample+`
  - id: my-finetune
    bedrock_id: "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abc"
    tier: standard
    context_window: 32000
    capabilities: {chat: true}
    prices: {input: "0", output: "0"}
`)
	c, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := c.Resolve("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/support")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Model.ID != "nova-micro" || tg.Model.Prices.Input.String() != "0.03" || tg.Kind != KindApplicationProfile {
		t.Errorf("override not applied: %+v", tg)
	}
	if _, err := c.Resolve("nova-pro"); err != nil {
		t.Errorf("built-in model lost: %v", err)
	}
	if tg, err := c.Resolve("arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abc"); err != nil || tg.Model.ID != "my-finetune" || tg.Mode != llm.ModeProvisioned {
		t.Errorf("added model not found: %v", err)
	}

	bad := []struct{ name, body, want string }{
		{"unknown key", "models:\n  - id: x\n    bedrock_id: y\n    tier: economy\n    pricez: {}\n", "pricez"},
		{"float price", "models:\n  - id: x\n    bedrock_id: y\n    tier: economy\n    prices: {input: 1e-3}\n", "not a decimal"},
		{"bad tier", "models:\n  - id: x\n    bedrock_id: y\n    tier: cheap\n", "tier"},
		{"clash", "models:\n  - id: x\n    bedrock_id: y\n    tier: economy\n    prices: {input: \"1\"}\n    aliases: [nova-pro]\n", "nova-pro"},
		{"no price", "models:\n  - id: x\n    bedrock_id: y\n    tier: economy\n", "input price is required"},
	}
	for _, tc := range bad {
		_, err := Load(write(tc.name+".yaml", tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %q", tc.name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseDollars(t *testing.T) {
	cases := []struct {
		in   string
		want llm.Money
		err  bool
	}{
		{"0.035", 35_000_000, false},
		{"15", 15 * llm.Dollar, false},
		{".5", 500_000_000, false},
		{"0.000000001", 1, false},
		{"0.0000000001", 0, true},
		{"1e-3", 0, true},
		{"abc", 0, true},
		{"", 0, true},
	}
	for _, tc := range cases {
		got, err := ParseDollars(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDollars(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func BenchmarkCost(b *testing.B) {
	m := MustBuiltin().mustModelB(b, "claude-sonnet-4")
	u := llm.Usage{InputTokens: 1234, OutputTokens: 567, CacheReadTokens: 2048, CacheWriteTokens: 1024}
	b.ReportAllocs()
	var sink llm.Money
	for b.Loop() {
		sink += cost(m, u, Terms{}) + m.BaselineCost(u)
	}
	_ = sink
}

func BenchmarkResolve(b *testing.B) {
	c := MustBuiltin()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Resolve("us.amazon.nova-micro-v1:0"); err != nil {
			b.Fatal(err)
		}
	}
}

func (c *Catalog) mustModelB(b *testing.B, id string) *Model {
	tg, err := c.Resolve(id)
	if err != nil {
		b.Fatal(err)
	}
	return tg.Model
}

// Compare is the one "cheaper" rule govern's downgrade and fallback's
// allow_more_expensive use.
func TestCompare(t *testing.T) {
	c := MustBuiltin()
	cases := []struct {
		a, b  string
		terms Terms
		want  PriceOrder
	}{
		{"nova-micro", "nova-lite", Terms{}, PriceCheaper},
		{"nova-lite", "nova-micro", Terms{}, PriceDearer},
		{"nova-pro", "nova-pro", Terms{}, PriceSame},
		// Llama 3.1 8B $0.22/$0.22 against Nova Lite $0.06/$0.24.
		{"llama3-1-8b", "nova-lite", Terms{}, PriceMixed},
		// Same input price, cheaper output: cheaper (dearer on neither).
		{"claude-3-7-sonnet", "claude-3-5-sonnet", Terms{}, PriceSame},
		{"nova-micro", "nova-lite", Terms{Mode: llm.ModeBatch}, PriceCheaper},
		// Provisioned has no per-token price: on-demand rates decide.
		{"nova-micro", "nova-lite", Terms{Mode: llm.ModeProvisioned}, PriceCheaper},
		{"nova-lite", "nova-micro", Terms{Tier: llm.TierReserved}, PriceDearer},
	}
	for _, tc := range cases {
		if got := Compare(c.mustModel(t, tc.a), c.mustModel(t, tc.b), tc.terms); got != tc.want {
			t.Errorf("Compare(%s, %s, %+v) = %d, want %d", tc.a, tc.b, tc.terms, got, tc.want)
		}
	}
	if Compare(nil, c.mustModel(t, "nova-micro"), Terms{}) != PriceUnknown || Compare(c.mustModel(t, "nova-micro"), nil, Terms{}).NotDearer() {
		t.Error("a model without a price must compare as unknown, not as no dearer")
	}
	// Dearer on neither, cheaper on one is cheaper.
	a := &Model{Prices: Prices{RateSet: RateSet{Input: Known(3), Output: Known(10)}}}
	b := &Model{Prices: Prices{RateSet: RateSet{Input: Known(3), Output: Known(15)}}}
	if Compare(a, b, Terms{}) != PriceCheaper || Compare(b, a, Terms{}) != PriceDearer {
		t.Error("equal input, cheaper output should be cheaper")
	}
}
