package learned

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
)

// Example is one prompt with the quality of a cheap and a strong model's
// answers to it.
type Example struct {
	Text string
	// Cheap and Strong are the quality of each tier's answer on a ratio
	// scale where higher is better: 1 or 0 for a right or wrong answer, or
	// a judge's score such as MT-Bench's 1–10.
	Cheap, Strong float64
	// Group optionally names the prompt's subject; see
	// TrainOptions.GroupSmoothing.
	Group string
	// Tags are the request's tags (such as "feature=coding"): features of
	// the model when Features.Tags is set, ignored otherwise.
	Tags []string
}

// Correct returns the example of a prompt whose answers were right or wrong.
func Correct(text string, cheapCorrect, strongCorrect bool) Example {
	return Example{Text: text, Cheap: b2f(cheapCorrect), Strong: b2f(strongCorrect)}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Target is what a model's score estimates.
type Target string

const (
	// TargetGain scores (1 + E[strong − cheap] / R) / 2, where R is the
	// largest quality difference in the training data: a prompt the strong
	// tier answers better scores high, one both answer alike scores ½, one
	// the cheap tier answers better scores low. Routing by it is what a
	// perfect router does, so it is the default.
	TargetGain Target = "gain"
	// TargetCheapFails scores the probability that the cheap tier fails
	// (for graded quality: the cheap answer's expected shortfall from the
	// best quality in the data, relative to the quality range).
	TargetCheapFails Target = "cheap-fails"
	// TargetGainRank scores the mid-rank, in (0, 1), of a prompt's gain
	// (strong − cheap quality) among the training prompts' gains. It
	// orders prompts as TargetGain does but is not dominated by a few
	// outlying differences, which matters for graded qualities such as
	// judge scores: on MT-Bench, where a handful of questions differ by 5–8
	// points and most by 0–1, it ranked clearly better than the gain.
	// For right-or-wrong qualities it only reweights the three gains −1, 0
	// and 1, and the gain did better.
	TargetGainRank Target = "gain-rank"
)

// TrainOptions tunes Train. The zero value means the defaults.
type TrainOptions struct {
	// Features is the feature configuration (default DefaultFeatures()).
	Features *Features
	// Target is what the score estimates (default TargetGainRank when some
	// quality is graded, not 0 or 1, as judge scores are; else TargetGain).
	Target Target
	// TargetQuality picks the threshold: the lowest share of calls to the
	// strong tier whose routed quality, over all examples scored out of
	// fold (see ThresholdFolds), is at least TargetQuality × the strong
	// tier's quality there (default 0.95; at most 1).
	TargetQuality float64
	// Holdout is the share of prompts, chosen by a hash of the prompt, held
	// out to choose the learning rate and the group smoothing (default
	// 0.2).
	Holdout float64
	// Epochs is the number of passes of AdaGrad over the data (default 6).
	Epochs int
	// LearningRates lists AdaGrad's base steps to try (default 0.005 and
	// 0.03). With few epochs a small step is the main regulariser: it keeps
	// the weights of n-grams seen in a handful of prompts from memorising
	// those prompts' noisy labels.
	LearningRates []float64
	// L2 is the L2 regularisation strength (default 0.01).
	L2 float64
	// GroupSmoothing lists the label smoothings by group to try (default
	// 0 and 0.5 when some example has a group, else 0). A smoothing β
	// blends each training label with the mean label of its group (shrunk
	// toward the overall mean): per-prompt labels are noisy, and β lets the
	// model learn the subject-level signal from the prompt's words.
	// Groups are only read while training; a model scores text alone.
	GroupSmoothing []float64
	// ThresholdFolds is the number of folds whose out-of-fold scores choose
	// the operating point (default 5; at least 2).
	ThresholdFolds int
	// NoRefit keeps the model fitted on the training split. By default the
	// chosen configuration is refitted on all examples. Either way the
	// threshold is the one chosen on the out-of-fold scores.
	NoRefit bool
	// Seed fixes the held-out split and the order of the examples: the same
	// examples, options and seed give the same model.
	Seed uint64
}

// TrainInfo records how a model was trained.
type TrainInfo struct {
	Examples       int     `json:"examples"`
	Train          int     `json:"train"`
	Holdout        int     `json:"holdout"`
	Seed           uint64  `json:"seed"`
	Epochs         int     `json:"epochs"`
	LearningRate   float64 `json:"learning_rate"`
	L2             float64 `json:"l2"`
	GroupSmoothing float64 `json:"group_smoothing"`
	Refit          bool    `json:"refit"`
	// GainRange is R of TargetGain, or the quality range of TargetCheapFails.
	GainRange float64 `json:"gain_range"`
	// HoldoutAPGR is the average performance gap recovered on the held-out
	// split (RouteLLM's APGR; 0.5 is random routing).
	HoldoutAPGR   float64 `json:"holdout_apgr"`
	TargetQuality float64 `json:"target_quality"`
	// ThresholdFolds is how many folds chose the operating point; at it,
	// over all examples scored out of fold: the share of calls sent to the
	// strong tier and the routed, cheap-only and strong-only mean quality.
	ThresholdFolds  int     `json:"threshold_folds"`
	CVStrongShare   float64 `json:"cv_strong_share"`
	CVQuality       float64 `json:"cv_quality"`
	CVCheapQuality  float64 `json:"cv_cheap_quality"`
	CVStrongQuality float64 `json:"cv_strong_quality"`
	// Files written before the operating point was cross-fitted carry the
	// held-out split's figures instead; they are read and kept, not used.
	HoldoutStrongShare   float64 `json:"holdout_strong_share,omitempty"`
	HoldoutQuality       float64 `json:"holdout_quality,omitempty"`
	HoldoutCheapQuality  float64 `json:"holdout_cheap_quality,omitempty"`
	HoldoutStrongQuality float64 `json:"holdout_strong_quality,omitempty"`
}

func (o *TrainOptions) defaults(grouped bool) (TrainOptions, error) {
	out := *o
	if out.Features == nil {
		f := DefaultFeatures()
		out.Features = &f
	}
	if out.Target == "" {
		out.Target = TargetGain
	}
	if out.TargetQuality == 0 {
		out.TargetQuality = 0.95
	}
	if out.Holdout == 0 {
		out.Holdout = 0.2
	}
	if out.Epochs == 0 {
		out.Epochs = 6
	}
	if out.ThresholdFolds == 0 {
		out.ThresholdFolds = 5
	}
	if len(out.LearningRates) == 0 {
		out.LearningRates = []float64{0.005, 0.03}
	}
	if out.L2 == 0 {
		out.L2 = 0.01
	}
	if len(out.GroupSmoothing) == 0 {
		out.GroupSmoothing = []float64{0}
		if grouped {
			out.GroupSmoothing = []float64{0, 0.5}
		}
	}
	switch {
	case out.Target != TargetGain && out.Target != TargetCheapFails && out.Target != TargetGainRank:
		return out, fmt.Errorf("train: target %q is not %s, %s or %s", out.Target, TargetGain, TargetGainRank, TargetCheapFails)
	case !(out.TargetQuality > 0 && out.TargetQuality <= 1):
		return out, fmt.Errorf("train: target quality %g is not in (0, 1]", out.TargetQuality)
	case !(out.Holdout > 0 && out.Holdout < 1):
		return out, fmt.Errorf("train: holdout %g is not in (0, 1)", out.Holdout)
	case out.ThresholdFolds < 2:
		return out, fmt.Errorf("train: threshold folds %d: want at least 2", out.ThresholdFolds)
	case out.Epochs < 0:
		return out, errors.New("train: epochs must not be negative")
	case !(out.L2 >= 0):
		return out, fmt.Errorf("train: L2 %g is negative", out.L2)
	}
	for _, lr := range out.LearningRates {
		if !(lr > 0) {
			return out, fmt.Errorf("train: learning rate %g is not positive", lr)
		}
	}
	for _, b := range out.GroupSmoothing {
		if !(b >= 0 && b <= 1) {
			return out, fmt.Errorf("train: group smoothing %g is not in [0, 1]", b)
		}
	}
	return out, out.Features.validate()
}

// MinExamples is the fewest examples Train accepts.
const MinExamples = 10

// ErrTooFewExamples is wrapped by Train's error for too little data to
// train on: fewer than MinExamples examples, or too few distinct prompts to
// hold some out.
var ErrTooFewExamples = errors.New("too few examples")

// Train fits a model to examples: an L2-regularised logistic regression
// trained by AdaGrad. The prompts are split by a hash of the prompt (so a
// repeated prompt falls on one side) into a training and a held-out split;
// every configuration (learning rate × group smoothing) is fitted on the
// training split, and the one with the best APGR on the held-out split is
// kept and, unless NoRefit, refitted on all examples. The operating point
// (see TrainOptions.TargetQuality) is chosen on scores of every example by
// a model that did not see it (ThresholdFolds-fold cross-fitting of the
// chosen configuration), so that it reflects the whole mix of prompts
// rather than one split of it. Its threshold is the final model's: scores
// of prompts a model has not seen are what it will be compared with, and
// the final model's own training prompts score more extremely than that. Train
// fails on too few examples (ErrTooFewExamples), on non-finite qualities, and
// when the two tiers never differ. The model's Prompts sketch the training
// prompts.
func Train(examples []Example, opts TrainOptions) (*Model, error) {
	grouped, graded := false, false
	for _, ex := range examples {
		grouped = grouped || ex.Group != ""
		graded = graded || !binary(ex.Cheap) || !binary(ex.Strong)
	}
	if opts.Target == "" && graded {
		opts.Target = TargetGainRank
	}
	o, err := opts.defaults(grouped)
	if err != nil {
		return nil, err
	}
	if len(examples) < MinExamples {
		return nil, fmt.Errorf("train: %w: %d (at least %d needed)", ErrTooFewExamples, len(examples), MinExamples)
	}
	labels, span, err := makeLabels(examples, o.Target)
	if err != nil {
		return nil, err
	}
	var trainIdx, holdIdx []int
	cut := uint64(o.Holdout * (1 << 32))
	for i, ex := range examples {
		if mix(PromptHash(ex.Text)^mix(o.Seed))>>32 < cut {
			holdIdx = append(holdIdx, i)
		} else {
			trainIdx = append(trainIdx, i)
		}
	}
	if len(trainIdx) == 0 || len(holdIdx) == 0 {
		return nil, fmt.Errorf("train: %w: holding out %g of %d examples, split by prompt, left one side empty",
			ErrTooFewExamples, o.Holdout, len(examples))
	}

	f := *o.Features
	var tags tagVocab
	if f.Tags {
		tags = tagVocab{}
		for _, ex := range examples {
			for _, t := range ex.Tags {
				if t != "" {
					tags.add(t)
				}
			}
		}
	}
	vecs := make([]vec, len(examples))
	for i, ex := range examples {
		f.extract(ex.Text, &vecs[i])
		tags.addList(&vecs[i], ex.Tags)
	}
	holdX := make([]*vec, len(holdIdx))
	cheap, strong := make([]float64, len(holdIdx)), make([]float64, len(holdIdx))
	for j, i := range holdIdx {
		holdX[j], cheap[j], strong[j] = &vecs[i], examples[i].Cheap, examples[i].Strong
	}

	type config struct{ lr, beta float64 }
	var configs []config
	for _, beta := range o.GroupSmoothing {
		for _, lr := range o.LearningRates {
			configs = append(configs, config{lr, beta})
		}
	}
	type fitted struct {
		m      *Model
		scores []float64
		apgr   float64
	}
	results := make([]fitted, len(configs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2) // two fits at a time: each holds a table of weights
	for k, c := range configs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			xs, ys := pick(vecs, labels, trainIdx)
			smoothByGroup(examples, trainIdx, ys, c.beta)
			m := newModel(f, tags)
			m.fit(xs, ys, o.L2, c.lr, o.Epochs, o.Seed)
			scores := make([]float64, len(holdX))
			for j, v := range holdX {
				scores[j] = sigmoid(m.logit(v))
			}
			results[k] = fitted{m, scores, gapRecovered(scores, cheap, strong)}
		}()
	}
	wg.Wait()
	best := 0
	for k := range results {
		if results[k].apgr > results[best].apgr {
			best = k
		}
	}
	m, c := results[best].m, configs[best]
	fit := func(idx []int) *Model {
		xs, ys := pick(vecs, labels, idx)
		smoothByGroup(examples, idx, ys, c.beta)
		m := newModel(f, tags)
		m.fit(xs, ys, o.L2, c.lr, o.Epochs, o.Seed)
		return m
	}
	oof := crossScores(examples, vecs, o.ThresholdFolds, o.Seed, fit)
	allCheap, allStrong := make([]float64, len(examples)), make([]float64, len(examples))
	for i, ex := range examples {
		allCheap[i], allStrong[i] = ex.Cheap, ex.Strong
	}
	op := SelectThreshold(oof, allCheap, allStrong, o.TargetQuality)
	info := TrainInfo{
		Examples: len(examples), Train: len(trainIdx), Holdout: len(holdIdx), Seed: o.Seed,
		Epochs: o.Epochs, LearningRate: c.lr, L2: o.L2, GroupSmoothing: c.beta, Refit: !o.NoRefit,
		GainRange: span, HoldoutAPGR: results[best].apgr, TargetQuality: o.TargetQuality,
		ThresholdFolds: o.ThresholdFolds, CVStrongShare: op.StrongShare, CVQuality: op.Quality,
		CVCheapQuality: op.CheapQuality, CVStrongQuality: op.StrongQuality,
	}
	all := make([]int, len(examples))
	for i := range all {
		all[i] = i
	}
	if !o.NoRefit {
		m = fit(all)
	}
	m.Target, m.Threshold, m.Info = o.Target, op.Threshold, info
	texts := make([]string, len(examples))
	for i, ex := range examples {
		texts[i] = ex.Text
	}
	m.Prompts = newPromptSketch(texts)
	return m, nil
}

