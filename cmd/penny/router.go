package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/eval"
	"github.com/penny-gateway/penny/internal/route/learned"
)

const routerDataHelp = `--data is a JSONL file, one prompt per line:
  {"prompt": "...", "cheap_correct": true, "strong_correct": false}
(cheap_score and strong_score, numbers where higher is better, may replace the
booleans; "group" names a subject; "tags" is an object of the request's tags,
such as {"feature": "coding"}, which the route then reads from x-penny-tags),
or one of the RouteLLM benchmarks:
routellm:mmlu, routellm:gsm8k, routellm:mt_bench, read from
../shared/data/routellm next to the repository or from $PENNY_ROUTELLM_DIR.`

func newRouter() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Train and evaluate the learned router",
		Long: `The learned router scores how much a prompt needs the strong tier of a route,
from hashed word and character n-grams and prompt statistics, in a few
microseconds. Train it on prompts for which you know whether a cheap and a
strong model answered well, and measure it against random routing, prompt
length, a per-subject prior and a perfect router. See docs/routing.md.`,
	}
	cmd.AddCommand(newRouterTrain(), newRouterEval())
	return cmd
}

func newRouterTrain() *cobra.Command {
	var (
		data, out, target string
		quality           float64
		seed              uint64
		groupFeature      bool
	)
	cmd := &cobra.Command{
		Use:   "train --data FILE.jsonl|routellm:NAME --out router.json",
		Short: "Train a learned router and choose its threshold",
		Long: `Train a learned router: a logistic regression over hashed word and character
n-grams and prompt statistics (and the request's tags, when the data has
"tags" or with --group-feature), fitted by AdaGrad on 80 % of the prompts
(split by a hash of the prompt), with its learning rate and group smoothing
chosen on the other 20 %, then refitted on all of them.

--target-quality picks the operating point on every prompt scored by a model
that did not train on it (5 folds): the lowest share of calls to the strong
model from which the routed quality stays at least that fraction of the
strong model's quality; the threshold is the out-of-fold score there, which
new prompts are compared with. The model file is versioned JSON.

` + routerDataHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" || out == "" {
				return errors.New("--data and --out are required")
			}
			d, err := eval.Open(data, os.Getenv)
			if err != nil {
				return err
			}
			opts := learned.TrainOptions{Target: learned.Target(target), TargetQuality: quality, Seed: seed}
			items := d.Items
			if groupFeature {
				items = eval.WithGroupTags(items)
			}
			if eval.Tagged(items) {
				// Tags in the data (or groups as tags) are features: the
				// route reads each request's x-penny-tags.
				f := learned.DefaultFeatures()
				f.Tags = true
				opts.Features = &f
			}
			m, err := learned.Train(eval.Examples(items), opts)
			if errors.Is(err, learned.ErrTooFewExamples) {
				return fmt.Errorf("%s: %w; add labelled rows: a router learns something usable from a few hundred distinct prompts", d.Name, err)
			}
			if err != nil {
				return err
			}
			if err := writeRouterFile(out, m.Save); err != nil {
				return err
			}
			i := m.Info
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "trained on %s: %d prompts (%d contaminated dropped), %d to fit, %d held out\n",
				d.Name, i.Examples, d.Contaminated, i.Train, i.Holdout)
			fmt.Fprintf(w, "chosen on the held-out prompts: learning rate %g, group smoothing %g (APGR %.3f there)\n",
				i.LearningRate, i.GroupSmoothing, i.HoldoutAPGR)
			fmt.Fprintf(w, "threshold %.4f, chosen on all prompts scored out of fold (%d folds): %.1f %% of calls go to the strong model, quality %.4g (%.1f %% of always-strong %.4g; always-cheap %.4g)\n",
				m.Threshold, i.ThresholdFolds, 100*i.CVStrongShare, i.CVQuality, 100*share(i.CVQuality, i.CVStrongQuality),
				i.CVStrongQuality, i.CVCheapQuality)
			fmt.Fprintf(w, "wrote %s\n", out)
			warnLittleData(cmd, len(items))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "training data: a JSONL file or routellm:mmlu|gsm8k|mt_bench (required)")
	f.StringVar(&out, "out", "", "model file to write (required)")
	f.Float64Var(&quality, "target-quality", 0.95, "routed quality to reach, as a fraction of the strong model's")
	f.StringVar(&target, "target", "", targetHelp)
	f.Uint64Var(&seed, "seed", 0, "seed of the held-out split and the example order")
	f.BoolVar(&groupFeature, "group-feature", false, groupFeatureHelp)
	return cmd
}

