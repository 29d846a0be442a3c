package modeleval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// Result is one item answered by one model: a line of the results JSONL.
// CostNanos is the exact accounted cost; CostUSD is the same for people.
// Judge fields are set only by the judge scorer.
type Result struct {
	ID           string  `json:"id"`
	Model        string  `json:"model"`
	Prompt       string  `json:"prompt"`
	Output       string  `json:"output"`
	Score        float64 `json:"score"`
	Correct      bool    `json:"correct"`
	InputTokens  int     `json:"input_tokens"`
	OutputTokens int     `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
	CostNanos    int64   `json:"cost_nanos"`
	LatencyMS    float64 `json:"latency_ms"`
	Error        string  `json:"error,omitempty"`

	JudgeInputTokens  int   `json:"judge_input_tokens,omitempty"`
	JudgeOutputTokens int   `json:"judge_output_tokens,omitempty"`
	JudgeCostNanos    int64 `json:"judge_cost_nanos,omitempty"`
	JudgeUnparsed     bool  `json:"judge_unparsed,omitempty"`
}

// Cost is the accounted cost of the model's answer.
func (r Result) Cost() llm.Money { return llm.Money(r.CostNanos) }

// JudgeCost is what grading the answer cost.
func (r Result) JudgeCost() llm.Money { return llm.Money(r.JudgeCostNanos) }

// Key identifies a result by item and model.
type Key struct{ ID, Model string }

func (r Result) Key() Key { return Key{r.ID, r.Model} }

// ReadResults reads results JSONL, as written by Run. When a key appears
// more than once (a failed item retried on --resume), the last row wins;
// order is that of first appearance. A torn last line (a run killed while
// writing) is ignored.
func ReadResults(r io.Reader) ([]Result, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var out []Result
	at := map[Key]int{}
	var pending error
	for line := 1; sc.Scan(); line++ {
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		if pending != nil {
			return nil, pending
		}
		var res Result
		if err := json.Unmarshal([]byte(b), &res); err != nil || res.ID == "" || res.Model == "" {
			pending = fmt.Errorf("results line %d is not a result: %.80s", line, b)
			continue
		}
		if i, ok := at[res.Key()]; ok {
			out[i] = res
			continue
		}
		at[res.Key()] = len(out)
		out = append(out, res)
	}
	return out, sc.Err()
}

// Done returns the keys of the results that need no new run: those without
// an error. Failed rows are run again.
func Done(results []Result) map[Key]bool {
	done := map[Key]bool{}
	for _, r := range results {
		if r.Error == "" {
			done[r.Key()] = true
		}
	}
	return done
}