// crossScores scores every example by a model that did not train on it:
// the examples are dealt into k folds by a hash of the prompt, and each
// fold is scored by fit of the other folds. Folds are fitted two at a time.
func crossScores(examples []Example, vecs []vec, k int, seed uint64, fit func(idx []int) *Model) []float64 {
	fold := make([]int, len(examples))
	for i, ex := range examples {
		fold[i] = int(mix(PromptHash(ex.Text)^mix(seed+1)) % uint64(k))
	}
	out := make([]float64, len(examples))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for f := range k {
		var train, test []int
		for i := range examples {
			if fold[i] == f {
				test = append(test, i)
			} else {
				train = append(train, i)
			}
		}
		if len(test) == 0 || len(train) == 0 {
			continue // a tiny data set: these examples keep score 0
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			m := fit(train)
			for _, i := range test {
				out[i] = sigmoid(m.logit(&vecs[i]))
			}
		}()
	}
	wg.Wait()
	return out
}

// binary reports whether q is a right-or-wrong quality, 0 or 1.
func binary(q float64) bool { return q == 0 || q == 1 }

func pick(vecs []vec, labels []float64, idx []int) ([]*vec, []float64) {
	xs, ys := make([]*vec, len(idx)), make([]float64, len(idx))
	for j, i := range idx {
		xs[j], ys[j] = &vecs[i], labels[i]
	}
	return xs, ys
}

