package learned

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// The model file is JSON: {"version": 1, "kind": "penny-learned-router",
// "target", "threshold", "features", "bias", "stat_weights", "weights":
// {"index": [...], "value": [...]}, "training", "training_prompts":
// {"count", "hashes", "bits"}}. Hash-table weights are sparse (zero
// weights are left out), indices ascending. "training_prompts" (a
// PromptSketch) is optional: files written before it are read as they are.
const (
	FileKind    = "penny-learned-router"
	FileVersion = 1
)

type fileHeader struct {
	Version int    `json:"version"`
	Kind    string `json:"kind"`
}

type fileModel struct {
	Version     int           `json:"version"`
	Kind        string        `json:"kind"`
	Target      Target        `json:"target"`
	Threshold   float64       `json:"threshold"`
	Features    Features      `json:"features"`
	Bias        float64       `json:"bias"`
	StatWeights []float32     `json:"stat_weights"`
	Weights     sparseWeights `json:"weights"`
	// TagWeights has a weight per "key=value" tag seen in training (only
	// with features.tags).
	TagWeights map[string]float32 `json:"tag_weights,omitempty"`
	Training   TrainInfo          `json:"training"`
	// TrainingPrompts sketches the training prompts (see PromptSketch);
	// files written before it have none.
	TrainingPrompts *sketchFile `json:"training_prompts,omitempty"`
}

type sparseWeights struct {
	Index []uint32  `json:"index"`
	Value []float32 `json:"value"`
}

// Save writes m as a model file.
func (m *Model) Save(w io.Writer) error {
	n := 1 << m.Features.HashBits
	f := fileModel{
		Version: FileVersion, Kind: FileKind, Target: m.Target, Threshold: m.Threshold,
		Features: m.Features, Bias: m.bias, StatWeights: m.weights[n:], Training: m.Info,
		Weights: sparseWeights{Index: []uint32{}, Value: []float32{}},
	}
	for i, x := range m.weights[:n] {
		if x != 0 {
			f.Weights.Index = append(f.Weights.Index, uint32(i))
			f.Weights.Value = append(f.Weights.Value, x)
		}
	}
	if len(m.tagWeights) > 0 {
		f.TagWeights = map[string]float32{}
		for k, vals := range m.tagIndex {
			for v, i := range vals {
				f.TagWeights[k+"="+v] = m.tagWeights[i]
			}
		}
	}
	if m.Prompts != nil {
		f.TrainingPrompts = m.Prompts.file()
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("save router model: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("save router model: %w", err)
	}
	return nil
}

// Load reads a model file written by Save. A file of another kind or
// version, an unknown field, or weights that do not fit the features are
// errors that say so.
func Load(r io.Reader) (*Model, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("load router model: %w", err)
	}
	var h fileHeader
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("load router model: not a JSON model file: %w", err)
	}
	if h.Kind != FileKind {
		return nil, fmt.Errorf("load router model: kind is %q, want %q (a file written by `penny router train`)", h.Kind, FileKind)
	}
	if h.Version != FileVersion {
		return nil, fmt.Errorf("load router model: version %d is not supported; this Penny reads version %d (retrain with `penny router train`)", h.Version, FileVersion)
	}
	var f fileModel
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("load router model: %w", err)
	}
	if err := f.Features.validate(); err != nil {
		return nil, fmt.Errorf("load router model: %w", err)
	}
	switch {
	case f.Target != TargetGain && f.Target != TargetCheapFails && f.Target != TargetGainRank:
		return nil, fmt.Errorf("load router model: target %q is not %s, %s or %s", f.Target, TargetGain, TargetGainRank, TargetCheapFails)
	case !(f.Threshold >= 0 && f.Threshold <= 1):
		return nil, fmt.Errorf("load router model: threshold %g is not in [0, 1]", f.Threshold)
	case !finite(f.Bias):
		return nil, fmt.Errorf("load router model: bias is not a finite number")
	case len(f.StatWeights) != NumStats:
		return nil, fmt.Errorf("load router model: %d stat_weights, want %d", len(f.StatWeights), NumStats)
	case len(f.Weights.Index) != len(f.Weights.Value):
		return nil, fmt.Errorf("load router model: %d weight indices but %d values", len(f.Weights.Index), len(f.Weights.Value))
	}
	if len(f.TagWeights) > 0 && !f.Features.Tags {
		return nil, fmt.Errorf("load router model: tag_weights without features.tags")
	}
	names := make([]string, 0, len(f.TagWeights))
	for t := range f.TagWeights {
		names = append(names, t)
	}
	sort.Strings(names)
	tags := tagVocab{}
	for _, t := range names {
		if !finite(float64(f.TagWeights[t])) {
			return nil, fmt.Errorf("load router model: tag_weights[%q] is not a finite number", t)
		}
		tags.add(t)
	}
	m := newModel(f.Features, tags)
	for _, t := range names {
		k, v, _ := strings.Cut(t, "=")
		i, _ := tags.index(k, v)
		m.tagWeights[i] = f.TagWeights[t]
	}
	m.Target, m.Threshold, m.bias, m.Info = f.Target, f.Threshold, f.Bias, f.Training
	if f.TrainingPrompts != nil {
		if m.Prompts, err = f.TrainingPrompts.sketch(); err != nil {
			return nil, fmt.Errorf("load router model: %w", err)
		}
	}
	n := 1 << f.Features.HashBits
	for i, s := range f.StatWeights {
		if !finite(float64(s)) {
			return nil, fmt.Errorf("load router model: stat_weights[%d] is not a finite number", i)
		}
		m.weights[n+i] = s
	}
	prev := -1
	for k, i := range f.Weights.Index {
		if int(i) >= n || int(i) <= prev {
			return nil, fmt.Errorf("load router model: weights.index[%d] = %d is out of order or outside the 2^%d table", k, i, f.Features.HashBits)
		}
		if !finite(float64(f.Weights.Value[k])) {
			return nil, fmt.Errorf("load router model: weights.value[%d] is not a finite number", k)
		}
		m.weights[i] = f.Weights.Value[k]
		prev = int(i)
	}
	return m, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
