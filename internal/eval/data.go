// Package eval evaluates routers on prompts for which the quality of a
// cheap and a strong model's answers is known: the cost–quality curve of a
// router against random routing, always-cheap, always-strong and a perfect
// router; RouteLLM's metrics (CPT, APGR); the cost saved at a quality
// target; cross-validation without leakage; loaders for the RouteLLM
// evaluation data; and CSV and SVG writers for the curves.
package eval

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/penny-gateway/penny/internal/route/learned"
)

// Item is one prompt with the quality of each model's answer.
type Item struct {
	Prompt string
	// Group is the prompt's subject or category (MMLU subject, MT-Bench
	// category), used by leave-groups-out splits and the per-group prior;
	// empty when unknown.
	Group string
	// Cheap and Strong are the quality of the answers on a ratio scale
	// where higher is better: 1 or 0 for right or wrong, or a judge score.
	Cheap, Strong float64
	// Tags are the request's tags as "key=value" (JSONL "tags"), features
	// of a router trained with tags.
	Tags []string
	// CheapTokens and StrongTokens estimate each answer's output tokens for
	// pricing; 0 means the dataset's OutputTokens.
	CheapTokens, StrongTokens int
}

// Gain is how much better the strong model answered.
func (it Item) Gain() float64 { return it.Strong - it.Cheap }

// Dataset is a named set of items.
type Dataset struct {
	Name  string
	Items []Item
	// Quality says what the qualities are, e.g. "accuracy".
	Quality string
	// OutputTokens is the answer length assumed for pricing items that do
	// not say.
	OutputTokens int
	// Contaminated counts the prompts dropped because they overlap
	// RouteLLM's training data.
	Contaminated int
}

// Examples returns the items as training examples, with their tags (a
// feature only of models whose features use tags).
func Examples(items []Item) []learned.Example {
	out := make([]learned.Example, len(items))
	for i, it := range items {
		out[i] = learned.Example{Text: it.Prompt, Cheap: it.Cheap, Strong: it.Strong, Group: it.Group, Tags: it.Tags}
	}
	return out
}

// WithGroupTags returns a copy of items with each item's GroupTag added to
// its tags.
func WithGroupTags(items []Item) []Item {
	out := make([]Item, len(items))
	for i, it := range items {
		out[i] = it
		if t := GroupTag(it); t != "" {
			out[i].Tags = append(append([]string(nil), it.Tags...), t)
		}
	}
	return out
}

// Tagged reports whether any item has tags.
func Tagged(items []Item) bool {
	for _, it := range items {
		if len(it.Tags) > 0 {
			return true
		}
	}
	return false
}

// GroupTag is the request tag that stands for an item's group ("group=" and
// the MMLU subject or MT-Bench category), as a client would tag a request
// with x-penny-tags (feature=coding); "" when the item has no group.
func GroupTag(it Item) string {
	if it.Group == "" {
		return ""
	}
	return "group=" + it.Group
}

// Groups reports whether any item has a group.
func (d *Dataset) Groups() bool {
	for _, it := range d.Items {
		if it.Group != "" {
			return true
		}
	}
	return false
}

// MeanQuality returns the mean quality of always-cheap and always-strong.
func MeanQuality(items []Item) (cheap, strong float64) {
	for _, it := range items {
		cheap += it.Cheap
		strong += it.Strong
	}
	n := float64(len(items))
	return cheap / n, strong / n
}

// DataDirEnv names the environment variable that overrides where the
// RouteLLM data is.
const DataDirEnv = "PENNY_ROUTELLM_DIR"

// DataDir returns the RouteLLM data directory: $PENNY_ROUTELLM_DIR if set,
// else ../shared/data/routellm next to the repository root (the nearest
// directory at or above the working directory that holds Penny's go.mod).
// It does not check that the directory exists.
func DataDir(getenv func(string) string) (string, error) {
	if d := getenv(DataDirEnv); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/penny-gateway/penny\n") {
			return filepath.Join(dir, "..", "shared", "data", "routellm"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no RouteLLM data directory: not inside Penny's repository and %s is not set", DataDirEnv)
		}
	}
}

