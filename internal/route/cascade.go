package route

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// CascadeConfig configures the cascade strategy: the Cheap tier answers
// first; if its answer fails a check, the Strong tier answers instead.
// Both calls are charged (the rejected one through Meta.Extra) and the
// rejected one is listed in Meta.Attempts with kind "cascade_rejected".
//
//	strategy: cascade
//	cascade:
//	  cheap: small
//	  strong: large
//	  checks:
//	    min_chars: 20
//	    refusal_patterns: ["(?i)i can't help"]
//	    stop_reasons_ok: [end_turn, stop_sequence]
//	    json_schema: {type: object, required: [answer]}
//	    judge: {model: nova-pro, min_score: 7}
//
// Streaming requests are cascaded by buffering: the cheap answer is fetched
// whole, checked, and replayed as a stream if accepted, so a client never
// sees a rejected answer (the cost is the cheap attempt's time to first
// token); if it is rejected, the strong tier streams as usual.
type CascadeConfig struct {
	// Cheap and Strong name tiers of the route.
	Cheap  string `yaml:"cheap"`
	Strong string `yaml:"strong"`
	Checks Checks `yaml:"checks"`
}

// Checks decide whether the cheap tier's answer is accepted. Every check
// that is set must pass.
type Checks struct {
	// MinChars rejects answers whose text is shorter (in characters,
	// surrounding whitespace excluded). An empty answer is always rejected
	// unless it stopped to use a tool.
	MinChars int `yaml:"min_chars"`
	// RefusalPatterns are regular expressions; an answer matching any is
	// rejected. Unset means DefaultRefusalPatterns; [] turns the check off.
	RefusalPatterns []string `yaml:"refusal_patterns"`
	// StopReasonsOK lists the stop reasons accepted (default end_turn and
	// stop_sequence: an answer cut off at max_tokens, filtered or a tool
	// call escalates). Add tool_use for routes whose clients use tools.
	StopReasonsOK []string `yaml:"stop_reasons_ok"`
	// JSONSchema, if set, requires the answer to be JSON (optionally in a
	// ```json fence) valid against this schema. It may be written as YAML
	// or as a JSON string. Supported keywords: type, properties, required,
	// items, enum, additionalProperties (true/false); title, description,
	// $schema and $id are ignored; others are errors.
	JSONSchema any `yaml:"json_schema"`
	// Judge, if set, asks a model to score the answer from 0 to 10.
	Judge *JudgeConfig `yaml:"judge"`
}

// JudgeConfig asks a model to grade the cheap answer. Its usage is charged
// to the request (Meta.Extra, "cascade-judge"). A failed or unparseable
// judgement escalates.
type JudgeConfig struct {
	Model string `yaml:"model"`
	// MinScore is the lowest score accepted, 1 to 10 (default 7).
	MinScore int `yaml:"min_score"`
}

// DefaultRefusalPatterns catch the usual ways a model declines.
var DefaultRefusalPatterns = []string{
	`(?i)\bI(?: am|'m|’m)? ?(?:sorry,? but I )?(?:can(?:'|’)?t|cannot|can not|am unable to|(?:'|’)m unable to|am not able to|won(?:'|’)?t be able to) (?:help|assist|answer|provide|comply|do that|complete)`,
	`(?i)\bI(?:'m| am|’m) (?:sorry|afraid),? (?:but )?I (?:can(?:'|’)?t|cannot)`,
	`(?i)\bas an AI(?: language model| assistant)?,? I\b`,
}

// judgePrompt is the judge's fixed system prompt.
const judgePrompt = `You grade answers. Given a user's request and an assistant's answer, rate how completely and correctly the answer addresses the request, from 0 (useless or wrong) to 10 (perfect).
Reply with the number only.`

type cascade struct {
	cheap, strong *Tier
	minChars      int
	refusals      []*regexp.Regexp
	stopOK        map[llm.StopReason]bool
	schema        *schema
	judgeModel    string
	minScore      int
}

