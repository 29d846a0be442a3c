package eval

import (
	"fmt"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/route/learned"
)

// grouped returns n items in 6 groups; every 10th prompt also appears, in
// other case and spacing, in the next group, as a few MMLU questions do.
func grouped(n int) []Item {
	var items []Item
	for i := 0; i < n; i++ {
		g := fmt.Sprint("subject", i%6)
		p := fmt.Sprintf("question %d about %s", i, g)
		items = append(items, Item{Prompt: p, Group: g, Cheap: float64(i % 2), Strong: 1})
		if i%10 == 0 {
			items = append(items, Item{Prompt: strings.ToUpper(p) + "  ", Group: fmt.Sprint("subject", (i+1)%6), Strong: 1})
		}
	}
	return items
}

func TestCrossValidationNeverTrainsOnATestPrompt(t *testing.T) {
	items := grouped(300)
	for _, split := range []Split{SplitPrompt, SplitGroup} {
		t.Run(string(split), func(t *testing.T) {
			const k = 3
			folds, err := Folds(items, k, split, 7)
			if err != nil {
				t.Fatal(err)
			}
			fold := 0
			trainer := func(train []Item) (Fitted, error) {
				trained := map[uint64]bool{}
				for _, it := range train {
					trained[learned.PromptHash(it.Prompt)] = true
				}
				for i, it := range items {
					if folds[i] == fold && trained[learned.PromptHash(it.Prompt)] {
						t.Errorf("fold %d trains on %q, which it scores", fold, it.Prompt)
					}
				}
				fold++
				return Fitted{Score: func(Item) float64 { return 0 }}, nil
			}
			res, err := CrossValidate(items, folds, k, trainer)
			if err != nil {
				t.Fatal(err)
			}
			if fold != k {
				t.Errorf("%d models trained, want %d", fold, k)
			}
			total := 0
			for _, n := range res.Train {
				total += n
			}
			// Each item is trained on in k−1 folds at most.
			if total > (k-1)*len(items) || total == 0 {
				t.Errorf("%d training items over %d folds of %d items", total, k, len(items))
			}
		})
	}
}

func TestFolds(t *testing.T) {
	items := grouped(300)
	byPrompt, err := Folds(items, 5, SplitPrompt, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The same prompt, whatever its case and spacing, is in one fold.
	seen := map[uint64]int{}
	for i, it := range items {
		h := learned.PromptHash(it.Prompt)
		if f, ok := seen[h]; ok && f != byPrompt[i] {
			t.Errorf("%q is in folds %d and %d", it.Prompt, f, byPrompt[i])
		}
		seen[h] = byPrompt[i]
	}
	count := make([]int, 5)
	for _, f := range byPrompt {
		count[f]++
	}
	for f, n := range count {
		if n < len(items)/10 {
			t.Errorf("fold %d has %d of %d items", f, n, len(items))
		}
	}
	// Leave-groups-out: a group is in one fold, and the 6 groups are dealt
	// 2, 2, 2 to 3 folds.
	byGroup, err := Folds(items, 3, SplitGroup, 1)
	if err != nil {
		t.Fatal(err)
	}
	groupFold := map[string]int{}
	perFold := map[int]map[string]bool{}
	for i, it := range items {
		if f, ok := groupFold[it.Group]; ok && f != byGroup[i] {
			t.Errorf("group %s is in folds %d and %d", it.Group, f, byGroup[i])
		}
		groupFold[it.Group] = byGroup[i]
		if perFold[byGroup[i]] == nil {
			perFold[byGroup[i]] = map[string]bool{}
		}
		perFold[byGroup[i]][it.Group] = true
	}
	for f, gs := range perFold {
		if len(gs) != 2 {
			t.Errorf("fold %d holds %d groups, want 2", f, len(gs))
		}
	}
	if _, err := Folds(items, 7, SplitGroup, 1); err == nil {
		t.Error("7 folds of 6 groups accepted")
	}
	if _, err := Folds(items, 1, SplitPrompt, 1); err == nil {
		t.Error("1 fold accepted")
	}
}

func TestGroupPrior(t *testing.T) {
	train := []Item{
		{Group: "math", Cheap: 0, Strong: 1}, {Group: "math", Cheap: 0, Strong: 1},
		{Group: "chat", Cheap: 1, Strong: 1}, {Group: "chat", Cheap: 1, Strong: 1},
	}
	fit, err := GroupPrior(2)(train)
	if err != nil {
		t.Fatal(err)
	}
	// Global mean gain ½; math (2 + 2·½)/(2 + 2) = ¾; chat (0 + 1)/4 = ¼;
	// an unseen group scores the global mean.
	for g, want := range map[string]float64{"math": 0.75, "chat": 0.25, "law": 0.5} {
		if got := fit.Score(Item{Group: g}); !near(got, want) {
			t.Errorf("%s: %g, want %g", g, got, want)
		}
	}
}
