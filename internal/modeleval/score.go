package modeleval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// Grade is a scorer's verdict on one answer.
type Grade struct {
	// Score is from 0 to 1; Correct is the pass/fail reading of it.
	Score   float64
	Correct bool
	// Judge is set by the judge scorer: what grading cost, and whether the
	// judge's answer could not be parsed (then Score is 0).
	Judge *JudgeCall
}

// JudgeCall is what asking the judge model cost.
type JudgeCall struct {
	Usage    llm.Usage
	Cost     llm.Money
	Unparsed bool
}

// Scorer grades a model's output against an item's expected answer.
// Score must be safe for concurrent use.
type Scorer interface {
	Name() string
	// Binary reports whether every score is 0 or 1 (then confidence
	// intervals are Wilson intervals).
	Binary() bool
	// Check rejects an item the scorer can never grade (a bad pattern),
	// before any model is called.
	Check(it Item) error
	Score(ctx context.Context, it Item, output string) (Grade, error)
}

// Scorers lists the scorer names NewScorer accepts.
var Scorers = []string{"exact", "contains", "regex", "json", "number", "judge"}

// NewScorer returns the named scorer. judge is used only by "judge".
func NewScorer(name string, judge *Judge) (Scorer, error) {
	switch name {
	case "exact":
		return binary{"exact", nil, func(it Item, out string) bool {
			return strings.EqualFold(strings.TrimSpace(out), strings.TrimSpace(it.Expected))
		}}, nil
	case "contains":
		return binary{"contains", nil, func(it Item, out string) bool {
			return strings.Contains(strings.ToLower(out), strings.ToLower(strings.TrimSpace(it.Expected)))
		}}, nil
	case "regex":
		return newRegex(), nil
	case "json":
		return binary{"json", nil, jsonMatch}, nil
	case "number":
		return binary{"number", func(it Item) error {
			if _, ok := LastNumber(it.Expected); !ok {
				return fmt.Errorf("expected %q holds no number", it.Expected)
			}
			return nil
		}, numberMatch}, nil
	case "judge":
		if judge == nil || judge.Invoker == nil || judge.Model == "" {
			return nil, fmt.Errorf("the judge scorer needs a judge model")
		}
		return judge, nil
	}
	return nil, fmt.Errorf("unknown scorer %q: want one of %s", name, strings.Join(Scorers, ", "))
}

// binary is a scorer whose verdict is a pure function of item and output.
type binary struct {
	name  string
	check func(Item) error
	match func(Item, string) bool
}

func (b binary) Name() string { return b.name }
func (b binary) Binary() bool { return true }
func (b binary) Check(it Item) error {
	if b.check == nil {
		return nil
	}
	return b.check(it)
}
func (b binary) Score(_ context.Context, it Item, out string) (Grade, error) {
	if b.match(it, out) {
		return Grade{Score: 1, Correct: true}, nil
	}
	return Grade{}, nil
}

// regexScorer matches the output against the item's expected pattern,
// compiled once per pattern.
type regexScorer struct{ cache *patternCache }

func newRegex() regexScorer { return regexScorer{&patternCache{m: map[string]*regexp.Regexp{}}} }

func (regexScorer) Name() string { return "regex" }
func (regexScorer) Binary() bool { return true }
func (r regexScorer) Check(it Item) error {
	_, err := r.cache.get(it.Expected)
	return err
}
func (r regexScorer) Score(_ context.Context, it Item, out string) (Grade, error) {
	re, err := r.cache.get(it.Expected)
	if err != nil {
		return Grade{}, err
	}
	if re.MatchString(out) {
		return Grade{Score: 1, Correct: true}, nil
	}
	return Grade{}, nil
}

func jsonMatch(it Item, out string) bool {
	var got any
	if err := json.Unmarshal([]byte(stripFence(out)), &got); err != nil {
		return false
	}
	var want any
	if strings.TrimSpace(it.Expected) == "" || json.Unmarshal([]byte(it.Expected), &want) != nil {
		return true // no JSON to compare with: valid JSON is enough
	}
	return reflect.DeepEqual(got, want)
}

// stripFence removes a Markdown code fence around the output, which models
// add to JSON answers even when asked not to.
func stripFence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "```") {
		return s
	}
	s = strings.TrimPrefix(s, "```")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:] // the language tag line
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "```"))
}

var numberRE = regexp.MustCompile(`[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?`)

// LastNumber extracts the last number in s ("1,234.5", "-3", "2e3").
func LastNumber(s string) (float64, bool) {
	ms := numberRE.FindAllString(s, -1)
	for i := len(ms) - 1; i >= 0; i-- {
		m := strings.ReplaceAll(ms[i], ",", "")
		if !strings.ContainsAny(m, "0123456789") {
			continue
		}
		// A sentence-ending "." or an exponent-less "e" are not part of it.
		if f, err := strconv.ParseFloat(m, 64); err == nil {
			return f, true
		}
	}
	return 0, false
}

// numberTolerance is the relative (and, below 1, absolute) difference
// under which two numbers are equal.
const numberTolerance = 1e-6

func numberMatch(it Item, out string) bool {
	want, ok := LastNumber(it.Expected)
	if !ok {
		return false
	}
	got, ok := LastNumber(out)
	if !ok {
		return false
	}
	return math.Abs(got-want) <= numberTolerance*math.Max(1, math.Abs(want))
}
