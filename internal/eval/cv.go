package eval

import (
	"errors"
	"fmt"
	"sort"

	"github.com/penny-gateway/penny/internal/route/learned"
)

// Split says how cross-validation assigns items to folds.
type Split string

const (
	// SplitPrompt assigns folds by a hash of the prompt (case and white
	// space normalised), so a repeated prompt is always in one fold.
	SplitPrompt Split = "prompt"
	// SplitGroup assigns whole groups (MMLU subjects) to folds: the model
	// is scored on subjects it never saw.
	SplitGroup Split = "group"
)

// Folds assigns each item one of k folds. With SplitGroup the groups,
// ordered by a hash of their name, are dealt to the folds in turn so the
// folds hold about as many groups each; it fails when there are fewer
// groups than folds. The seed changes the assignment.
func Folds(items []Item, k int, split Split, seed uint64) ([]int, error) {
	if k < 2 {
		return nil, fmt.Errorf("cross-validation needs at least 2 folds, got %d", k)
	}
	folds := make([]int, len(items))
	switch split {
	case SplitPrompt:
		for i, it := range items {
			folds[i] = int(mix(learned.PromptHash(it.Prompt)^mix(seed)) % uint64(k))
		}
	case SplitGroup:
		seen := map[string]bool{}
		var groups []string
		for _, it := range items {
			if !seen[it.Group] {
				seen[it.Group] = true
				groups = append(groups, it.Group)
			}
		}
		if len(groups) < k {
			return nil, fmt.Errorf("leaving subjects out in %d folds needs at least %d subjects; the data has %d", k, k, len(groups))
		}
		h := func(g string) uint64 { return mix(learned.PromptHash("group:"+g) ^ mix(seed)) }
		sort.Slice(groups, func(a, b int) bool { return h(groups[a]) < h(groups[b]) })
		fold := map[string]int{}
		for r, g := range groups {
			fold[g] = r % k
		}
		for i, it := range items {
			folds[i] = fold[it.Group]
		}
	default:
		return nil, fmt.Errorf("split %q is not %s or %s", split, SplitPrompt, SplitGroup)
	}
	return folds, nil
}

// mix is SplitMix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Fitted is a router trained on some items.
type Fitted struct {
	// Score rates an item's need for the strong model; higher is more.
	Score func(Item) float64
	// Route is the router's own decision at its threshold; nil when it
	// has none.
	Route func(Item) bool
}

// Trainer fits a router to training items.
type Trainer func(train []Item) (Fitted, error)

// CVResult holds the out-of-fold decisions of a cross-validated router.
type CVResult struct {
	// Scores[i] is item i's score by the model that did not train on it.
	Scores []float64
	// Routed[i] is that model's own routing decision (nil when the
	// router has no threshold).
	Routed []bool
	// Train[f] is how many items fold f's model trained on.
	Train []int
}

// ErrEmptyFold is wrapped by CrossValidate's error for a fold that no item
// falls in: too few items, or too few distinct prompts, for the folds.
var ErrEmptyFold = errors.New("no item falls in this fold")

// CrossValidate trains one router per fold on the other folds and scores
// the fold with it. A fold without items is an error wrapping
// ErrEmptyFold; train's errors (learned.ErrTooFewExamples for a fold's
// training items too few) are wrapped as they are. An item whose prompt (compared as PromptHash does) is
// also in the fold under test is left out of that fold's training, so no
// prompt is ever both trained on and scored, even when a prompt repeats
// across groups.
func CrossValidate(items []Item, folds []int, k int, train Trainer) (*CVResult, error) {
	res := &CVResult{Scores: make([]float64, len(items)), Train: make([]int, k)}
	// An empty fold first: fewer folds is the fix, whatever else fails.
	size := make([]int, k)
	for _, f := range folds {
		if f >= 0 && f < k {
			size[f]++
		}
	}
	for f, n := range size {
		if n == 0 {
			return nil, fmt.Errorf("fold %d of %d: %w (%d items for %d folds)", f+1, k, ErrEmptyFold, len(items), k)
		}
	}
	hashes := make([]uint64, len(items))
	for i, it := range items {
		hashes[i] = learned.PromptHash(it.Prompt)
	}
	for f := 0; f < k; f++ {
		testHashes := map[uint64]bool{}
		var test []int
		for i := range items {
			if folds[i] == f {
				testHashes[hashes[i]] = true
				test = append(test, i)
			}
		}
		var tr []Item
		for i, it := range items {
			if folds[i] != f && !testHashes[hashes[i]] {
				tr = append(tr, it)
			}
		}
		res.Train[f] = len(tr)
		fit, err := train(tr)
		if err != nil {
			return nil, fmt.Errorf("fold %d of %d: %w", f+1, k, err)
		}
		if fit.Route != nil && res.Routed == nil {
			res.Routed = make([]bool, len(items))
		}
		for _, i := range test {
			res.Scores[i] = fit.Score(items[i])
			if fit.Route != nil {
				res.Routed[i] = fit.Route(items[i])
			}
		}
	}
	return res, nil
}

// LearnedTrainer trains Penny's learned router with opts.
func LearnedTrainer(opts learned.TrainOptions) Trainer {
	return func(train []Item) (Fitted, error) {
		m, err := learned.Train(Examples(train), opts)
		if err != nil {
			return Fitted{}, err
		}
		return ModelRouter(m), nil
	}
}

// ModelRouter scores items with a trained model and routes them at its
// threshold. An item's tags are read only by a model trained with tags.
func ModelRouter(m *learned.Model) Fitted {
	score := func(it Item) float64 { return m.ScoreTagged(it.Prompt, it.Tags...) }
	return Fitted{
		Score: score,
		Route: func(it Item) bool { return score(it) >= m.Threshold },
	}
}

// GroupPrior is the per-subject baseline: an item's score is the mean gain
// of the strong model over the cheap one among training items of its group,
// shrunk toward the mean of all training items as if the global mean were
// seen alpha more times. A group not seen in training scores the global
// mean, so under SplitGroup the baseline routes at random.
func GroupPrior(alpha float64) Trainer {
	return func(train []Item) (Fitted, error) {
		if len(train) == 0 {
			return Fitted{}, fmt.Errorf("no training items")
		}
		var total float64
		sum, n := map[string]float64{}, map[string]float64{}
		for _, it := range train {
			total += it.Gain()
			sum[it.Group] += it.Gain()
			n[it.Group]++
		}
		global := total / float64(len(train))
		return Fitted{Score: func(it Item) float64 {
			return (sum[it.Group] + alpha*global) / (n[it.Group] + alpha)
		}}, nil
	}
}

// LengthScores is the prompt-length baseline: longer prompts go to the
// strong model first.
func LengthScores(items []Item) []float64 {
	out := make([]float64, len(items))
	for i, it := range items {
		out[i] = float64(len(it.Prompt))
	}
	return out
}