// RouteLLMBenchmarks are the names Open accepts after "routellm:".
var RouteLLMBenchmarks = []string{"mmlu", "gsm8k", "mt_bench"}

// Open loads a dataset named by spec: "routellm:mmlu", "routellm:gsm8k" or
// "routellm:mt_bench" from DataDir, or a JSONL file (see ReadJSONL).
func Open(spec string, getenv func(string) string) (*Dataset, error) {
	name, ok := strings.CutPrefix(spec, "routellm:")
	if !ok {
		f, err := os.Open(spec)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		d, err := ReadJSONL(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec, err)
		}
		d.Name = filepath.Base(spec)
		return d, nil
	}
	dir, err := DataDir(getenv)
	if err != nil {
		return nil, err
	}
	switch strings.ReplaceAll(name, "-", "_") {
	case "mmlu":
		return LoadMMLU(dir)
	case "gsm8k":
		return LoadGSM8K(dir)
	case "mt_bench":
		return LoadMTBench(dir)
	}
	return nil, fmt.Errorf("unknown RouteLLM benchmark %q: use one of %s", name, strings.Join(RouteLLMBenchmarks, ", "))
}

// jsonlRow is one line of a JSONL dataset.
type jsonlRow struct {
	Prompt        string   `json:"prompt"`
	CheapCorrect  *bool    `json:"cheap_correct"`
	StrongCorrect *bool    `json:"strong_correct"`
	CheapScore    *float64 `json:"cheap_score"`
	StrongScore   *float64 `json:"strong_score"`
	Group         string   `json:"group"`
	// Tags are the request's tags, e.g. {"feature": "coding"}.
	Tags map[string]string `json:"tags"`
}

// ReadJSONL reads one item per line: {"prompt": "...", "cheap_correct":
// bool, "strong_correct": bool}, where "cheap_score" and "strong_score"
// (numbers, higher is better) may stand in for the booleans, "group"
// names a subject and "tags" is an object of the request's tags (as sent in
// x-penny-tags), read as "key=value". Other fields are ignored, so per-item results of other
// tools can be read as they are; blank lines are skipped.
func ReadJSONL(r io.Reader) (*Dataset, error) {
	d := &Dataset{Name: "jsonl", Quality: "accuracy", OutputTokens: 256}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	line := 0
	graded := false
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var row jsonlRow
		if err := json.Unmarshal([]byte(b), &row); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if row.Prompt == "" {
			return nil, fmt.Errorf("line %d: prompt is missing or empty", line)
		}
		cheap, err := quality(row.CheapCorrect, row.CheapScore)
		if err != nil {
			return nil, fmt.Errorf("line %d: cheap: %w", line, err)
		}
		strong, err := quality(row.StrongCorrect, row.StrongScore)
		if err != nil {
			return nil, fmt.Errorf("line %d: strong: %w", line, err)
		}
		graded = graded || row.CheapScore != nil || row.StrongScore != nil
		d.Items = append(d.Items, Item{Prompt: row.Prompt, Group: row.Group, Cheap: cheap, Strong: strong, Tags: learned.TagList(row.Tags)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(d.Items) == 0 {
		return nil, errors.New("no items")
	}
	if graded {
		d.Quality = "score"
	}
	return d, nil
}

func quality(correct *bool, score *float64) (float64, error) {
	switch {
	case score != nil:
		if math.IsNaN(*score) || math.IsInf(*score, 0) {
			return 0, errors.New("score is not a finite number")
		}
		return *score, nil
	case correct != nil:
		if *correct {
			return 1, nil
		}
		return 0, nil
	}
	return 0, errors.New("neither *_correct nor *_score is set")
}
