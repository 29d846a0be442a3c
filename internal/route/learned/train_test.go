package learned

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// synthetic returns n prompts of which about a third are "hard": the cheap
// tier fails them 80 % of the time, the strong tier 5 %. Easy prompts are
// answered by both 95 % of the time. Hard and easy prompts share filler
// words and differ in their topic words, as real prompts do.
func synthetic(n int, seed uint64) (ex []Example, hard []bool) {
	r := rand.New(rand.NewPCG(seed, 7))
	hardTopics := []string{"prove the theorem", "integral of", "eigenvalues of the matrix", "write a recursive parser", "dynamic programming"}
	easyTopics := []string{"capital of", "reset my password", "opening hours", "translate hello", "favourite colour"}
	filler := []string{"please", "quickly", "the", "for", "my", "team", "today", "thanks", "what", "is", "about", "this"}
	for i := 0; i < n; i++ {
		isHard := r.IntN(3) == 0
		topics := easyTopics
		if isHard {
			topics = hardTopics
		}
		var b strings.Builder
		for j := 0; j < 3+r.IntN(8); j++ {
			b.WriteString(filler[r.IntN(len(filler))] + " ")
		}
		b.WriteString(topics[r.IntN(len(topics))])
		fmt.Fprintf(&b, " %d", r.IntN(1000)) // makes prompts distinct
		cheapOK, strongOK := r.Float64() < 0.95, r.Float64() < 0.95
		if isHard {
			cheapOK = r.Float64() < 0.2
		}
		ex = append(ex, Correct(b.String(), cheapOK, strongOK))
		hard = append(hard, isHard)
	}
	return ex, hard
}

func qualities(ex []Example) (cheap, strong []float64) {
	for _, e := range ex {
		cheap, strong = append(cheap, e.Cheap), append(strong, e.Strong)
	}
	return cheap, strong
}

