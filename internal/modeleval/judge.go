package modeleval

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/penny-gateway/penny/internal/llm"
)

// Judge grades answers by asking a model for a mark from 0 to 10 with a
// fixed prompt. Its requests go through Invoker like the models' own, so
// they are accounted and charged; their cost is reported apart.
type Judge struct {
	Invoker llm.Invoker
	// Model is the catalog id of the judge.
	Model string
	// Pass is the lowest mark counted as correct (default 7).
	Pass int
}

// JudgeSystem is the judge's fixed instruction.
const JudgeSystem = `You grade answers. Compare the ANSWER with the REFERENCE for the QUESTION.
Reply with a single integer from 0 (wrong or missing) to 10 (fully correct and complete), and nothing else.`

// judgeMark accepts only a bare integer from 0 to 10.
var judgeMark = regexp.MustCompile(`^(10|[0-9])$`)

func (j *Judge) Name() string     { return "judge" }
func (j *Judge) Binary() bool     { return false }
func (j *Judge) Check(Item) error { return nil }

// Score asks the judge. An answer that is not a bare mark scores 0 with
// Judge.Unparsed set; only a failed call is an error.
func (j *Judge) Score(ctx context.Context, it Item, out string) (Grade, error) {
	zero := 0.0
	n := 4
	req := &llm.Request{
		Model:  j.Model,
		System: []llm.SystemBlock{{Text: JudgeSystem}},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(
			"QUESTION:\n" + it.PromptText() + "\n\nREFERENCE:\n" + it.Expected + "\n\nANSWER:\n" + out)}}},
		Config: llm.InferenceConfig{MaxTokens: &n, Temperature: &zero},
		Meta:   llm.Meta{Tags: map[string]string{"penny-eval": "judge"}},
	}
	resp, err := j.Invoker.Invoke(ctx, req)
	if err != nil {
		return Grade{}, fmt.Errorf("judge: %w", err)
	}
	call := &JudgeCall{Usage: resp.Usage, Cost: resp.Cost}
	mark, ok := ParseMark(resp.Text())
	if !ok {
		call.Unparsed = true
		return Grade{Judge: call}, nil
	}
	pass := j.Pass
	if pass == 0 {
		pass = 7
	}
	return Grade{Score: float64(mark) / 10, Correct: mark >= pass, Judge: call}, nil
}

// ParseMark reads a judge's reply strictly: a bare integer from 0 to 10,
// surrounding white space allowed.
func ParseMark(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if !judgeMark.MatchString(s) {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, true
}

// patternCache compiles each regex pattern once.
type patternCache struct {
	mu sync.Mutex
	m  map[string]*regexp.Regexp
}

func (c *patternCache) get(p string) (*regexp.Regexp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if re, ok := c.m[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("expected pattern %q: %w", p, err)
	}
	c.m[p] = re
	return re, nil
}
