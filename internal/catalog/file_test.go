package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

// readmeExample is the user catalog file of README.md ("The model
// catalog"), as written there.
const readmeExample = `models:
  - id: nova-micro
    bedrock_id: amazon.nova-micro-v1:0
    aliases: ["arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/support"]
    tier: economy
    context_window: 128000
    max_output_tokens: 10000
    capabilities: {chat: true, streaming: true, tools: true, prompt_cache: {min_tokens: 1000, max_checkpoints: 4}}
    prices: {input: "0.03", output: "0.12", cache_read: "0.0075", cache_write: "0.03"}
`

func loadString(t *testing.T, body string) *Catalog {
	t.Helper()
	p := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A user entry with a built-in id merges into it: what it sets replaces,
// what it leaves out stays, aliases add up.
func TestOverrideMerges(t *testing.T) {
	c := loadString(t, readmeExample+`  - id: claude-3-5-haiku
    prices: {input: "0.7"}
  - id: nova-pro
    aliases: [my-pro]
    capabilities: {images: false}
    lifecycle: {status: legacy, replacement: nova-2-lite}
    prices: {tiers: {flex: {input: "0.4", output: "1.6"}}}
`)
	micro := c.mustModel(t, "micro") // the built-in alias still resolves
	arn, err := c.Resolve("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/support")
	if err != nil || arn.Model != micro || arn.Kind != KindApplicationProfile {
		t.Fatalf("the file's alias: %+v, %v", arn, err)
	}
	builtin := MustBuiltin()
	bmicro, bhaiku, bpro := builtin.mustModel(t, "nova-micro"), builtin.mustModel(t, "claude-3-5-haiku"), builtin.mustModel(t, "nova-pro")
	haiku, pro := c.mustModel(t, "claude-3-5-haiku"), c.mustModel(t, "nova-pro")
	checks := []struct {
		what      string
		got, want any
	}{
		{"set: input price", micro.Prices.Input.String(), "0.03"},
		{"set: cache read", micro.Prices.CacheRead.String(), "0.0075"},
		{"kept: batch prices", micro.Prices.BatchInput, bmicro.Prices.BatchInput},
		{"prices set by the file are the file's", micro.Prices.Source, ""},
		{"kept: name", micro.Name, bmicro.Name},
		{"kept: inference profiles", len(micro.InferenceProfiles), len(bmicro.InferenceProfiles)},
		{"kept: sources", len(micro.Sources), len(bmicro.Sources)},
		{"kept: performance", micro.Performance, bmicro.Performance},
		{"both aliases", len(micro.Aliases), len(bmicro.Aliases) + 1},
		{"set: one price", haiku.Prices.Input.String(), "0.7"},
		{"kept: the other prices", haiku.Prices.Output, bhaiku.Prices.Output},
		{"kept: lifecycle", haiku.Lifecycle, bhaiku.Lifecycle},
		{"kept: an untouched price source", c.mustModel(t, "nova-lite").Prices.Source, "aws-pricing-2025"},
		{"kept: capabilities", haiku.Capabilities.PromptCache.MinTokens, 2048},
		{"set: one capability", pro.Capabilities.Images, false},
		{"kept: other capabilities", pro.Capabilities.Documents, bpro.Capabilities.Documents},
		{"kept: service tiers", len(pro.Capabilities.ServiceTiers), 2},
		{"set: lifecycle", pro.Status(day("2026-12-04")), StatusLegacy},
		{"set: flex price", pro.Prices.Tiers[llm.TierFlex].Input.String(), "0.4"},
		{"kept: priority unknown", pro.Prices.Tiers[llm.TierPriority].Input.Known, false},
		{"kept: base prices", pro.Prices.Input, bpro.Prices.Input},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.what, ck.got, ck.want)
		}
	}
	if _, err := c.Resolve("my-pro"); err != nil {
		t.Error(err)
	}
	if cost, exact := pro.Cost(llm.Usage{InputTokens: 1_000_000}, Terms{Tier: llm.TierFlex}); cost.String() != "0.400000" || !exact {
		t.Errorf("flex cost after override = %s (exact %v)", cost, exact)
	}
	if len(c.Models()) != len(builtin.Models()) {
		t.Errorf("merging added models: %d, built-in %d", len(c.Models()), len(builtin.Models()))
	}
}

func TestOverrideErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		// Merged, a built-in entry must still be valid.
		{"bad merged tier", "models:\n  - id: nova-micro\n    tier: cheap\n", "tier"},
		{"unknown key in a patch", "models:\n  - id: nova-micro\n    prices: {inptu: \"1\"}\n", "inptu"},
		// A new model must be complete.
		{"partial new model", "models:\n  - id: brand-new\n    prices: {input: \"1\"}\n", "bedrock_id is required"},
	} {
		p := filepath.Join(dir, tc.name+".yaml")
		if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %q", tc.name, err, tc.want)
		}
	}
}