// makeLabels turns qualities into training targets in [0, 1].
func makeLabels(examples []Example, t Target) ([]float64, float64, error) {
	var span, lo, hi float64 = 0, math.Inf(1), math.Inf(-1)
	for i, ex := range examples {
		if !finite(ex.Cheap) || !finite(ex.Strong) {
			return nil, 0, fmt.Errorf("train: example %d: quality is not a finite number", i)
		}
		span = math.Max(span, math.Abs(ex.Strong-ex.Cheap))
		lo, hi = math.Min(lo, math.Min(ex.Cheap, ex.Strong)), math.Max(hi, math.Max(ex.Cheap, ex.Strong))
	}
	if span == 0 {
		return nil, 0, errors.New("train: the cheap and strong tiers answer every example equally well: nothing to learn")
	}
	if t == TargetGainRank {
		return gainRanks(examples), span, nil
	}
	y := make([]float64, len(examples))
	for i, ex := range examples {
		if t == TargetGain {
			y[i] = 0.5 + (ex.Strong-ex.Cheap)/(2*span)
		} else {
			y[i] = (hi - ex.Cheap) / (hi - lo)
		}
	}
	if t == TargetCheapFails {
		span = hi - lo
	}
	return y, span, nil
}

// gainRanks returns the mid-rank of each example's gain among all of
// them, scaled to (0, 1): (#lower + #lower-or-equal) / 2n.
func gainRanks(examples []Example) []float64 {
	n := len(examples)
	sorted := make([]float64, n)
	for i, ex := range examples {
		sorted[i] = ex.Strong - ex.Cheap
	}
	sort.Float64s(sorted)
	y := make([]float64, n)
	for i, ex := range examples {
		g := ex.Strong - ex.Cheap
		lo := sort.SearchFloat64s(sorted, g)
		hi := sort.Search(n, func(k int) bool { return sorted[k] > g })
		y[i] = float64(lo+hi) / float64(2*n)
	}
	return y
}

