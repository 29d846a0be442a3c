package eval

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/route/learned"
)

// Options configures Evaluate.
type Options struct {
	// Router, if set, is evaluated as it is on every item; otherwise a
	// learned router is cross-validated with Train.
	Router *learned.Model
	// K is the number of cross-validation folds (default 5), Split how
	// they are drawn (default SplitPrompt) and Seed their assignment.
	K     int
	Split Split
	Seed  uint64
	// Train configures the cross-validated learned router; its Seed is
	// set to Seed.
	Train learned.TrainOptions
	// GroupFeature gives the cross-validated learned router each item's
	// group as a request tag (GroupTag), a feature next to the text: the
	// same information the per-group prior has.
	GroupFeature bool
	// Pricing prices the items; zero leaves costs out.
	Pricing Pricing
	// TargetQuality is the quality, as a fraction of always-strong's, at
	// which the cost saved is reported (default 0.95).
	TargetQuality float64
	// GroupAlpha is the per-group prior's shrinkage (default 1: with ~7
	// questions per MT-Bench category a larger one mostly shrinks the prior
	// back to random; on MMLU's ~250 per subject it hardly matters).
	GroupAlpha float64
	// Bins is the number of quantile bins of RouteLLM's coarser APGR
	// (default 10).
	Bins int
}

// Result is the evaluation of a router and the baselines on one dataset.
type Result struct {
	Dataset *Dataset
	// Method says how the router's scores were obtained.
	Method string
	// Curves are the router's, then random, length, the per-group prior
	// (when the dataset has groups and the split is by prompt) and perfect.
	Curves []Curve
	Rows   []Row
	// Operating is the router at its own threshold(s); nil for routers
	// without one.
	Operating *Operating
	// TargetQuality is Options.TargetQuality.
	TargetQuality float64
	// Split is how the folds were drawn. Under SplitGroup the per-subject
	// prior is left out: every subject it scores is one it never saw.
	Split Split
	// Overlap is how many of the items a model file (Options.Router) was
	// trained on, from its sketch of its training prompts; nil when
	// cross-validating or for a file without a sketch.
	Overlap *Overlap
}

// Overlap is the share of evaluation items among a model's training
// prompts, as its PromptSketch tells.
type Overlap struct {
	// Seen is how many items the sketch reports as training prompts, of
	// Items.
	Seen, Items int
	// Share estimates the share of items that were training prompts: Seen
	// / Items corrected for the sketch's FalsePositiveRate.
	Share, FalsePositiveRate float64
}

// TrainingOverlap counts the items s reports as training prompts.
func TrainingOverlap(items []Item, s *learned.PromptSketch) Overlap {
	o := Overlap{Items: len(items), FalsePositiveRate: s.FalsePositiveRate()}
	for _, it := range items {
		if s.Contains(it.Prompt) {
			o.Seen++
		}
	}
	if o.Items > 0 && o.FalsePositiveRate < 1 {
		observed := float64(o.Seen) / float64(o.Items)
		o.Share = min(1, max(0, (observed-o.FalsePositiveRate)/(1-o.FalsePositiveRate)))
	}
	return o
}

// Row is one line of the results table.
type Row struct {
	Name string
	// CPT50 and CPT80 are the shares of strong calls needed to recover 50
	// and 80 % of the quality gap; NaN when never reached.
	CPT50, CPT80 float64
	// APGR is over the exact curve; APGRBins over RouteLLM's quantile
	// curve (NaN for curves that are not a router's scores).
	APGR, APGRBins float64
	// At is the cheapest point that reaches the target quality; AtOK is
	// false when none does. Saved is the share of always-strong's cost
	// saved there.
	At    Point
	AtOK  bool
	Saved float64
}

// Operating is where a router's own routing decisions put it.
type Operating struct {
	StrongShare, Quality float64
	// OfStrong is Quality / always-strong's quality.
	OfStrong float64
	Saved    float64
}