func (r *Route) compileCascade(resolve Resolver) error {
	cc := r.Cascade
	if cc == nil {
		return fmt.Errorf("route %s: strategy cascade needs cascade.cheap and cascade.strong", r.Name)
	}
	c := &cascade{}
	var ok bool
	if c.cheap, ok = r.tiers[cc.Cheap]; !ok {
		return fmt.Errorf("route %s: cascade.cheap %q is not a tier", r.Name, cc.Cheap)
	}
	if c.strong, ok = r.tiers[cc.Strong]; !ok {
		return fmt.Errorf("route %s: cascade.strong %q is not a tier", r.Name, cc.Strong)
	}
	if c.cheap == c.strong {
		return fmt.Errorf("route %s: cascade.cheap and cascade.strong are the same tier", r.Name)
	}
	ch := cc.Checks
	if ch.MinChars < 0 {
		return fmt.Errorf("route %s: cascade.checks.min_chars must not be negative", r.Name)
	}
	c.minChars = ch.MinChars
	pats := ch.RefusalPatterns
	if pats == nil {
		pats = DefaultRefusalPatterns
	}
	for i, p := range pats {
		re, err := regexp.Compile(p)
		if err != nil {
			return fmt.Errorf("route %s: cascade.checks.refusal_patterns[%d]: %w", r.Name, i, err)
		}
		c.refusals = append(c.refusals, re)
	}
	stops := ch.StopReasonsOK
	if len(stops) == 0 {
		stops = []string{string(llm.StopEndTurn), string(llm.StopSequence)}
	}
	c.stopOK = map[llm.StopReason]bool{}
	for _, s := range stops {
		switch sr := llm.StopReason(s); sr {
		case llm.StopEndTurn, llm.StopToolUse, llm.StopMaxTokens, llm.StopSequence, llm.StopGuardrail,
			llm.StopContentFilter, llm.StopContextWindow, llm.StopMalformedModel, llm.StopMalformedTool:
			c.stopOK[sr] = true
		default:
			return fmt.Errorf("route %s: cascade.checks.stop_reasons_ok: %q is not a stop reason", r.Name, s)
		}
	}
	if ch.JSONSchema != nil {
		sc, err := compileSchema(ch.JSONSchema)
		if err != nil {
			return fmt.Errorf("route %s: cascade.checks.json_schema: %w", r.Name, err)
		}
		c.schema = sc
	}
	if j := ch.Judge; j != nil {
		if j.Model == "" {
			return fmt.Errorf("route %s: cascade.checks.judge.model is required", r.Name)
		}
		m, err := resolve(j.Model)
		if err != nil {
			return fmt.Errorf("route %s: cascade.checks.judge.model: %w", r.Name, err)
		}
		c.judgeModel, c.minScore = m, j.MinScore
		if c.minScore == 0 {
			c.minScore = 7
		}
		if c.minScore < 1 || c.minScore > 10 {
			return fmt.Errorf("route %s: cascade.checks.judge.min_score must be 1 to 10", r.Name)
		}
	}
	r.cascade = c
	return nil
}

// check returns why resp fails the route's local checks, or "".
func (c *cascade) check(resp *llm.Response) string {
	if !c.stopOK[resp.StopReason] {
		return fmt.Sprintf("stop reason %q", resp.StopReason)
	}
	if resp.StopReason == llm.StopToolUse {
		// A tool call has no text to judge; accepting tool_use is the
		// operator's choice.
		return ""
	}
	text := strings.TrimSpace(resp.Text())
	if text == "" {
		return "empty answer"
	}
	if n := len([]rune(text)); n < c.minChars {
		return fmt.Sprintf("answer of %d characters", n)
	}
	for _, re := range c.refusals {
		if re.MatchString(text) {
			return "refusal: " + re.String()
		}
	}
	if c.schema != nil {
		if err := c.schema.validateText(text); err != nil {
			return "json schema: " + err.Error()
		}
	}
	return ""
}

// judge asks the judge model to score the answer; it returns why the
// answer is rejected, or "". Its usage goes to req.Meta.Extra.
func (s *stage) judge(ctx context.Context, c *cascade, req *llm.Request, answer string) string {
	user := "Request:\n" + truncate(req.LastUserText(), 8000) + "\n\nAnswer:\n" + truncate(answer, 8000)
	sub := subRequest(req, c.judgeModel, judgePrompt, user, 5)
	resp, err := s.next.Invoke(ctx, sub)
	if resp != nil && sub.Meta.Cache != llm.CacheHit && resp.Usage.Total() > 0 {
		req.Meta.Extra = append(req.Meta.Extra, llm.Charge{Model: sub.Model, Usage: resp.Usage, Why: llm.ChargeJudge})
	}
	if err != nil {
		return "judge failed: " + err.Error()
	}
	score, err := strconv.Atoi(strings.TrimSpace(resp.Text()))
	if err != nil || score < 0 || score > 10 {
		return fmt.Sprintf("judge answer %q is not a score", truncate(resp.Text(), 40))
	}
	if score < c.minScore {
		return fmt.Sprintf("judge score %d < %d", score, c.minScore)
	}
	return ""
}