func newRouterEval() *cobra.Command {
	var (
		data, routerPath, split, plot, csvPath, cheap, strong, catPath, target string
		folds                                                                  int
		quality                                                                float64
		seed                                                                   uint64
		groupFeature                                                           bool
	)
	cmd := &cobra.Command{
		Use:   "eval --data FILE.jsonl|routellm:NAME [--router router.json | --cv 5]",
		Short: "Measure a router's cost–quality curve against the baselines",
		Long: `Evaluate the learned router on prompts with known answer quality: either a
trained model file (--router), or a router cross-validated on the data itself
(--cv K, the default: K folds by a hash of the prompt, or with --split subject
by subject, so no prompt is ever both trained on and scored).

The table compares it with random routing, routing by prompt length, a
per-subject prior (cross-validated the same way; for data with subjects) and a
perfect router: CPT(50 %) and CPT(80 %) (share of calls to the strong model
needed to recover that much of the quality gap between the cheap and the strong
model), APGR (the average gap recovered over all shares, as RouteLLM defines
it; also on RouteLLM's 10 quantile bins), and the cost saved against always
calling the strong model at --target-quality of its quality. Costs use catalog
prices of --cheap and --strong with prompt tokens estimated at 4 bytes each.

` + routerDataHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" {
				return errors.New("--data is required")
			}
			if routerPath != "" && cmd.Flags().Changed("cv") {
				return errors.New("--router and --cv exclude each other: evaluate a trained model or cross-validate one")
			}
			var sp eval.Split
			switch split {
			case "prompt":
				sp = eval.SplitPrompt
			case "subject", "group":
				sp = eval.SplitGroup
			default:
				return fmt.Errorf("--split %q is not prompt or subject", split)
			}
			cat, err := catalog.Load(catPath)
			if err != nil {
				return err
			}
			pricing, err := eval.NewPricing(cat, cheap, strong)
			if err != nil {
				return err
			}
			d, err := eval.Open(data, os.Getenv)
			if err != nil {
				return err
			}
			opts := eval.Options{
				K: folds, Split: sp, Seed: seed, Pricing: pricing, TargetQuality: quality,
				Train: learned.TrainOptions{Target: learned.Target(target)}, GroupFeature: groupFeature,
			}
			if routerPath != "" {
				f, err := os.Open(routerPath)
				if err != nil {
					return err
				}
				opts.Router, err = learned.Load(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", routerPath, err)
				}
			}
			res, err := eval.Evaluate(d, opts)
			switch {
			case errors.Is(err, eval.ErrEmptyFold) && routerPath == "":
				return fmt.Errorf("%s: %w; %d prompts are too few for %d folds: use fewer folds (--cv) or add rows", d.Name, err, len(d.Items), folds)
			case errors.Is(err, eval.ErrEmptyFold):
				// Only the per-subject baseline is cross-validated here.
				return fmt.Errorf("%s: per-subject baseline: %w; %d prompts are too few: add rows", d.Name, err, len(d.Items))
			case errors.Is(err, learned.ErrTooFewExamples):
				return fmt.Errorf("%s: %w; each fold's router trains on the other folds' prompts, and %d prompts leave it too few: add rows (or evaluate a router trained elsewhere with --router FILE)",
					d.Name, err, len(d.Items))
			}
			if err != nil {
				return err
			}
			if o := res.Overlap; o != nil && o.Share >= overlapWarning {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: about %.0f %% of these prompts (%d of %d) were among %s's training prompts, so its figures are optimistic: evaluate it on prompts it was not trained on, or cross-validate a router on this data (--cv instead of --router)\n",
					100*o.Share, o.Seen, o.Items, routerPath)
			}
			if routerPath == "" {
				warnLittleData(cmd, len(d.Items))
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "prices: %s (cheap) and %s (strong), on demand\n", pricing.Cheap.ID, pricing.Strong.ID)
			if err := res.WriteTable(w); err != nil {
				return err
			}
			if csvPath != "" {
				err := writeRouterFile(csvPath, func(w io.Writer) error { return eval.WriteCSV(w, res.Curves) })
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "wrote %s\n", csvPath)
			}
			if plot != "" {
				if ext := strings.ToLower(filepath.Ext(plot)); ext != ".svg" {
					return fmt.Errorf("--plot %s: only SVG plots are written (name the file .svg)", plot)
				}
				title := fmt.Sprintf("%s: %s", d.Name, res.Method)
				err := writeRouterFile(plot, func(w io.Writer) error { return eval.WriteSVG(w, title, res.Curves, quality) })
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "wrote %s\n", plot)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "evaluation data: a JSONL file or routellm:mmlu|gsm8k|mt_bench (required)")
	f.StringVar(&routerPath, "router", "", "a model `FILE` written by penny router train, to evaluate as it is")
	f.IntVar(&folds, "cv", 5, "cross-validation folds for a router trained on the data itself")
	f.StringVar(&split, "split", "prompt", "how folds are drawn: prompt (by a hash of the prompt) or subject (leave subjects out)")
	f.Uint64Var(&seed, "seed", 0, "seed of the folds and of training")
	f.StringVar(&plot, "plot", "", "write the cost–quality curves as an SVG plot")
	f.StringVar(&csvPath, "csv", "", "write the cost–quality curves as CSV")
	f.Float64Var(&quality, "target-quality", 0.95, "quality, as a fraction of the strong model's, at which to report the cost saved")
	f.StringVar(&cheap, "cheap", "nova-micro", "catalog model that prices the cheap tier")
	f.StringVar(&strong, "strong", "nova-pro", "catalog model that prices the strong tier")
	f.StringVar(&catPath, "catalog", "", "catalog file to merge over the built-in one")
	f.StringVar(&target, "target", "", targetHelp+" (cross-validated router)")
	f.BoolVar(&groupFeature, "group-feature", false, groupFeatureHelp+" (cross-validated router)")
	return cmd
}

const (
	targetHelp       = "what the score estimates: gain (strong minus cheap quality), gain-rank (the gain's rank) or cheap-fails (default: gain-rank when qualities are graded, such as judge scores; gain when right or wrong)"
	groupFeatureHelp = "make each prompt's group (subject, category) a feature next to its text, as a request tag group=NAME"
)

const (
	// littleData is how many prompts a router's figures need before they
	// mean much: with fewer, a threshold rests on a handful of prompts.
	littleData = 100
	// overlapWarning is the share of evaluation prompts among a router's
	// training prompts from which router eval warns.
	overlapWarning = 0.05
)

// warnLittleData notes on standard error that n prompts make noisy
// figures, when they do.
func warnLittleData(cmd *cobra.Command, n int) {
	if n < littleData {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %d prompts is little data: the threshold and the figures above rest on a handful of prompts each; a few hundred make them dependable\n", n)
	}
}

// share is a/b, or 1 when b is 0 (a strong model that never scores: any
// routing keeps all of its quality).
func share(a, b float64) float64 {
	if b == 0 {
		return 1
	}
	return a / b
}

// writeRouterFile creates path and writes it with write, reporting the
// first error of writing or closing.
func writeRouterFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