// Evaluate scores the router (cross-validated unless opts.Router is set)
// and the baselines on d and summarises every curve.
func Evaluate(d *Dataset, opts Options) (*Result, error) {
	if len(d.Items) == 0 {
		return nil, errors.New("evaluate: no items")
	}
	if opts.K == 0 {
		opts.K = 5
	}
	if opts.Split == "" {
		opts.Split = SplitPrompt
	}
	if opts.TargetQuality == 0 {
		opts.TargetQuality = 0.95
	}
	if opts.GroupAlpha == 0 {
		opts.GroupAlpha = 1
	}
	if opts.Bins == 0 {
		opts.Bins = 10
	}
	costs := opts.Pricing.Costs(d)
	res := &Result{Dataset: d, TargetQuality: opts.TargetQuality}
	items := d.Items

	var scores []float64
	var routed []bool
	var folds []int
	if opts.Router != nil {
		res.Method = "model file"
		fit := ModelRouter(opts.Router)
		scores, routed = make([]float64, len(items)), make([]bool, len(items))
		for i, it := range items {
			scores[i], routed[i] = fit.Score(it), fit.Route(it)
		}
		if s := opts.Router.Prompts; s != nil {
			o := TrainingOverlap(items, s)
			res.Overlap = &o
		}
	} else {
		var err error
		folds, err = Folds(items, opts.K, opts.Split, opts.Seed)
		if err != nil {
			return nil, err
		}
		res.Method = fmt.Sprintf("%d-fold cross-validation, split by prompt", opts.K)
		if opts.Split == SplitGroup {
			res.Method = fmt.Sprintf("%d-fold cross-validation, leaving subjects out", opts.K)
		}
		tr := opts.Train
		tr.Seed = opts.Seed
		trItems := items
		if opts.GroupFeature {
			trItems = WithGroupTags(items)
			res.Method += ", the group a feature"
		}
		if Tagged(trItems) {
			f := learned.DefaultFeatures()
			if tr.Features != nil {
				f = *tr.Features
			}
			f.Tags = true
			tr.Features = &f
		}
		cv, err := CrossValidate(trItems, folds, opts.K, LearnedTrainer(tr))
		if err != nil {
			return nil, err
		}
		scores, routed = cv.Scores, cv.Routed
	}
	router := RouterCurve("penny-learned", items, scores, costs)
	res.Curves = append(res.Curves, router, RandomCurve(items, costs))
	binned := map[string]Curve{router.Name: QuantileCurve(router.Name, items, scores, costs, opts.Bins)}

	length := LengthScores(items)
	res.Curves = append(res.Curves, RouterCurve("length", items, length, costs))
	binned["length"] = QuantileCurve("length", items, length, costs, opts.Bins)
	res.Split = opts.Split
	if d.Groups() && opts.Split != SplitGroup {
		if folds == nil {
			var err error
			if folds, err = Folds(items, opts.K, opts.Split, opts.Seed); err != nil {
				return nil, err
			}
		}
		cv, err := CrossValidate(items, folds, opts.K, GroupPrior(opts.GroupAlpha))
		if err != nil {
			return nil, err
		}
		res.Curves = append(res.Curves, RouterCurve("per-subject", items, cv.Scores, costs))
		binned["per-subject"] = QuantileCurve("per-subject", items, cv.Scores, costs, opts.Bins)
	}
	res.Curves = append(res.Curves, PerfectCurve(items, costs))

	for _, c := range res.Curves {
		r := Row{Name: c.Name, APGR: c.APGR(), APGRBins: math.NaN(), CPT50: math.NaN(), CPT80: math.NaN()}
		if b, ok := binned[c.Name]; ok {
			r.APGRBins = b.APGR()
		}
		if s, ok := c.CPT(0.5); ok {
			r.CPT50 = s
		}
		if s, ok := c.CPT(0.8); ok {
			r.CPT80 = s
		}
		r.At, r.AtOK = c.AtQuality(opts.TargetQuality)
		r.Saved = math.NaN()
		if r.AtOK {
			r.Saved = c.Saved(r.At)
		}
		res.Rows = append(res.Rows, r)
	}

	if routed != nil {
		var k int
		var q float64
		cost := router.CheapCost
		for i, it := range items {
			if routed[i] {
				k++
				q += it.Strong
				ch, st := costs.at(i)
				cost += st - ch
			} else {
				q += it.Cheap
			}
		}
		q /= float64(len(items))
		res.Operating = &Operating{
			StrongShare: float64(k) / float64(len(items)), Quality: q, OfStrong: q / router.Strong,
			Saved: router.Saved(Point{Cost: cost}),
		}
	}
	return res, nil
}

// WriteTable prints the results as an aligned table with a header naming
// the dataset, the method and the two fixed policies.
func (r *Result) WriteTable(w io.Writer) error {
	d := r.Dataset
	c := r.Curves[0]
	fmt.Fprintf(w, "%s: %d prompts (%d contaminated dropped), %s; router scores by %s\n",
		d.Name, len(d.Items), d.Contaminated, d.Quality, r.Method)
	if o := r.Overlap; o != nil {
		fmt.Fprintf(w, "the router's training prompts among these: %d of %d, about %.1f %% (its sketch mistakes %.1f %% of other prompts for them)\n",
			o.Seen, o.Items, 100*o.Share, 100*o.FalsePositiveRate)
	}
	fmt.Fprintf(w, "always-cheap %s   always-strong %s   cost of always-strong %s\n\n",
		fmtQuality(d, c.Cheap), fmtQuality(d, c.Strong), money(c.StrongCost))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	pct := func(x float64) string {
		if math.IsNaN(x) {
			return "—"
		}
		return fmt.Sprintf("%.1f %%", 100*x)
	}
	num := func(x float64) string {
		if math.IsNaN(x) {
			return "—"
		}
		return fmt.Sprintf("%.3f", x)
	}
	target := fmt.Sprintf("%g %%", 100*r.TargetQuality)
	fmt.Fprintf(tw, "router\tCPT(50 %%)\tCPT(80 %%)\tAPGR\tAPGR (10 bins)\tstrong calls at %s\tcost saved at %s\t\n", target, target)
	for _, row := range r.Rows {
		share := "—"
		if row.AtOK {
			share = pct(row.At.StrongShare)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Name, pct(row.CPT50), pct(row.CPT80),
			num(row.APGR), num(row.APGRBins), share, pct(row.Saved))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d.Groups() && r.Split == SplitGroup {
		fmt.Fprintf(w, "\n(no per-subject row: split by subject, every subject scored is one the prior never saw)\n")
	}
	if o := r.Operating; o != nil {
		fmt.Fprintf(w, "\npenny-learned at its own threshold: %s of calls to the strong model, quality %s (%.1f %% of always-strong), cost saved %s\n",
			pct(o.StrongShare), fmtQuality(d, o.Quality), 100*o.OfStrong, pct(o.Saved))
	}
	return nil
}

func fmtQuality(d *Dataset, q float64) string {
	if d.Quality == "accuracy" {
		return fmt.Sprintf("%.1f %%", 100*q)
	}
	return fmt.Sprintf("%.3f", q)
}

func money(m llm.Money) string {
	s := fmt.Sprintf("$%.6f", m.Dollars())
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}