// tryCheap asks the cheap tier through a copy of req. If the answer is
// accepted it copies the cheap call's routing back into req and returns
// the answer; otherwise it records the rejected attempt (and its cost)
// in req.Meta and returns nil, leaving req ready for the strong tier.
func (s *stage) tryCheap(ctx context.Context, r *Route, req *llm.Request) *llm.Response {
	c := r.cascade
	cheap := cloneRequest(req)
	applyTier(cheap, c.cheap)
	cheap.Meta.Stream = false
	cheap.Meta.Attempts, cheap.Meta.Extra = nil, nil
	start := time.Now()
	resp, err := s.next.Invoke(ctx, cheap)
	latency := time.Since(start)

	var why string
	switch {
	case err != nil:
		why = "error: " + err.Error()
	case resp == nil:
		why = "no answer"
	default:
		why = c.check(resp)
	}
	// The judge's charges land in req.Meta.Extra whatever it decides.
	if why == "" && c.judgeModel != "" {
		why = s.judge(ctx, c, req, resp.Text())
	}
	req.Meta.Attempts = append(req.Meta.Attempts, cheap.Meta.Attempts...)
	req.Meta.Extra = append(req.Meta.Extra, cheap.Meta.Extra...)
	if why == "" {
		stream := req.Meta.Stream
		attempts, extra := req.Meta.Attempts, req.Meta.Extra
		*req = *cheap
		req.Meta.Stream = stream
		req.Meta.Attempts, req.Meta.Extra = attempts, extra
		return resp
	}
	kind := llm.KindCascadeRejected
	if err != nil {
		kind = llm.KindOf(err)
	}
	req.Meta.Attempts = append(req.Meta.Attempts, llm.Attempt{Model: cheap.Model, Kind: kind, Latency: latency})
	if resp != nil && cheap.Meta.Cache != llm.CacheHit && resp.Usage.Total() > 0 {
		req.Meta.Extra = append(req.Meta.Extra, llm.Charge{Model: cheap.Model, Usage: resp.Usage, Why: llm.ChargeCascade})
	}
	s.log.Info("cascade: escalating to the strong tier",
		slog.String("route", r.Name), slog.String("request_id", req.Meta.RequestID),
		slog.String("cheap", cheap.Model), slog.String("strong", c.strong.Model), slog.String("why", why))
	return nil
}

func (s *stage) cascadeInvoke(ctx context.Context, r *Route, req *llm.Request) (*llm.Response, error) {
	if resp := s.tryCheap(ctx, r, req); resp != nil {
		return resp, nil
	}
	applyTier(req, r.cascade.strong)
	return s.next.Invoke(ctx, req)
}

// cascadeStream buffers the cheap attempt (see CascadeConfig).
func (s *stage) cascadeStream(ctx context.Context, r *Route, req *llm.Request) (llm.Stream, error) {
	if resp := s.tryCheap(ctx, r, req); resp != nil {
		return &llm.SliceStream{Events: llm.EventsOf(resp)}, nil
	}
	applyTier(req, r.cascade.strong)
	return s.next.Stream(ctx, req)
}

// cloneRequest copies req deeply enough that stages below may rewrite the
// copy's model, system prompt, config, messages' content lists and meta
// without touching req.
func cloneRequest(req *llm.Request) *llm.Request {
	cp := *req
	cp.System = append([]llm.SystemBlock(nil), req.System...)
	cp.Config.StopSequences = append([]string(nil), req.Config.StopSequences...)
	cp.Messages = make([]llm.Message, len(req.Messages))
	for i, m := range req.Messages {
		m.Content = append([]llm.Block(nil), m.Content...)
		cp.Messages[i] = m
	}
	if req.Tools != nil {
		t := *req.Tools
		t.Tools = append([]llm.Tool(nil), req.Tools.Tools...)
		cp.Tools = &t
	}
	cp.Meta.Attempts = append([]llm.Attempt(nil), req.Meta.Attempts...)
	cp.Meta.Extra = append([]llm.Charge(nil), req.Meta.Extra...)
	return &cp
}
