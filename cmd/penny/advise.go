package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/advise"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/modeleval"
	"github.com/penny-gateway/penny/internal/sqlite"
)

func newAdvise() *cobra.Command {
	var (
		since, until, format, db, cfgPath, catPath, evalPath, volume string
		pt                                                           []string
		target                                                       float64
		lo                                                           advise.LadderOptions
	)
	cmd := &cobra.Command{
		Use:   "advise",
		Short: "Read the ledger and say where money can be saved, ranked by dollars a month",
		Long: `Read the ledger and print recommendations per route, model and tenant, ranked by
what each saves a month (the window's figures extrapolated to 30 days), each
with the figures behind it and how far to trust it:

  batch, flex      traffic that can wait (route latency: tolerant, offline
                   tenants and tags, clients that waited minutes) at batch or
                   Flex prices
  provisioned      Provisioned Throughput break-even from tokens per minute
                   (your quote: --pt-hourly MODEL=USD)
  right_size       a cheaper model that met the quality target (--eval)
  prompt_cache, prompt_cache_1h, response_cache
                   repeated prompts without checkpoints, where the 1-hour TTL
                   pays, exact repeats the response cache would answer
  max_tokens, prompt_lint
                   limits never reached, what trimming prompts is worth

and the customization ladder (prompt engineering, RAG, fine-tuning, continued
pre-training) priced at --volume from Bedrock's published prices. A price AWS
does not publish makes a saving "unknown", never a guess.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q is not table or json", format)
			}
			now := time.Now()
			o := advise.Options{Now: now, Target: target, Ladder: lo}
			var err error
			if o.Since, err = ledger.ParseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if o.Until, err = ledger.ParseWhen(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if o.Ladder.Volume, err = parseVolume(volume); err != nil {
				return err
			}
			if o.PTHourly, err = parseQuotes(pt); err != nil {
				return err
			}
			// As penny report: without --config the environment may name the
			// database; a broken environment falls back to the default.
			cfg, err := loadConfig(cfgPath)
			switch {
			case err != nil && cfgPath != "":
				return err
			case err != nil:
				cfg = config.Defaults()
			case cfgPath != "":
				o.Config = &cfg
			}
			if !cmd.Flags().Changed("db") {
				db = cfg.Database
			}
			if o.Catalog, err = adviseCatalog(cfg, cfgPath != "" && !cmd.Flags().Changed("catalog"), catPath); err != nil {
				return err
			}
			if o.Customizations, err = catalog.BuiltinCustomizations(); err != nil {
				return err
			}
			if o.Eval, err = readEval(evalPath); err != nil {
				return err
			}
			for model := range o.PTHourly {
				if _, err := o.Catalog.CanonicalID(model); err != nil {
					return fmt.Errorf("--pt-hourly %s: %w", model, err)
				}
			}
			o.PTHourly = canonicalQuotes(o.Catalog, o.PTHourly)
			if o.Config != nil {
				o.PTCapacity = map[string]int64{}
				for _, p := range o.Config.Provisioned {
					// A bought commitment is the quote, unless one is given.
					id, err := o.Catalog.CanonicalID(p.Model)
					m, perr := catalog.ParseDollars(p.HourlyUSD)
					if err != nil || perr != nil {
						continue
					}
					if _, given := o.PTHourly[id]; !given {
						o.PTHourly[id] = m
					}
					if p.CapacityTPM > 0 {
						o.PTCapacity[id] = int64(p.CapacityTPM)
					}
				}
			}
			ldb, err := openLedger(db)
			if err != nil {
				return err
			}
			defer ldb.Close()
			rep, err := advise.Analyze(cmd.Context(), sqlite.NewLedgerStore(ldb), o)
			if err != nil {
				return err
			}
			if format == "json" {
				return advise.WriteJSON(cmd.OutOrStdout(), rep)
			}
			return advise.WriteTable(cmd.OutOrStdout(), rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "30d", "start: a duration back from now (30d, 24h) or a date/time; \"\" for all time")
	f.StringVar(&until, "until", "", "end (exclusive), same forms as --since; default now")
	f.StringVar(&format, "format", "table", "table or json")
	f.StringVar(&db, "db", "", "ledger: a sqlite:// URL or a file path (default: the config's database, "+config.Defaults().Database+")")
	f.StringVar(&cfgPath, "config", "", "the running config: routes that declare latency: tolerant, cache policies, its catalog")
	f.StringVar(&catPath, "catalog", "", "catalog file merged over the built-in one (default: the config's)")
	f.StringVar(&evalPath, "eval", "", "penny eval --out results (JSONL) for right-sizing")
	f.Float64Var(&target, "target", 0.9, "score (0..1) a cheaper model must reach in --eval")
	f.StringArrayVar(&pt, "pt-hourly", nil, "your Provisioned Throughput quote per model-unit hour, MODEL=USD (repeatable)")
	f.StringVar(&volume, "volume", "", "requests for the customization ladder: N, N/month or N/day (default: observed)")
	f.StringVar(&lo.Model, "ladder-model", "", "base model of the ladder (default: the one with the most spend)")
	f.Int64Var(&lo.TrainTokens, "train-tokens", 0, "tokens of the fine-tuning dataset")
	f.Int64Var(&lo.Epochs, "epochs", 1, "passes over the training data")
	f.Int64Var(&lo.CorpusTokens, "corpus-tokens", 0, "tokens of the documents to index (RAG) or continue pre-training on")
	f.Int64Var(&lo.RAGTokens, "rag-tokens", 0, "retrieved tokens added to each prompt (default 2000, assumed)")
	f.Int64Var(&lo.ModelUnits, "model-units", 1, "Provisioned Throughput model units a custom model is served on")
	return cmd
}

// parseVolume reads N, N/month or N/day (30 days a month).
func parseVolume(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	num, per, _ := strings.Cut(strings.ReplaceAll(s, "_", ""), "/")
	n, err := strconv.ParseInt(strings.ReplaceAll(num, ",", ""), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--volume %q: want a positive number of requests, N/month or N/day", s)
	}
	switch per {
	case "", "month", "mo":
		return n, nil
	case "day":
		return n * 30, nil
	}
	return 0, fmt.Errorf("--volume %q: the period is month or day", s)
}

// parseQuotes reads MODEL=USD pairs.
func parseQuotes(pairs []string) (map[string]llm.Money, error) {
	out := map[string]llm.Money{}
	for _, p := range pairs {
		model, usd, ok := strings.Cut(p, "=")
		m, err := catalog.ParseDollars(usd)
		if !ok || model == "" || err != nil || m <= 0 {
			return nil, fmt.Errorf("--pt-hourly %q: want MODEL=USD, e.g. nova-pro=21.18", p)
		}
		out[model] = m
	}
	return out, nil
}

func canonicalQuotes(cat *catalog.Catalog, q map[string]llm.Money) map[string]llm.Money {
	out := make(map[string]llm.Money, len(q))
	for model, m := range q {
		if id, err := cat.CanonicalID(model); err == nil {
			out[id] = m
		}
	}
	return out
}

// readEval reads penny eval --out results, or nothing for "".
func readEval(path string) ([]modeleval.Result, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--eval: %w", err)
	}
	defer f.Close()
	rs, err := modeleval.ReadResults(f)
	if err != nil {
		return nil, fmt.Errorf("--eval %s: %w", path, err)
	}
	return rs, nil
}

func newWhatIf() *cobra.Command {
	var (
		since, until, format, db, cfgPath, catPath, evalPath string
		batch                                                []string
	)
	cmd := &cobra.Command{
		Use:   "whatif --config other.yaml",
		Short: "Re-price recorded traffic under another configuration",
		Long: `Re-price the ledger's recorded traffic under another configuration — other routes
and tiers, other models, Flex (latency: tolerant) or batch (--batch ROUTE) for a
route, the response cache or prompt caching on or off, another catalog — and
print the recorded and the counterfactual cost per route, side by side, with
the difference and what the re-pricing cannot know.

The candidate config is loaded and validated as penny serve would. Token counts
are the recorded ones on every model; routing that needs the prompt text
(learned, agent, cascade, text rules) keeps the recorded tier split; response-
cache hits are re-derived from prompt hashes and the candidate's TTLs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return fmt.Errorf("--config names the candidate configuration to re-price under")
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q is not table or json", format)
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			now := time.Now()
			o := advise.WhatIfOptions{Config: &cfg, Batch: batch}
			if o.Since, err = ledger.ParseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if o.Until, err = ledger.ParseWhen(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if o.Until.IsZero() {
				o.Until = now
			}
			if o.Catalog, err = adviseCatalog(cfg, !cmd.Flags().Changed("catalog"), catPath); err != nil {
				return err
			}
			for _, r := range batch {
				if !hasRoute(cfg, r) {
					return fmt.Errorf("--batch %s: the candidate config has no such route", r)
				}
			}
			if o.Eval, err = readEval(evalPath); err != nil {
				return err
			}
			if !cmd.Flags().Changed("db") {
				db = cfg.Database
			}
			ldb, err := openLedger(db)
			if err != nil {
				return err
			}
			defer ldb.Close()
			rep, err := advise.WhatIf(cmd.Context(), sqlite.NewLedgerStore(ldb), o)
			if err != nil {
				return err
			}
			return writeWhatIf(cmd.OutOrStdout(), format, rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "the candidate configuration (required)")
	f.StringVar(&since, "since", "7d", "start: a duration back from now (7d, 24h) or a date/time; \"\" for all time")
	f.StringVar(&until, "until", "", "end (exclusive), same forms as --since; default now")
	f.StringVar(&format, "format", "table", "table or json")
	f.StringVar(&db, "db", "", "ledger: a sqlite:// URL or a file path (default: the candidate config's database)")
	f.StringVar(&catPath, "catalog", "", "catalog to price the candidate with (default: the candidate config's)")
	f.StringArrayVar(&batch, "batch", nil, "re-price this route's traffic as Bedrock batch jobs (repeatable)")
	f.StringVar(&evalPath, "eval", "", "penny eval --out results: the quality of the models requests move to")
	return cmd
}

// adviseCatalog is the config's catalog (its file and its provisioned ARNs)
// when fromConfig, else the built-in one with the file at path merged in.
func adviseCatalog(cfg config.Config, fromConfig bool, path string) (*catalog.Catalog, error) {
	if fromConfig {
		return cfg.LoadCatalog()
	}
	return catalog.Load(path)
}

func hasRoute(cfg config.Config, name string) bool {
	for _, r := range cfg.Routes {
		if r.Name == name {
			return true
		}
	}
	return false
}

func writeWhatIf(w io.Writer, format string, rep *advise.WhatIfReport) error {
	if format == "json" {
		return advise.WriteWhatIfJSON(w, rep)
	}
	return advise.WriteWhatIfTable(w, rep)
}
