package eval

import (
	"math"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

// tiny is four prompts: the strong model fixes two the cheap one fails
// (0 and 1) and answers the other two like it. Always-cheap scores ½,
// always-strong 1: the gap is ½.
var tiny = []Item{
	{Prompt: "a", Cheap: 0, Strong: 1},
	{Prompt: "b", Cheap: 0, Strong: 1},
	{Prompt: "c", Cheap: 1, Strong: 1},
	{Prompt: "d", Cheap: 1, Strong: 1},
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRouterCurveHandComputed(t *testing.T) {
	// Scores put b first, then c, then a and d tied.
	c := RouterCurve("r", tiny, []float64{0.2, 0.9, 0.5, 0.2}, Costs{})
	want := []Point{
		{StrongShare: 0, Quality: 0.5},
		{StrongShare: 0.25, Quality: 0.75, Threshold: 0.9},
		{StrongShare: 0.5, Quality: 0.75, Threshold: 0.5},
		{StrongShare: 1, Quality: 1, Threshold: 0.2},
	}
	if len(c.Points) != len(want) {
		t.Fatalf("%d points, want %d: %+v", len(c.Points), len(want), c.Points)
	}
	for i, w := range want {
		p := c.Points[i]
		if !near(p.StrongShare, w.StrongShare) || !near(p.Quality, w.Quality) || (i > 0 && p.Threshold != w.Threshold) {
			t.Errorf("point %d = %+v, want %+v", i, p, w)
		}
	}
	// PGR: 0 → 0.5 → 0.5 → 1 over shares 0, ¼, ½, 1.
	// Area: ¼·¼ + ¼·½ + ½·¾ = 1/16 + 2/16 + 6/16 = 9/16.
	if got := c.APGR(); !near(got, 9.0/16) {
		t.Errorf("APGR %g, want 9/16", got)
	}
	// 50 % of the gap is first reached at ¼; 80 % between ½ (PGR ½) and 1
	// (PGR 1): ½ + (0.8−0.5)/(1−0.5)·½ = 0.8.
	if s, ok := c.CPT(0.5); !ok || !near(s, 0.25) {
		t.Errorf("CPT(50%%) = %g, %v; want 0.25", s, ok)
	}
	if s, ok := c.CPT(0.8); !ok || !near(s, 0.8) {
		t.Errorf("CPT(80%%) = %g, %v; want 0.8", s, ok)
	}
}

func TestBaselineCurvesKnownValues(t *testing.T) {
	random := RandomCurve(tiny, Costs{})
	if got := random.APGR(); !near(got, 0.5) {
		t.Errorf("random APGR %g, want 0.5", got)
	}
	for _, x := range []float64{0.2, 0.5, 0.8} {
		if s, _ := random.CPT(x); !near(s, x) {
			t.Errorf("random CPT(%g) = %g", x, s)
		}
	}
	// A router that gives every prompt the same score cannot tell them
	// apart: its curve is random routing's.
	same := RouterCurve("always-strong", tiny, []float64{1, 1, 1, 1}, Costs{})
	if got := same.APGR(); !near(got, 0.5) {
		t.Errorf("constant-score APGR %g, want 0.5", got)
	}
	// Always-strong as a policy is the curve's last point: all of the gap
	// at 100 % of calls.
	last := same.Points[len(same.Points)-1]
	if last.StrongShare != 1 || same.PGR(last.Quality) != 1 {
		t.Errorf("always-strong point %+v", last)
	}
	// The perfect router recovers the gap with the share g of prompts the
	// strong model fixes (here ½): APGR = (g − g²/2)/gap = (½ − ⅛)/½ = ¾,
	// CPT(x) = x·g.
	perfect := PerfectCurve(tiny, Costs{})
	if got := perfect.APGR(); !near(got, 0.75) {
		t.Errorf("perfect APGR %g, want 0.75", got)
	}
	for _, x := range []float64{0.5, 0.8} {
		if s, _ := perfect.CPT(x); !near(s, x*0.5) {
			t.Errorf("perfect CPT(%g) = %g, want %g", x, s, x*0.5)
		}
	}
}

func TestPerfectCurveNeverSendsALoss(t *testing.T) {
	items := []Item{{Cheap: 1, Strong: 0}, {Cheap: 0, Strong: 1}, {Cheap: 1, Strong: 1}}
	c := PerfectCurve(items, Costs{})
	last := c.Points[len(c.Points)-1]
	// The oracle sends the one prompt it improves and stops: quality 1 at
	// any larger budget, above always-strong's ⅔.
	if !near(last.Quality, 1) || !near(c.Strong, 2.0/3) {
		t.Errorf("perfect ends at %g (always-strong %g)", last.Quality, c.Strong)
	}
	// The perfect router beats always-strong: its APGR exceeds 1.
	if c.APGR() <= 1 {
		t.Errorf("perfect APGR %g, want > 1", c.APGR())
	}
}

func TestQuantileCurveMatchesRouteLLM(t *testing.T) {
	// With as many bins as prompts of distinct scores, the quantile curve
	// visits the same points as the exact one: thresholds 0.1, 0.325,
	// 0.55, 0.775 (≥) and 1.0 (>) send 4, 3, 2, 1 and 0 prompts.
	scores := []float64{0.1, 0.4, 0.7, 1.0}
	exact := RouterCurve("r", tiny, scores, Costs{})
	binned := QuantileCurve("r", tiny, scores, Costs{}, 4)
	if len(binned.Points) != len(exact.Points) {
		t.Fatalf("%d points, exact curve has %d", len(binned.Points), len(exact.Points))
	}
	for i, p := range binned.Points {
		if e := exact.Points[i]; !near(p.StrongShare, e.StrongShare) || !near(p.Quality, e.Quality) {
			t.Errorf("point %d: %+v, exact %+v", i, p, e)
		}
	}
	// Fewer bins drop points: RouteLLM's 10 bins are a coarser curve.
	if n := len(QuantileCurve("r", tiny, scores, Costs{}, 2).Points); n != 3 {
		t.Errorf("%d points for 2 bins, want 3", n)
	}
}

func TestAtQualityAndCostSaved(t *testing.T) {
	costs := Costs{
		Cheap:  []llm.Money{1, 1, 1, 1},
		Strong: []llm.Money{20, 20, 20, 20},
	}
	c := RouterCurve("r", tiny, []float64{0.9, 0.8, 0.1, 0.2}, costs) // the two fixable prompts first
	if c.StrongCost != 80 || c.CheapCost != 4 {
		t.Fatalf("costs %d/%d", c.CheapCost, c.StrongCost)
	}
	// 95 % of always-strong's quality 1 is 0.95, reached between ¼ (0.75)
	// and ½ (1): at 0.45 of calls, interpolated. Cost there: 4 + 19·1.8 =
	// 38.2 → 38; saved 1 − 38/80.
	p, ok := c.AtQuality(0.95)
	if !ok || !near(p.StrongShare, 0.45) || p.Cost != 38 {
		t.Fatalf("at 95 %%: %+v, %v", p, ok)
	}
	if got := c.Saved(p); !near(got, 1-38.0/80) {
		t.Errorf("saved %g", got)
	}
	if _, ok := RandomCurve(tiny, costs).AtQuality(1.5); ok {
		t.Error("a quality above every point was reached")
	}
}
