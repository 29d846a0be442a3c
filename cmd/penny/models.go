package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/catalog"
)

func newModels() *cobra.Command {
	var (
		format  string
		catPath string
	)
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the model catalog with prices",
		Long: `List the model catalog: ids and aliases, tier, context window, capabilities and
prices in USD per 1M tokens (on-demand, batch, prompt-cache read and write).

--catalog merges a user file that overrides or adds models (see README).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := catalog.Load(catPath)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(modelsJSON(cat))
			case "table":
			default:
				return fmt.Errorf("--format %q is not table or json", format)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tTIER\tCONTEXT\tIN $/1M\tOUT $/1M\tBATCH IN/OUT\tCACHE READ/WRITE\tCAPABILITIES\tBEDROCK ID")
			for _, m := range cat.Sorted() {
				p := m.Prices
				batch := "—"
				if m.Capabilities.Batch {
					batch = rate(p.BatchInput) + "/" + rate(p.BatchOutput)
					if p.BatchEstimated {
						batch += "*"
					}
				}
				cache := "—"
				if m.Capabilities.PromptCache != nil {
					cache = rate(p.CacheRead) + "/" + rate(p.CacheWrite)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Tier, ktok(m.ContextWindow),
					rate(p.Input), rate(p.Output), batch, cache, caps(m), m.BedrockID)
			}
			tw.Flush()
			fmt.Fprintf(out, "\nPrices: %s, as of %s.\n* batch price estimated at 50 %% of on-demand (AWS lists none).\n", cat.Source, cat.AsOf)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	cmd.Flags().StringVar(&catPath, "catalog", "", "catalog file to merge over the built-in one")
	return cmd
}

func rate(r catalog.Rate) string {
	s := r.Dollars().String()
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" {
		return "0"
	}
	return s
}

func ktok(n int) string {
	switch {
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

type modelJSON struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	BedrockID        string            `json:"bedrock_id"`
	Aliases          []string          `json:"aliases,omitempty"`
	Tier             string            `json:"tier"`
	ContextWindow    int               `json:"context_window"`
	MaxOutputTokens  int               `json:"max_output_tokens,omitempty"`
	Capabilities     capsJSON          `json:"capabilities"`
	PricesPerMillion map[string]string `json:"prices_usd_per_million_tokens"`
}

// capsJSON is catalog.Capabilities with the catalog file's snake_case keys.
type capsJSON struct {
	Chat        bool             `json:"chat"`
	Embeddings  bool             `json:"embeddings"`
	Streaming   bool             `json:"streaming"`
	Tools       bool             `json:"tools"`
	Images      bool             `json:"images"`
	Documents   bool             `json:"documents"`
	Batch       bool             `json:"batch"`
	PromptCache *promptCacheJSON `json:"prompt_cache"`
}

type promptCacheJSON struct {
	MinTokens      int `json:"min_tokens"`
	MaxCheckpoints int `json:"max_checkpoints"`
}

func toCapsJSON(c catalog.Capabilities) capsJSON {
	out := capsJSON{Chat: c.Chat, Embeddings: c.Embeddings, Streaming: c.Streaming, Tools: c.Tools,
		Images: c.Images, Documents: c.Documents, Batch: c.Batch}
	if c.PromptCache != nil {
		out.PromptCache = &promptCacheJSON{MinTokens: c.PromptCache.MinTokens, MaxCheckpoints: c.PromptCache.MaxCheckpoints}
	}
	return out
}

func modelsJSON(cat *catalog.Catalog) any {
	out := []modelJSON{}
	for _, m := range cat.Sorted() {
		p := m.Prices
		out = append(out, modelJSON{ID: m.ID, Name: m.Name, BedrockID: m.BedrockID, Aliases: m.Aliases, Tier: string(m.Tier),
			ContextWindow: m.ContextWindow, MaxOutputTokens: m.MaxOutputTokens, Capabilities: toCapsJSON(m.Capabilities),
			PricesPerMillion: map[string]string{"input": rate(p.Input), "output": rate(p.Output), "batch_input": rate(p.BatchInput),
				"batch_output": rate(p.BatchOutput), "cache_read": rate(p.CacheRead), "cache_write": rate(p.CacheWrite)}})
	}
	return map[string]any{"source": cat.Source, "as_of": cat.AsOf, "models": out}
}