// smoothByGroup blends the labels ys of examples[idx] with their group's
// mean label among those examples, shrunk toward the overall mean as if
// that were seen groupPrior more times.
func smoothByGroup(examples []Example, idx []int, ys []float64, beta float64) {
	if beta == 0 {
		return
	}
	const groupPrior = 10
	sum, n := map[string]float64{}, map[string]float64{}
	var total float64
	for j, i := range idx {
		sum[examples[i].Group] += ys[j]
		n[examples[i].Group]++
		total += ys[j]
	}
	global := total / float64(len(idx))
	for j, i := range idx {
		if g := examples[i].Group; g != "" {
			ys[j] = (1-beta)*ys[j] + beta*(sum[g]+groupPrior*global)/(n[g]+groupPrior)
		}
	}
}

// fit runs AdaGrad on the logistic loss (soft labels ys) with L2
// regularisation applied to the weights an example touches. It is
// deterministic for a seed.
func (m *Model) fit(xs []*vec, ys []float64, l2, lr float64, epochs int, seed uint64) {
	w := m.weights
	g2 := make([]float32, len(w))
	var biasG2 float64
	statBase := uint32(len(w) - NumStats)
	tw := m.tagWeights
	tg2 := make([]float32, len(tw))
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	l2f, lrf := float32(l2), float32(lr)
	step := func(i uint32, x, g float32) {
		grad := g*x + l2f*w[i]
		if grad == 0 {
			return
		}
		g2[i] += grad * grad
		w[i] -= lrf * grad / float32(math.Sqrt(float64(g2[i])))
	}
	for e := 0; e < epochs; e++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, k := range order {
			v := xs[k]
			g := sigmoid(m.logit(v)) - ys[k]
			gf := float32(g)
			sw, sc := blockScale(len(v.words)), blockScale(len(v.chars))
			for _, e := range v.words {
				step(e>>1, signed(sw, e), gf)
			}
			for _, e := range v.chars {
				step(e>>1, signed(sc, e), gf)
			}
			for _, i := range v.tags {
				if grad := gf + l2f*tw[i]; grad != 0 {
					tg2[i] += grad * grad
					tw[i] -= lrf * grad / float32(math.Sqrt(float64(tg2[i])))
				}
			}
			for j, s := range v.stats {
				step(statBase+uint32(j), s, gf)
			}
			biasG2 += g * g
			if biasG2 > 0 {
				m.bias -= lr * g / math.Sqrt(biasG2)
			}
		}
	}
}

