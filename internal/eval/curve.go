package eval

import (
	"math"
	"sort"

	"github.com/penny-gateway/penny/internal/llm"
)

// Point is one operating point of a router on a set of prompts.
type Point struct {
	// Threshold is the score from which prompts go to the strong model
	// (NaN for points that are not a threshold of a score, such as random
	// routing's).
	Threshold float64
	// StrongShare is the share of prompts sent to the strong model.
	StrongShare float64
	// Quality is the mean quality of the routed answers.
	Quality float64
	// Cost is what the routed prompts cost in total.
	Cost llm.Money
}

// Curve is a router's cost–quality curve: its operating points from
// sending nothing to the strong model to sending everything, StrongShare
// ascending.
type Curve struct {
	Name   string
	Points []Point
	// Cheap and Strong are the quality of always-cheap and always-strong;
	// CheapCost and StrongCost their cost.
	Cheap, Strong         float64
	CheapCost, StrongCost llm.Money
}

// Costs are the prices of answering each item on each model, parallel to
// the items; nil slices price everything at zero.
type Costs struct {
	Cheap, Strong []llm.Money
}

func (c Costs) at(i int) (cheap, strong llm.Money) {
	if c.Cheap == nil {
		return 0, 0
	}
	return c.Cheap[i], c.Strong[i]
}

func baseCurve(name string, items []Item, costs Costs) Curve {
	c := Curve{Name: name}
	for i, it := range items {
		c.Cheap += it.Cheap
		c.Strong += it.Strong
		ch, st := costs.at(i)
		c.CheapCost += ch
		c.StrongCost += st
	}
	c.Cheap /= float64(len(items))
	c.Strong /= float64(len(items))
	return c
}

// RouterCurve returns the curve of a router that gave items the scores
// (higher: more in need of the strong model), at every distinct score: the
// exact curve, with one point per threshold. Items of equal score move
// together, so the straight line between two points is what breaking ties
// at random achieves. scores must be parallel to items, which must not be
// empty.
func RouterCurve(name string, items []Item, scores []float64, costs Costs) Curve {
	c := baseCurve(name, items, costs)
	idx := byScore(scores)
	n := float64(len(items))
	var gain float64
	cost := c.CheapCost
	c.Points = append(c.Points, Point{Threshold: math.Inf(1), Quality: c.Cheap, Cost: cost})
	for k := 0; k < len(idx); {
		s := scores[idx[k]]
		for first := k; k < len(idx) && (k == first || scores[idx[k]] == s); k++ { // a NaN still moves on
			it := items[idx[k]]
			gain += it.Gain()
			ch, st := costs.at(idx[k])
			cost += st - ch
		}
		c.Points = append(c.Points, Point{Threshold: s, StrongShare: float64(k) / n, Quality: c.Cheap + gain/n, Cost: cost})
	}
	return c
}

// QuantileCurve is RouteLLM's coarser curve (evals/benchmarks.py): the
// thresholds are the quantiles 0, 1/bins, …, 1 of the scores (linear
// interpolation, as pandas.qcut computes them); at each, prompts with a
// score ≥ the threshold go to the strong model, and > at the last one.
// RouteLLM's published numbers use 10 bins.
func QuantileCurve(name string, items []Item, scores []float64, costs Costs, bins int) Curve {
	c := baseCurve(name, items, costs)
	sorted := append([]float64(nil), scores...)
	sort.Float64s(sorted)
	n := float64(len(items))
	for b := 0; b <= bins; b++ {
		t := quantile(sorted, float64(b)/float64(bins))
		var k int
		var gain float64
		cost := c.CheapCost
		for i, it := range items {
			if scores[i] >= t && (b < bins || scores[i] > t) {
				k++
				gain += it.Gain()
				ch, st := costs.at(i)
				cost += st - ch
			}
		}
		c.Points = append(c.Points, Point{Threshold: t, StrongShare: float64(k) / n, Quality: c.Cheap + gain/n, Cost: cost})
	}
	sort.SliceStable(c.Points, func(a, b int) bool { return c.Points[a].StrongShare < c.Points[b].StrongShare })
	return c
}

