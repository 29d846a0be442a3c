package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

func newModels() *cobra.Command {
	var (
		format  string
		catPath string
	)
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the model catalog: prices, service tiers, cache TTLs, lifecycle",
		Long: `List the model catalog, one row per model, cheapest tier first:

  MODEL       the catalog id (aliases, Bedrock ids and inference-profile ids also work)
  TIER        economy, standard, premium or frontier
  CONTEXT     context window in tokens
  IN, OUT     on-demand prices in USD per 1M tokens, default tier, base id or
              geographic (us., eu., apac., jp.) inference profile
  GLOBAL      the same through the global. profile, when AWS prices it apart
  LONG        prices once a prompt exceeds the long-context threshold
  BATCH       batch in/out (* estimated at 50 % of on-demand: AWS lists none)
  CACHE       prompt-cache read / 5-minute write / 1-hour write
  TIERS       service tiers besides default (? = no published price: costs
              are estimated at the default tier and flagged)
  STATUS      active, legacy or retired on Bedrock, with the date and the
              suggested replacement (→)

"—" is not offered, "?" is not published. --format json includes every field
with its sources and dates. --catalog merges a user file that overrides or
adds models (see README).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := catalog.Load(catPath)
			if err != nil {
				return err
			}
			out, now := cmd.OutOrStdout(), time.Now()
			switch format {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(modelsJSON(cat, now))
			case "table":
				return modelsTable(out, cat, now)
			}
			return fmt.Errorf("--format %q is not table or json", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	cmd.Flags().StringVar(&catPath, "catalog", "", "catalog file to merge over the built-in one")
	return cmd
}

func modelsTable(out io.Writer, cat *catalog.Catalog, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tTIER\tCONTEXT\tIN\tOUT\tGLOBAL\tLONG\tBATCH\tCACHE\tTIERS\tSTATUS\tCAPABILITIES")
	for _, m := range cat.Sorted() {
		r := m.Rates(catalog.Terms{})
		out := r.Output.String()
		if !m.Capabilities.Chat {
			out = "—"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Tier, ktok(m.ContextWindow),
			r.Input, out, globalCol(m), longCol(m), batchCol(m), cacheCol(m), tiersCol(m), statusCol(m, now), caps(m))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "\nPrices USD per 1M tokens: %s, as of %s; per-model sources in --format json.\n", cat.Source, cat.AsOf)
	return err
}

func inOut(in, out catalog.Price) string { return in.String() + "/" + out.String() }

func globalCol(m *catalog.Model) string {
	if g := m.Prices.Global; g != nil {
		r := m.Rates(catalog.Terms{Global: true})
		return inOut(r.Input, r.Output)
	}
	for _, p := range m.InferenceProfiles {
		if p == "global" {
			return "="
		}
	}
	return "—"
}

func longCol(m *catalog.Model) string {
	lc := m.Prices.LongContext
	if lc == nil {
		return "—"
	}
	r := m.Rates(catalog.Terms{LongContext: true})
	return ">" + ktok(lc.Above) + " " + inOut(r.Input, r.Output)
}

func batchCol(m *catalog.Model) string {
	if !m.Capabilities.Batch {
		return "—"
	}
	p := m.Prices
	if !p.BatchInput.Known {
		return "?"
	}
	s := p.BatchInput.String()
	if m.Capabilities.Chat {
		s = inOut(p.BatchInput, p.BatchOutput)
	}
	if p.BatchEstimated {
		s += "*"
	}
	return s
}

func cacheCol(m *catalog.Model) string {
	pc := m.Capabilities.PromptCache
	if pc == nil {
		return "—"
	}
	p := m.Prices
	s := short(p.CacheRead) + "/" + short(p.CacheWrite)
	if hasTTL(pc, "1h") {
		return s + "/" + short(p.CacheWrite1h)
	}
	return s + "/—"
}

func short(p catalog.Price) string {
	if !p.Known {
		return "?"
	}
	return p.String()
}

func hasTTL(pc *catalog.PromptCache, ttl string) bool {
	for _, t := range pc.TTLs {
		if t == ttl {
			return true
		}
	}
	return false
}

func tiersCol(m *catalog.Model) string {
	var out []string
	for _, t := range m.Capabilities.ServiceTiers {
		s := string(t)
		if tp, ok := m.Prices.Tiers[t]; t != llm.TierReserved && (!ok || !tp.Input.Known) {
			s += "?"
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "—"
	}
	return strings.Join(out, ",")
}

func statusCol(m *catalog.Model, now time.Time) string {
	l := m.Lifecycle
	s := string(m.Status(now))
	if m.Status(now) != catalog.StatusActive && !l.Retires.IsZero() {
		s += " " + l.Retires.String()
	}
	if l.Replacement != "" && m.Status(now) != catalog.StatusActive {
		s += "→" + l.Replacement
	}
	return s
}

func ktok(n int) string {
	switch {
	case n <= 0:
		return "?"
	case n >= 1_000_000:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func caps(m *catalog.Model) string {
	c := m.Capabilities
	var out []string
	add := func(ok bool, s string) {
		if ok {
			out = append(out, s)
		}
	}
	add(c.Chat, "chat")
	add(c.Embeddings, "embed")
	add(c.Streaming, "stream")
	add(c.Tools, "tools")
	add(c.Images, "images")
	if c.PromptCache != nil {
		out = append(out, fmt.Sprintf("cache(min %d)", c.PromptCache.MinTokens))
	}
	return strings.Join(out, ",")
}
