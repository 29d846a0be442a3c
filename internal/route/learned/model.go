// Package learned is Penny's learned router: a logistic regression over
// hashed word and character n-grams and a few prompt statistics that
// scores how much a prompt needs the strong tier, trained on prompts for
// which the quality of a cheap and a strong model's answers is known.
//
// A Model is immutable once trained or loaded and safe for concurrent use;
// scoring a prompt does not allocate.
package learned

import (
	"math"
	"sync"
)

// Model is a trained router, made by Train or Load.
type Model struct {
	// Features is how prompts are turned into features.
	Features Features
	// Threshold is the score from which Route sends a prompt to the strong
	// tier (see TrainOptions.TargetQuality): 0 sends everything there, 1
	// (almost) nothing.
	Threshold float64
	// Target is what the score estimates (TargetGain, TargetGainRank or
	// TargetCheapFails).
	Target Target
	// Info describes the training run; it does not affect scoring.
	Info TrainInfo
	// Prompts sketches the training prompts, so that an evaluation can
	// warn about prompts the model was trained on; nil for model files
	// written before sketches were.
	Prompts *PromptSketch

	bias    float64
	weights []float32 // Features.dim() entries: hash table, then statistics
	// tagIndex numbers the tags seen in training; tagWeights has their
	// weights (both empty without Features.Tags).
	tagIndex   tagVocab
	tagWeights []float32

	pool sync.Pool // of *vec
}

// newModel returns an untrained model with zero weights, with a weight for
// each tag of tags (nil for none).
func newModel(f Features, tags tagVocab) *Model {
	m := &Model{Features: f, weights: make([]float32, f.dim()), tagIndex: tags, tagWeights: make([]float32, tags.size())}
	m.pool.New = func() any {
		return &vec{words: make([]uint32, 0, 256), chars: make([]uint32, 0, 2048), tags: make([]uint32, 0, 8)}
	}
	return m
}

// Score returns the model's estimate, in (0, 1), that text needs the
// strong tier: with Target TargetCheapFails the probability that the cheap
// tier fails, with TargetGain (1 + the expected quality gain of the strong
// tier over the cheap one) / 2, with TargetGainRank the expected rank of
// that gain. Higher means route to the strong tier.
func (m *Model) Score(text string) float64 {
	return m.ScoreTagged(text)
}

// ScoreTagged is Score for a request that carries tags (see
// Features.Tags); a model trained without tags ignores them.
func (m *Model) ScoreTagged(text string, tags ...string) float64 {
	return m.score(text, tags, nil)
}

// ScoreTags is ScoreTagged for a request's tag map (llm.Meta.Tags), read
// without allocating.
func (m *Model) ScoreTags(text string, tags map[string]string) float64 {
	return m.score(text, nil, tags)
}

// score scores text with the tags of list ("key=value") and of set; tags
// count only if the model uses tags and was trained with them.
func (m *Model) score(text string, list []string, set map[string]string) float64 {
	v, _ := m.pool.Get().(*vec)
	if v == nil {
		v = new(vec)
	}
	m.Features.extract(text, v)
	if m.Features.Tags {
		m.tagIndex.addList(v, list)
		for k, val := range set {
			m.tagIndex.addTo(v, k, val)
		}
	}
	z := m.logit(v)
	m.pool.Put(v)
	return sigmoid(z)
}

// Route reports whether text should go to the strong tier: whether its
// score reaches the model's threshold.
func (m *Model) Route(text string) (strong bool) {
	return m.Score(text) >= m.Threshold
}

// logit is the linear part of the model for one feature vector.
func (m *Model) logit(v *vec) float64 {
	w := m.weights[:1<<m.Features.HashBits]
	var sw, sc float32
	for _, e := range v.words {
		sw += signed(w[e>>1], e)
	}
	for _, e := range v.chars {
		sc += signed(w[e>>1], e)
	}
	var st float32
	for _, i := range v.tags {
		st += m.tagWeights[i]
	}
	z := m.bias + float64(sw*blockScale(len(v.words))) + float64(sc*blockScale(len(v.chars))) + float64(st)
	stats := m.weights[len(w):]
	for i, s := range v.stats {
		z += float64(stats[i] * s)
	}
	return z
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
