package modeleval

import (
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/texttable"
)

// z95 is the standard normal quantile of a two-sided 95 % interval.
const z95 = 1.959963984540054

// Wilson returns the Wilson score interval for k successes in n trials at
// the normal quantile z. n = 0 gives [0, 1].
func Wilson(k, n int, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p, nf, z2 := float64(k)/float64(n), float64(n), z*z
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	return math.Max(0, center-half), math.Min(1, center+half)
}

// NormalCI returns the mean of xs and its normal-approximation interval at
// z (sample standard deviation), clipped to [0, 1].
func NormalCI(xs []float64, z float64) (mean, lo, hi float64) {
	n := float64(len(xs))
	if n == 0 {
		return 0, 0, 1
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, 0, 1
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	half := z * math.Sqrt(ss/(n-1)/n)
	return mean, math.Max(0, mean-half), math.Min(1, mean+half)
}

// Summary is one model's figures over its results.
type Summary struct {
	Model string
	// N counts results; Errors those that failed (scored 0).
	N, Errors, Correct int
	Score, Lo, Hi      float64
	// Cost is the accounted cost of all answers; PerThousand is the cost
	// per 1,000 requests at the same mix. JudgeCost is what grading cost.
	Cost, PerThousand, JudgeCost llm.Money
	JudgeUnparsed                int
	P50, P95                     time.Duration
}

// Summarize computes each model's figures, in the order of models. A
// failed request counts as a wrong answer, so unreliable models do not
// look better than they are. binary picks Wilson intervals (over Correct)
// instead of normal ones (over Score).
func Summarize(results []Result, models []string, binary bool) []Summary {
	by := map[string][]Result{}
	for _, r := range results {
		by[r.Model] = append(by[r.Model], r)
	}
	out := make([]Summary, 0, len(models))
	for _, m := range models {
		rs := by[m]
		s := Summary{Model: m, N: len(rs)}
		var scores []float64
		var lat []time.Duration
		for _, r := range rs {
			s.Cost += r.Cost()
			s.JudgeCost += r.JudgeCost()
			if r.JudgeUnparsed {
				s.JudgeUnparsed++
			}
			if r.Error != "" {
				s.Errors++
				scores = append(scores, 0)
				continue
			}
			if r.Correct {
				s.Correct++
			}
			scores = append(scores, r.Score)
			lat = append(lat, time.Duration(r.LatencyMS*float64(time.Millisecond)))
		}
		if binary {
			s.Score = float64(s.Correct) / math.Max(1, float64(s.N))
			s.Lo, s.Hi = Wilson(s.Correct, s.N, z95)
		} else {
			s.Score, s.Lo, s.Hi = NormalCI(scores, z95)
		}
		if s.N > 0 {
			s.PerThousand = s.Cost * 1000 / llm.Money(s.N)
		}
		s.P50, s.P95 = percentile(lat, 50), percentile(lat, 95)
		out = append(out, s)
	}
	return out
}

// percentile is the nearest-rank percentile; 0 for no data.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(float64(p)/100*float64(len(s)))) - 1
	return s[max(0, i)]
}

// Recommendation is the cheapest model that meets the target.
type Recommendation struct {
	// Model is "" when no model meets the target.
	Model string
	// LowerMeets is true when even the interval's lower bound meets it.
	LowerMeets bool
	Summary    Summary
}

// Recommend picks the model with the lowest cost per 1,000 requests whose
// score (point estimate) is at least target; ties go to the lower catalog
// price, then to the order of summaries. Models with no results never
// qualify.
func Recommend(sums []Summary, target float64, cat *catalog.Catalog) Recommendation {
	var best *Summary
	for i := range sums {
		s := &sums[i]
		if s.N == 0 || s.Score < target {
			continue
		}
		if best == nil || s.PerThousand < best.PerThousand ||
			(s.PerThousand == best.PerThousand && UnitPrice(cat, s.Model) < UnitPrice(cat, best.Model)) {
			best = s
		}
	}
	if best == nil {
		return Recommendation{}
	}
	return Recommendation{Model: best.Model, LowerMeets: best.Lo >= target, Summary: *best}
}

// UnitPrice is what a request of 1,000 input and 1,000 output tokens costs
// on model on demand: the catalog's price order of models. Unknown models
// sort last.
func UnitPrice(cat *catalog.Catalog, model string) llm.Money {
	t, err := cat.Resolve(model)
	if err != nil || t.Model == nil {
		return math.MaxInt64
	}
	c, _ := t.Model.Cost(llm.Usage{InputTokens: 1000, OutputTokens: 1000}, catalog.Terms{})
	return c
}

// WriteTable prints the per-model table, the judge's cost if any, and the
// recommendation for target.
func WriteTable(w io.Writer, sums []Summary, rec Recommendation, target float64, scorer string) error {
	rows := [][]string{{"model", "n", "score", "95% CI", "cost/1k req", "p50", "p95", "errors"}}
	var judge llm.Money
	unparsed := 0
	for _, s := range sums {
		rows = append(rows, []string{s.Model, fmt.Sprint(s.N), fmt.Sprintf("%.3f", s.Score),
			fmt.Sprintf("[%.3f, %.3f]", s.Lo, s.Hi), "$" + dollars(s.PerThousand),
			fmtLatency(s.P50), fmtLatency(s.P95), fmt.Sprint(s.Errors)})
		judge += s.JudgeCost
		unparsed += s.JudgeUnparsed
	}
	if err := texttable.Write(w, rows, 3); err != nil {
		return err
	}
	kind := "Wilson"
	if scorer == "judge" {
		kind = "normal approximation"
		fmt.Fprintf(w, "judge: $%s charged for grading; %d verdicts unparseable (scored 0)\n", dollars(judge), unparsed)
	}
	fmt.Fprintf(w, "scorer %s; intervals: %s; failed requests score 0\n", scorer, kind)
	if rec.Model == "" {
		_, err := fmt.Fprintf(w, "recommendation: no model meets the target %.3f\n", target)
		return err
	}
	lower := "its 95%% lower bound %.3f also meets it"
	if !rec.LowerMeets {
		lower = "but its 95%% lower bound %.3f does not"
	}
	_, err := fmt.Fprintf(w, "recommendation: %s, the cheapest model scoring at least %.3f (%.3f; "+lower+")\n",
		rec.Model, target, rec.Summary.Score, rec.Summary.Lo)
	return err
}

// dollars prints m with six decimals, exactly, from nano-dollars.
func dollars(m llm.Money) string {
	// Round to the micro-dollar in integer arithmetic, then print.
	micro := (int64(m) + 500) / 1000
	if m < 0 {
		micro = (int64(m) - 500) / 1000
	}
	sign := ""
	if micro < 0 {
		sign, micro = "-", -micro
	}
	return fmt.Sprintf("%s%d.%06d", sign, micro/1_000_000, micro%1_000_000)
}

func fmtLatency(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