func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (pos-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// RandomCurve is the expected curve of routing each prompt to the strong
// model with probability p, for p from 0 to 1: the straight line from
// always-cheap to always-strong.
func RandomCurve(items []Item, costs Costs) Curve {
	c := baseCurve("random", items, costs)
	c.Points = []Point{
		{Threshold: math.NaN(), Quality: c.Cheap, Cost: c.CheapCost},
		{Threshold: math.NaN(), StrongShare: 1, Quality: c.Strong, Cost: c.StrongCost},
	}
	return c
}

// PerfectCurve is the curve of an oracle that knows every answer's quality:
// with a budget of k strong calls it sends the k prompts the strong model
// improves most, and never one it does not improve (RouteLLM's
// get_optimal_accuracy), so the curve is flat once every improvable prompt
// is sent. Cost follows the prompts it sends.
func PerfectCurve(items []Item, costs Costs) Curve {
	gains := make([]float64, len(items))
	for i, it := range items {
		gains[i] = it.Gain()
	}
	c := baseCurve("perfect", items, costs)
	idx := byScore(gains)
	n := float64(len(items))
	var gain float64
	cost := c.CheapCost
	c.Points = append(c.Points, Point{Threshold: math.NaN(), Quality: c.Cheap, Cost: cost})
	for k, i := range idx {
		if g := gains[i]; g > 0 {
			gain += g
			ch, st := costs.at(i)
			cost += st - ch
		}
		c.Points = append(c.Points, Point{Threshold: math.NaN(), StrongShare: float64(k+1) / n, Quality: c.Cheap + gain/n, Cost: cost})
	}
	return c
}

// byScore returns indices ordered by descending score, ties by index.
func byScore(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	return idx
}

// PGR is the performance gap recovered at quality q: 0 at always-cheap's
// quality, 1 at always-strong's.
func (c Curve) PGR(q float64) float64 { return (q - c.Cheap) / (c.Strong - c.Cheap) }

// APGR is RouteLLM's average performance gap recovered: the area under the
// curve of PGR over the share of strong calls, by the trapezoidal rule over
// the curve's points, divided by the width they span (0 to 1 for every
// curve of this package). This is (AUC − AUC_weak) / (AUC_strong −
// AUC_weak) of RouteLLM's evaluate.py. Random routing scores 0.5.
func (c Curve) APGR() float64 {
	p := c.Points
	if len(p) < 2 {
		return math.NaN()
	}
	var area float64
	for i := 1; i < len(p); i++ {
		area += (p[i].StrongShare - p[i-1].StrongShare) * (c.PGR(p[i].Quality) + c.PGR(p[i-1].Quality)) / 2
	}
	return area / (p[len(p)-1].StrongShare - p[0].StrongShare)
}

// CPT is RouteLLM's call-performance threshold: the share of strong calls
// needed to recover the fraction x of the quality gap between always-cheap
// and always-strong. It interpolates linearly between the first point that
// reaches the target and the one before it (for a curve whose quality
// rises with the share this is RouteLLM's numpy.interp). ok is false when
// no point reaches the target.
func (c Curve) CPT(x float64) (share float64, ok bool) {
	p, ok := c.reach(c.Cheap + x*(c.Strong-c.Cheap))
	return p.StrongShare, ok
}

// AtQuality returns the operating point with the lowest share of strong
// calls whose quality is at least frac × always-strong's, interpolated as
// CPT is (cost included). ok is false when no point reaches it.
func (c Curve) AtQuality(frac float64) (Point, bool) {
	return c.reach(frac * c.Strong)
}

func (c Curve) reach(target float64) (Point, bool) {
	const slack = 1e-12
	for i, p := range c.Points {
		if p.Quality < target-slack {
			continue
		}
		if i == 0 {
			return p, true
		}
		q := c.Points[i-1]
		f := (target - q.Quality) / (p.Quality - q.Quality)
		f = math.Min(math.Max(f, 0), 1)
		return Point{
			Threshold:   math.NaN(),
			StrongShare: q.StrongShare + f*(p.StrongShare-q.StrongShare),
			Quality:     math.Max(target, q.Quality),
			Cost:        q.Cost + llm.Money(math.Round(f*float64(p.Cost-q.Cost))),
		}, true
	}
	return Point{}, false
}

// Saved is the share of always-strong's cost that operating at p saves.
func (c Curve) Saved(p Point) float64 {
	if c.StrongCost == 0 {
		return math.NaN()
	}
	return 1 - float64(p.Cost)/float64(c.StrongCost)
}
