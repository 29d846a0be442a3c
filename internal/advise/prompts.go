package advise

import (
	"fmt"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// promptSums is one route and model's prompt and max_tokens use.
type promptSums struct {
	requests, input, output                int64
	inputCost                              llm.Money
	withMax, maxSum, outOfLimited, atLimit int64
	maxOutput                              int64
}

// prompts finds max_tokens far above what answers use, and says what
// trimming prompts would be worth where the linter cannot see them.
func (a *analysis) prompts() error {
	subs := map[subject]*promptSums{}
	var order []subject
	for _, g := range a.groups {
		m := a.model(g.Model)
		if m == nil {
			continue
		}
		k := subject{g.Route, g.Model, ""}
		s := subs[k]
		if s == nil {
			s = &promptSums{}
			subs[k] = s
			order = append(order, k)
		}
		s.requests += g.Requests
		s.input += g.InputTokens + g.CacheReadTokens + g.CacheWriteTokens
		s.output += g.OutputTokens
		terms := catalog.Terms{Mode: llm.Mode(g.Mode), LongContext: g.Long}
		c, _ := m.CostSum(llm.Usage{InputTokens: int(g.InputTokens), CacheReadTokens: int(g.CacheReadTokens),
			CacheWriteTokens: int(g.CacheWriteTokens), CacheWrite1hTokens: int(g.CacheWrite1hTokens)}, terms)
		s.inputCost += c
		s.withMax += g.WithMaxTokens
		s.maxSum += g.MaxTokensSum
		s.outOfLimited += g.OutputOfLimited
		s.atLimit += g.AtLimit
		s.maxOutput = max(s.maxOutput, g.MaxOutput)
	}
	var top subject
	var topCost llm.Money
	for _, k := range order {
		s := subs[k]
		if s.inputCost > topCost {
			top, topCost = k, s.inputCost
		}
		if s.withMax == 0 || s.atLimit > 0 {
			continue
		}
		avgMax, avgOut := s.maxSum/s.withMax, s.outOfLimited/max(s.withMax, 1)
		if avgMax < 4*max(s.maxOutput, 1) {
			continue
		}
		a.add(Recommendation{Kind: KindMaxTokens, Route: k.route, Model: k.model,
			Action: fmt.Sprintf("lower max_tokens to about %d (prompt_policy.max_max_tokens): no answer came near the %d reserved",
				roundUp(s.maxOutput*2), avgMax),
			Known: true,
			Evidence: []Figure{
				{"max_tokens asked", fmt.Sprintf("%d on average over %d requests; none reached", avgMax, s.withMax)},
				{"answers", fmt.Sprintf("%d tokens on average, %d at most", avgOut, s.maxOutput)},
			},
			Confidence: "no direct saving: Bedrock bills the tokens produced, but reserves max_tokens against the tokens-per-minute quota on admission (and Penny's budgets reserve it), so a lower limit admits more requests before throttling"})
	}
	if topCost > 0 {
		s := subs[top]
		a.add(Recommendation{Kind: KindPromptLint, Route: top.route, Model: top.model,
			Action: fmt.Sprintf("prompts are not in the ledger: run penny prompt lint on this route's system prompt (penny prompt lint prompt.txt --model %s --calls %d)",
				top.model, int64(float64(s.requests)*a.rep.Scale)),
			Evidence: []Figure{
				{"prompt tokens", fmt.Sprintf("%d on average over %d requests", s.input/max(s.requests, 1), s.requests)},
				{"worth of each 10 % trimmed", usd(a.rep.monthly(s.inputCost/10)) + " a month"},
			},
			Confidence: "the saving depends on what the linter finds in the prompt, which Penny does not store"})
	}
	return nil
}

// roundUp rounds n up to a round figure: the next multiple of 64.
func roundUp(n int64) int64 { return (n + 63) / 64 * 64 }