// gapRecovered is the APGR of routing by scores: the mean, over every
// share of calls to the strong tier from 0 to 1, of the share of the
// quality gap between the cheap and the strong tier recovered (ties in the
// scores routed together, interpolated linearly). It is 0.5 when the gap
// is zero.
func gapRecovered(scores, cheap, strong []float64) float64 {
	n := len(scores)
	idx := make([]int, n)
	var gap float64
	for i := range idx {
		idx[i] = i
		gap += strong[i] - cheap[i]
	}
	if gap == 0 {
		return 0.5
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	var area, prevShare, prevPGR, cum float64
	for k := 0; k < n; {
		s := scores[idx[k]]
		for first := k; k < n && (k == first || scores[idx[k]] == s); k++ { // a NaN still moves on
			cum += strong[idx[k]] - cheap[idx[k]]
		}
		share, pgr := float64(k)/float64(n), cum/gap
		area += (share - prevShare) * (pgr + prevPGR) / 2
		prevShare, prevPGR = share, pgr
	}
	return area
}

// OperatingPoint is where a threshold puts a router on a set of prompts.
type OperatingPoint struct {
	Threshold float64
	// StrongShare is the share of prompts sent to the strong tier.
	StrongShare float64
	// Quality is the mean quality of the routed answers; CheapQuality and
	// StrongQuality are those of sending everything to one tier.
	Quality, CheapQuality, StrongQuality float64
}

// SelectThreshold returns the threshold with the lowest share of prompts
// sent to the strong tier (score ≥ threshold) from which the routed quality
// stays at least target × the strong tier's quality on these prompts at
// every larger share. Requiring the target to hold from there on, rather
// than at one lucky share, keeps the choice from chasing noise in a small
// sample. Prompts of equal score are routed alike. The threshold
// lies halfway between the lowest score sent to the strong tier and the
// highest one kept on the cheap tier (1 when none is sent, 0 when all are),
// so that it does not sit on one prompt's score. The slices must have
// equal, non-zero length.
func SelectThreshold(scores, cheap, strong []float64, target float64) OperatingPoint {
	n := len(scores)
	idx := make([]int, n)
	var sumCheap, sumStrong float64
	for i := range idx {
		idx[i] = i
		sumCheap += cheap[i]
		sumStrong += strong[i]
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	need := target * sumStrong
	slack := 1e-9 * math.Max(1, math.Abs(need)) // sums of 0/1 qualities must not miss by rounding

	// Walk the groups of equal score from the top; remember where the
	// quality last rose to the target after being below it.
	q := sumCheap
	bestK, bestQ := -1, 0.0
	if q >= need-slack {
		bestK, bestQ = 0, q
	}
	for k := 0; k < n; {
		s := scores[idx[k]]
		for first := k; k < n && (k == first || scores[idx[k]] == s); k++ { // a NaN still moves on
			q += strong[idx[k]] - cheap[idx[k]]
		}
		switch {
		case q < need-slack:
			bestK = -1
		case bestK < 0:
			bestK, bestQ = k, q
		}
	}
	if bestK < 0 { // only when target > 1 and the strong tier falls short of itself
		bestK, bestQ = n, q
	}
	op := OperatingPoint{
		StrongShare: float64(bestK) / float64(n), Quality: bestQ / float64(n),
		CheapQuality: sumCheap / float64(n), StrongQuality: sumStrong / float64(n),
	}
	switch bestK {
	case 0:
		op.Threshold = 1
	case n:
		op.Threshold = 0
	default:
		op.Threshold = (scores[idx[bestK-1]] + scores[idx[bestK]]) / 2
	}
	return op
}

// PromptHash is the hash by which Penny splits prompts for training and
// evaluation: FNV-1a of the prompt with case and white space normalised,
// so prompts that differ only in those fall on the same side of a split.
func PromptHash(text string) uint64 {
	h := fnv.New64a()
	for _, w := range strings.Fields(text) {
		h.Write([]byte(strings.ToLower(w)))
		h.Write([]byte{' '})
	}
	return h.Sum64()
}

// mix is SplitMix64's finaliser: every input bit affects every output bit.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