func TestTrainSeparatesSyntheticData(t *testing.T) {
	train, _ := synthetic(800, 1)
	m, err := Train(train, TrainOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	test, hard := synthetic(600, 2)
	var hardSum, easySum, hardN float64
	scores := make([]float64, len(test))
	for i, ex := range test {
		scores[i] = m.Score(ex.Text)
		if scores[i] <= 0 || scores[i] >= 1 {
			t.Fatalf("score %g is not in (0, 1)", scores[i])
		}
		if hard[i] {
			hardSum += scores[i]
			hardN++
		} else {
			easySum += scores[i]
		}
	}
	hardMean, easyMean := hardSum/hardN, easySum/(float64(len(test))-hardN)
	if hardMean < easyMean+0.1 {
		t.Errorf("mean score of hard prompts %.3f, of easy ones %.3f: not separated", hardMean, easyMean)
	}
	// Every hard prompt should outrank every easy one.
	var minHard, maxEasy = 1.0, 0.0
	for i, s := range scores {
		if hard[i] {
			minHard = math.Min(minHard, s)
		} else {
			maxEasy = math.Max(maxEasy, s)
		}
	}
	if minHard <= maxEasy {
		t.Errorf("lowest hard score %.3f ≤ highest easy score %.3f", minHard, maxEasy)
	}
	cheap, strong := qualities(test)
	if apgr := gapRecovered(scores, cheap, strong); apgr < 0.8 {
		t.Errorf("APGR on fresh data %.3f, want > 0.8", apgr)
	}
}

func TestTrainIsDeterministic(t *testing.T) {
	ex, _ := synthetic(300, 3)
	a, err := Train(ex, TrainOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(ex, TrainOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.weights, b.weights) || a.bias != b.bias || a.Threshold != b.Threshold || a.Info != b.Info {
		t.Error("the same examples, options and seed gave different models")
	}
	c, err := Train(ex, TrainOptions{Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a.weights, c.weights) {
		t.Error("another seed gave the same model")
	}
}

func TestThresholdMeetsTargetOnHeldOutData(t *testing.T) {
	train, _ := synthetic(1000, 11)
	for _, target := range []float64{0.9, 0.95, 0.99} {
		m, err := Train(train, TrainOptions{TargetQuality: target, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if m.Info.CVQuality < target*m.Info.CVStrongQuality-1e-9 {
			t.Errorf("target %g: cross-validated quality %.3f below %.3f", target, m.Info.CVQuality, target*m.Info.CVStrongQuality)
		}
		test, _ := synthetic(4000, 12)
		var routed, strong float64
		sent := 0
		for _, ex := range test {
			strong += ex.Strong
			if m.Route(ex.Text) {
				routed += ex.Strong
				sent++
			} else {
				routed += ex.Cheap
			}
		}
		share := float64(sent) / float64(len(test))
		// Fresh data: allow for sampling noise of about one standard error.
		if routed < (target-0.01)*strong {
			t.Errorf("target %g: routed quality %.3f of strong on fresh data", target, routed/strong)
		}
		if share > 0.6 {
			t.Errorf("target %g: %.0f %% of prompts sent to the strong tier; a third are hard", target, 100*share)
		}
	}
}

func TestSelectThreshold(t *testing.T) {
	cases := []struct {
		name                 string
		scores, cheap, stron []float64
		target               float64
		threshold, share     float64
	}{
		{"first crossing", []float64{0.9, 0.8, 0.7, 0.6}, []float64{0, 1, 0, 1}, []float64{1, 1, 1, 1}, 0.75, 0.85, 0.25},
		{"cheap already enough", []float64{0.9, 0.8, 0.7}, []float64{0, 1, 1}, []float64{1, 0, 1}, 1, 1, 0},
		{"a dip below the target", []float64{0.9, 0.8, 0.7, 0.6}, []float64{0, 0, 1, 0}, []float64{1, 0, 0, 1}, 1, 0, 1},
		{"ties move together", []float64{0.5, 0.5, 0.1}, []float64{0, 1, 0}, []float64{1, 1, 1}, 2.0 / 3, 0.3, 2.0 / 3},
		{"all to strong", []float64{0.3, 0.2}, []float64{0, 0}, []float64{1, 1}, 1, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := SelectThreshold(tc.scores, tc.cheap, tc.stron, tc.target)
			if math.Abs(op.Threshold-tc.threshold) > 1e-12 || math.Abs(op.StrongShare-tc.share) > 1e-12 {
				t.Errorf("threshold %g, share %g; want %g, %g", op.Threshold, op.StrongShare, tc.threshold, tc.share)
			}
			// The threshold routes exactly the share it reports.
			sent := 0
			for _, s := range tc.scores {
				if s >= op.Threshold {
					sent++
				}
			}
			if got := float64(sent) / float64(len(tc.scores)); got != op.StrongShare {
				t.Errorf("threshold sends %g of prompts, reports %g", got, op.StrongShare)
			}
		})
	}
}

func TestGapRecovered(t *testing.T) {
	cheap := []float64{0, 0, 1, 1}
	strong := []float64{1, 1, 1, 1}
	// The gap is 2 and the two items that gain come first: PGR rises
	// 0 → ½ → 1 over shares 0 → ¼ → ½ and stays at 1. By trapezoids:
	// [0,¼]: (0+½)/2·¼ = 1/16; [¼,½]: (½+1)/2·¼ = 3/16; [½,1]: 1·½ = ½.
	if got, want := gapRecovered([]float64{4, 3, 2, 1}, cheap, strong), 1.0/16+3.0/16+0.5; math.Abs(got-want) > 1e-12 {
		t.Errorf("perfect order: %g, want %g", got, want)
	}
	// Worst order: [0,½] stays 0, then rises to 0.5 and 1: 1/16 + 3/16.
	if got, want := gapRecovered([]float64{1, 2, 3, 4}, cheap, strong), 1.0/16+3.0/16; math.Abs(got-want) > 1e-12 {
		t.Errorf("worst order: %g, want %g", got, want)
	}
	// One tie for everything is random routing.
	if got := gapRecovered([]float64{1, 1, 1, 1}, cheap, strong); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("all tied: %g, want 0.5", got)
	}
}

func TestTrainWithGroups(t *testing.T) {
	ex, hard := synthetic(400, 21)
	for i := range ex {
		ex[i].Group = map[bool]string{true: "math", false: "chat"}[hard[i]]
	}
	m, err := Train(ex, TrainOptions{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if b := m.Info.GroupSmoothing; b != 0 && b != 0.5 {
		t.Errorf("group smoothing %g is not one of the defaults", b)
	}
	// The text alone routes: a model never sees groups when scoring.
	if !m.Route("please prove the theorem for my team") {
		t.Error("a hard prompt is not routed to the strong tier")
	}
}

func TestTrainRejects(t *testing.T) {
	ex, _ := synthetic(50, 4)
	same := make([]Example, 20)
	for i := range same {
		same[i] = Correct(fmt.Sprint("prompt ", i), true, true)
	}
	nan := slices.Clone(ex)
	nan[3].Strong = math.NaN()
	cases := []struct {
		name string
		ex   []Example
		opts TrainOptions
	}{
		{"too few", ex[:MinExamples-1], TrainOptions{}},
		{"tiers never differ", same, TrainOptions{}},
		{"not a number", nan, TrainOptions{}},
		{"target quality above 1", ex, TrainOptions{TargetQuality: 1.2}},
		{"holdout of 1", ex, TrainOptions{Holdout: 1}},
		{"unknown target", ex, TrainOptions{Target: "vibes"}},
		{"negative learning rate", ex, TrainOptions{LearningRates: []float64{-1}}},
		{"group smoothing above 1", ex, TrainOptions{GroupSmoothing: []float64{2}}},
		{"bad features", ex, TrainOptions{Features: &Features{HashBits: 2}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Train(tc.ex, tc.opts); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestPromptHashNormalises(t *testing.T) {
	if PromptHash("What is  2+2?\n") != PromptHash("what is 2+2?") {
		t.Error("case and white space changed the prompt hash")
	}
	if PromptHash("what is 2+2?") == PromptHash("what is 2+3?") {
		t.Error("different prompts share a hash")
	}
}
