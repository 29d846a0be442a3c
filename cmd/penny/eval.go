package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/modeleval"
	"github.com/penny-gateway/penny/internal/progress"
)

type evalOpts struct {
	dataset, models, scorer, out, routerData, cfgPath, judgeModel, db string
	target, rate                                                      float64
	concurrency                                                       int
	resume, simulate, quiet                                           bool
}

func newEval() *cobra.Command {
	var o evalOpts
	cmd := &cobra.Command{
		Use:   "eval --dataset FILE.jsonl --models nova-micro,nova-lite,nova-pro --scorer exact|contains|regex|json|number|judge",
		Short: "Measure which model answers a dataset well enough, and what it costs",
		Long: `Run every item of a dataset on every model through Penny (routing, caching,
accounting and the ledger all apply; with --simulate the built-in simulator
answers), score the answers, and print per model: the score with a 95 %
confidence interval (Wilson for pass/fail scorers, normal approximation for
the judge), the cost per 1,000 requests, p50/p95 latency and errors. Then it
recommends the cheapest model whose score meets --target.

The dataset is JSONL, one item a line:
  {"id": "q1", "prompt": "...", "expected": "...", "system": "...", "max_tokens": 256}
"messages" (OpenAI-style, content a string or text parts) may replace "prompt".

Scorers: exact (trimmed, case-insensitive), contains (case-insensitive),
regex (expected is the pattern), json (valid JSON, equal to expected if
expected is JSON), number (the last number in the answer equals expected's),
judge (--judge-model marks the answer 0-10; anything but a bare mark scores 0
and is counted; the judge's cost is reported apart).

--out writes one JSON line per item and model as soon as it is scored; with
--resume, items already answered without error are not asked again and the
table covers old and new rows. With exactly two models, --router-data writes
{"prompt","cheap_correct","strong_correct"} rows for ` + "`penny router train`" + `
(cheap is the model with the lower catalog price).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEval(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataset, "dataset", "", "dataset JSONL file (required)")
	f.StringVar(&o.models, "models", "", "comma-separated catalog models to evaluate (required)")
	f.StringVar(&o.scorer, "scorer", "", strings.Join(modeleval.Scorers, ", ")+" (required)")
	f.Float64Var(&o.target, "target", 0.9, "score (0..1) a model must reach to be recommended")
	f.IntVar(&o.concurrency, "concurrency", 8, "requests in flight at most")
	f.Float64Var(&o.rate, "rate", 10, "requests started per second at most (0: unlimited; with --simulate, unlimited unless set)")
	f.StringVar(&o.out, "out", "", "per-item results JSONL to write")
	f.BoolVar(&o.resume, "resume", false, "continue --out: skip the items it already holds")
	f.BoolVar(&o.simulate, "simulate", false, "answer with the built-in simulator (no AWS)")
	f.StringVar(&o.cfgPath, "config", "", "config file (YAML)")
	f.StringVar(&o.db, "db", "", "ledger database URL (default: the config's)")
	f.StringVar(&o.judgeModel, "judge-model", "nova-pro", "model that grades answers for --scorer judge")
	f.StringVar(&o.routerData, "router-data", "", "with two models, write router training rows to this file")
	f.BoolVar(&o.quiet, "quiet", false, "no progress bar (one is drawn only when standard error is a terminal)")
	return cmd
}

func runEval(cmd *cobra.Command, o evalOpts) error {
	switch {
	case o.dataset == "" || o.models == "" || o.scorer == "":
		return errors.New("--dataset, --models and --scorer are required")
	case o.target < 0 || o.target > 1:
		return fmt.Errorf("--target %g: want a score from 0 to 1", o.target)
	case o.concurrency < 1:
		return fmt.Errorf("--concurrency %d: want 1 or more", o.concurrency)
	case o.rate < 0:
		return fmt.Errorf("--rate %g: want 0 (unlimited) or more", o.rate)
	case o.resume && o.out == "":
		return errors.New("--resume needs --out")
	}
	items, err := readDataset(o.dataset)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(o.cfgPath)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("simulate") {
		cfg.Simulate = o.simulate
	}
	// The simulator reports Bedrock-like latencies; unless the config sets
	// its time scale, an evaluation takes them as reported instead of
	// waiting them out, and needs no pacing unless --rate says so.
	reported := false
	if cfg.Simulate && cfg.Simulator.TimeScale == nil {
		zero := 0.0
		cfg.Simulator.TimeScale, reported = &zero, true
		if !cmd.Flags().Changed("rate") {
			o.rate = 0
		}
	}
	if o.db != "" {
		cfg.Database = o.db
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	a, err := app.New(ctx, cfg, app.Options{Logger: newLogger(cmd.ErrOrStderr(), cfg)})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a.Shutdown(sctx)
	}()
	var models []string
	seen := map[string]bool{}
	for _, m := range strings.Split(o.models, ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		id, err := a.Catalog.CanonicalID(m)
		if err != nil {
			return fmt.Errorf("--models: %w", err)
		}
		if !seen[id] {
			seen[id] = true
			models = append(models, id)
		}
	}
	if len(models) == 0 {
		return errors.New("--models names no model")
	}
	if o.routerData != "" && len(models) != 2 {
		return fmt.Errorf("--router-data needs exactly two models, not %d", len(models))
	}
	inv := evalMeta(a.Gateway.Recorded())
	var judge *modeleval.Judge
	if o.scorer == "judge" {
		jm, err := a.Catalog.CanonicalID(o.judgeModel)
		if err != nil {
			return fmt.Errorf("--judge-model: %w", err)
		}
		judge = &modeleval.Judge{Invoker: inv, Model: jm}
	}
	scorer, err := modeleval.NewScorer(o.scorer, judge)
	if err != nil {
		return err
	}

	var prior []modeleval.Result
	var out io.Writer
	if o.out != "" {
		f, p, err := openResults(o.out, o.resume)
		if err != nil {
			return err
		}
		defer f.Close()
		prior, out = p, f
	}
	done := modeleval.Done(prior)
	stderr := cmd.ErrOrStderr()
	pending := modeleval.Pending(items, models, done)
	if skipped := len(items)*len(models) - pending; skipped > 0 {
		fmt.Fprintf(stderr, "resuming %s: %d results already there, %d to run\n", o.out, skipped, pending)
	}
	var bar *progress.Bar
	if !o.quiet {
		bar = progress.New(progress.Terminal(stderr), "eval", 0, pending)
	}
	fresh, err := modeleval.Run(ctx, items, modeleval.Options{
		Invoker: inv, Models: models, Scorer: scorer, Concurrency: o.concurrency, Rate: o.rate,
		Out: out, Done: done, OnResult: func(modeleval.Result) { bar.Add(1) },
		ReportedLatency: reported,
	})
	bar.Done()
	if err != nil {
		return err
	}
	results := merge(prior, fresh, items, models)
	sums := modeleval.Summarize(results, models, scorer.Binary())
	rec := modeleval.Recommend(sums, o.target, a.Catalog)
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%s: %d items × %d models (%d run now)\n\n", o.dataset, len(items), len(models), len(fresh))
	if err := modeleval.WriteTable(w, sums, rec, o.target, scorer.Name()); err != nil {
		return err
	}
	if reported {
		fmt.Fprintln(w, "SIMULATED: answers from Penny's simulator; latencies are the Bedrock-like ones it reports, not waited out")
	}
	if o.out != "" {
		fmt.Fprintf(w, "results: %s\n", o.out)
	}
	if o.routerData != "" {
		cheap, strong := modeleval.CheapStrong(a.Catalog, models[0], models[1])
		f, err := os.Create(o.routerData)
		if err != nil {
			return err
		}
		n, err := modeleval.WriteRouterData(f, items, results, cheap, strong, !scorer.Binary())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "router data: %d prompts (cheap %s, strong %s) in %s\n", n, cheap, strong, o.routerData)
	}
	return nil
}

func readDataset(path string) ([]modeleval.Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--dataset: %w", err)
	}
	defer f.Close()
	items, err := modeleval.ReadDataset(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return items, nil
}

// openResults opens --out for appending. Without resume it refuses a file
// that already holds results rather than mixing or overwriting them.
func openResults(path string, resume bool) (*os.File, []modeleval.Result, error) {
	var prior []modeleval.Result
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		if !resume {
			return nil, nil, fmt.Errorf("--out %s already holds results: pass --resume to continue it, or remove it", path)
		}
		if prior, err = modeleval.ReadResults(strings.NewReader(string(b))); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if !strings.HasSuffix(string(b), "\n") {
			// A torn last line: start the next row on a line of its own.
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				return nil, nil, err
			}
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return f, prior, nil
}

// merge keeps the results of this dataset and these models, newer rows
// replacing older ones of the same item and model.
func merge(prior, fresh []modeleval.Result, items []modeleval.Item, models []string) []modeleval.Result {
	want := map[modeleval.Key]bool{}
	for _, it := range items {
		for _, m := range models {
			want[modeleval.Key{ID: it.ID, Model: m}] = true
		}
	}
	at := map[modeleval.Key]int{}
	var out []modeleval.Result
	for _, r := range append(append([]modeleval.Result(nil), prior...), fresh...) {
		if !want[r.Key()] {
			continue
		}
		if i, ok := at[r.Key()]; ok {
			out[i] = r
			continue
		}
		at[r.Key()] = len(out)
		out = append(out, r)
	}
	return out
}

// evalMeta attributes the evaluation's requests: tenant "eval", API
// "eval", so `penny report` shows what the evaluation cost.
func evalMeta(next llm.Invoker) llm.Invoker { return evalInvoker{next} }

type evalInvoker struct{ next llm.Invoker }

func (e evalInvoker) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if req.Meta.Tenant == "" {
		req.Meta.Tenant = "eval"
	}
	req.Meta.API = "eval"
	return e.next.Invoke(ctx, req)
}

func (e evalInvoker) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return e.next.Stream(ctx, req)
}
