// Package sim is Penny's built-in simulator of Amazon Bedrock models, an
// llm.Invoker that answers offline. It serves `penny serve --simulate`, the
// demo and tests, and every answer says so: its text starts with
// "[simulated <bedrock-model-id>] " (all but the bare one-word replies it
// gives a routing classifier or a judge, whose parsers are strict; the
// x-penny-provider header still says "sim").
//
// It also simulates answer quality (quality.go): prompts have a
// difficulty, models a skill, and a simulated judge marks answers, so that
// routing can be weighed for cost and quality offline.
//
// The simulator is deterministic and behaves like Bedrock where cost and
// latency depend on it: it resolves model ids like Bedrock (base ids,
// inference profiles, ARNs, prompt routers), rejects what the model cannot
// do with Bedrock's errors, counts tokens with a real tokenizer, models the
// prompt cache with its minimums and TTLs, honours max tokens and stop
// sequences, calls tools, takes the model's typical time to first token and
// output speed (scaled by Options.TimeScale), and injects faults on demand.
package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// Options configure a Provider. The zero value is a valid configuration:
// seed 0, no sleeping, no faults, the system clock.
type Options struct {
	// Seed makes the answers and the fault sequence reproducible: the same
	// seed and request give the same answer.
	Seed int64
	// TimeScale scales every simulated delay: 1 sleeps as long as Bedrock
	// would take, 0.05 runs twenty times faster, 0 (or less) never sleeps.
	// Reported latencies are always the unscaled, Bedrock-like ones.
	TimeScale float64
	// Faults injects errors.
	Faults Faults
	// Now is the clock of the prompt cache's TTLs; nil means time.Now.
	// Sleeping always uses real timers.
	Now func() time.Time
}

// Provider simulates Bedrock. It is safe for concurrent use.
type Provider struct {
	cat     *catalog.Catalog
	counter *tokens.Counter
	opts    Options
	now     func() time.Time
	// sleep waits d or until ctx is done; tests replace it.
	sleep       func(ctx context.Context, d time.Duration) error
	dice        *dice
	cache       *promptCache
	modelFaults map[string]FaultRates // by catalog id
}

var _ llm.Invoker = (*Provider)(nil)

// New returns a simulator of the models in cat. Fault rates for model names
// that do not resolve in cat are ignored; call Faults.Validate first to
// reject them.
func New(cat *catalog.Catalog, counter *tokens.Counter, opts Options) *Provider {
	p := &Provider{
		cat:         cat,
		counter:     counter,
		opts:        opts,
		now:         opts.Now,
		sleep:       sleepCtx,
		dice:        newDice(opts.Seed),
		cache:       newPromptCache(),
		modelFaults: map[string]FaultRates{},
	}
	if p.now == nil {
		p.now = time.Now
	}
	for name, r := range opts.Faults.Models {
		if t, err := cat.Resolve(name); err == nil && t.Model != nil {
			p.modelFaults[t.Model.ID] = r
		}
	}
	return p
}

// Invoke answers req after the simulated latency (scaled by TimeScale).
// Errors are *llm.Error values carrying Bedrock's exception name in
// Upstream; a cancelled ctx ends the wait with a KindCanceled or
// KindTimeout error.
func (p *Provider) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	switch {
	case req.Embed != nil:
		return p.embed(ctx, req)
	case req.Native != nil:
		return p.native(ctx, req)
	}
	c, err := p.prepare(ctx, req, false)
	if err != nil {
		return nil, err
	}
	if err := p.sleep(ctx, p.scaled(c.resp.Latency)); err != nil {
		return nil, err
	}
	return c.resp, nil
}

// Stream answers req as a ConverseStream would. Errors Bedrock reports
// before the stream starts (validation, throttling, …) are returned here;
// a mid-stream fault is returned by Recv. The stream paces its events
// inside Recv, without a goroutine.
func (p *Provider) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	switch {
	case req.Embed != nil:
		return nil, validation("The model is unsupported for streaming.")
	case req.Native != nil:
		resp, err := p.native(ctx, req)
		if err != nil {
			return nil, err
		}
		return nativeStream(resp), nil
	}
	c, err := p.prepare(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return p.newStream(ctx, c), nil
}

// call is one prepared answer.
type call struct {
	resp    *llm.Response
	ttft    time.Duration // unscaled
	speed   float64       // output tokens per second
	midStop float64       // where a mid-stream fault strikes, as a fraction of the events; < 0 for none
}

// prepare resolves and validates req, draws its faults, and builds the
// complete answer with its usage and latency.
func (p *Provider) prepare(ctx context.Context, req *llm.Request, stream bool) (*call, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	m, invoked, err := p.target(req)
	if err != nil {
		return nil, err
	}
	total, cps := p.counter.CountCheckpoints(req)
	if err := p.validate(m, req, total, stream); err != nil {
		return nil, err
	}
	all, prefixes := fingerprint(req)
	honoured, err := checkpoints(m, cps, prefixes)
	if err != nil {
		return nil, err
	}

	kind, mid := decide(p.rates(m.ID), p.dice.roll(), stream, req.ServiceTier == llm.TierFlex)
	if kind != faultNone {
		return nil, p.faultError(ctx, kind)
	}

	// The answer depends on the seed, the model and the prompt only, so
	// that max tokens and stop sequences cut the same text.
	h := fnv64(all)
	h.str(m.ID)
	rng := rand.New(rand.NewPCG(uint64(p.opts.Seed), uint64(h)))
	content, stop, out := p.answer(m, req, rng)

	u := llm.Usage{OutputTokens: out}
	u.CacheReadTokens, u.CacheWriteTokens, u.CacheWrite1hTokens = p.cache.apply(m.ID, honoured, p.now())
	u.InputTokens = total - u.CacheReadTokens - u.CacheWriteTokens

	ttft, speed := latency(m, u, rng.Float64())
	resp := &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Content: content},
		StopReason: stop,
		Usage:      u,
		Latency:    (ttft + time.Duration(float64(out)/speed*float64(time.Second))).Round(time.Millisecond),
		// InvokedModel is set for prompt routers only, as on Bedrock.
		InvokedModel: invoked,
		// The tier served is the tier asked for (validated above).
		ServiceTier: req.ServiceTier,
	}
	return &call{resp: resp, ttft: ttft, speed: speed, midStop: mid}, nil
}

// target resolves req.Model to the catalog model that answers it, and for
// a prompt router the Bedrock id of the model it picked.
func (p *Provider) target(req *llm.Request) (*catalog.Model, string, error) {
	t, err := p.cat.Resolve(req.Model)
	if err != nil {
		return nil, "", upstreamError(err)
	}
	if t.Kind == catalog.KindPromptRouter {
		m, err := p.route(t.UpstreamID, req)
		if err != nil {
			return nil, "", err
		}
		return m, m.BedrockID, nil
	}
	if t.Model == nil {
		return nil, "", notFound("The model %s is not available.", req.Model)
	}
	return t.Model, "", nil
}

// validate rejects what Bedrock rejects for model m, with Bedrock's words.
func (p *Provider) validate(m *catalog.Model, req *llm.Request, inputTokens int, stream bool) error {
	caps := m.Capabilities
	if !caps.Chat {
		return validation("This action doesn't support the model that you provided. Try again with a supported text or chat model.")
	}
	if stream && !caps.Streaming {
		return validation("The model is unsupported for streaming.")
	}
	if len(req.Messages) == 0 || req.Messages[0].Role != llm.RoleUser {
		return validation("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	for i, msg := range req.Messages {
		if msg.Role != llm.RoleUser && msg.Role != llm.RoleAssistant {
			return validation("The role %q at messages.%d is invalid: use user or assistant.", msg.Role, i)
		}
		if len(msg.Content) == 0 {
			return validation("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		for _, b := range msg.Content {
			switch b.Type {
			case llm.BlockDocument:
				if !caps.Documents {
					return validation("This model doesn't support the document content block that you provided. Try again with a model that supports documents.")
				}
			case llm.BlockToolUse, llm.BlockToolResult:
				if !caps.Tools {
					return validation("This model doesn't support tool use. Remove the tool blocks and try again.")
				}
			}
		}
	}
	if !caps.Images && req.HasImages() {
		return validation("This model doesn't support the image content block that you provided. Try again with a model that supports images.")
	}
	if req.Tools != nil && len(req.Tools.Tools) > 0 {
		if !caps.Tools {
			return validation("This model doesn't support the toolConfig field. Remove toolConfig and try again.")
		}
		if req.Tools.Choice.Mode == llm.ToolChoiceTool && !hasTool(req.Tools.Tools, req.Tools.Choice.Name) {
			return validation("The tool %q named in toolChoice is not in toolConfig.tools.", req.Tools.Choice.Name)
		}
	}
	if mt := req.Config.MaxTokens; mt != nil {
		if *mt < 1 {
			return validation("The maximum tokens must be at least 1.")
		}
		if m.MaxOutputTokens > 0 && *mt > m.MaxOutputTokens {
			return validation("The maximum tokens you requested exceeds the model limit of %d. Try again with a maximum tokens value that is lower than %d.", m.MaxOutputTokens, m.MaxOutputTokens)
		}
	}
	for _, s := range req.Config.StopSequences {
		if s == "" {
			return validation("Stop sequences must not be empty.")
		}
	}
	if m.ContextWindow > 0 && inputTokens > m.ContextWindow {
		return validation("Input is too long for requested model.")
	}
	if t := req.ServiceTier; t != "" && !caps.OffersTier(t) {
		// Bedrock refuses a tier the model is not offered at; the message
		// is the simulator's.
		return validation("The service tier %s is not available for this model.", t)
	}
	return nil
}

func hasTool(tools []llm.Tool, name string) bool {
	for _, t := range tools {
		if t.CachePoint == nil && t.Name == name {
			return true
		}
	}
	return false
}

// answer writes the model's reply: its content blocks, stop reason and
// output tokens (the text's tokens plus a tool call's name and input).
func (p *Provider) answer(m *catalog.Model, req *llm.Request, rng *rand.Rand) ([]llm.Block, llm.StopReason, int) {
	label := "[simulated " + m.BedrockID + "] "
	maxTokens := defaultMaxTokens(m)
	if req.Config.MaxTokens != nil {
		maxTokens = *req.Config.MaxTokens
	}
	prompt := req.LastUserText()

	if text, ok := p.special(m, req, prompt); ok {
		return p.cut(text, "", maxTokens, req.Config.StopSequences)
	}
	if t := pickTool(req); t != nil {
		text := label + "I'll use the " + t.Name + " tool for this."
		use := &llm.ToolUse{ID: toolUseID(rng), Name: t.Name, Input: toolInput(t)}
		out := p.counter.Count(text) + p.counter.Count(use.Name) + p.counter.Count(string(use.Input))
		if out <= maxTokens {
			return []llm.Block{llm.TextBlock(text), {Type: llm.BlockToolUse, ToolUse: use}}, llm.StopToolUse, out
		}
		// Too little room for the call: the text is cut like any other.
		return p.cut(text, label, maxTokens, nil)
	}

	var body string
	if lastUserHasToolResult(req) {
		body = toolResultSummary(req) + " " + p.prose(rng, 40+rng.IntN(80), topics(prompt), false)
	} else {
		lower := strings.ToLower(prompt)
		body = p.prose(rng, targetTokens(classify(prompt), rng), topics(prompt), hasAny(lower, listCues))
	}
	return p.cut(label+body, label, maxTokens, req.Config.StopSequences)
}

// special answers the requests of a routing classifier or a judge with
// the bare reply their parsers expect (see quality.go); ok is false for
// any other request. Tools in the request take precedence.
func (p *Provider) special(m *catalog.Model, req *llm.Request, prompt string) (string, bool) {
	if len(req.System) == 0 || req.Tools != nil && len(req.Tools.Tools) > 0 {
		return "", false
	}
	var sys strings.Builder
	for _, b := range req.System {
		sys.WriteString(b.Text)
		sys.WriteString("\n")
	}
	if label, ok := classifyLabels(m, sys.String(), prompt, p.opts.Seed); ok {
		return label, true
	}
	return p.judge(sys.String(), prompt)
}

// cut ends text where the model would stop: at the first stop sequence
// after the label (which is left out, as Bedrock does), or at maxTokens.
func (p *Provider) cut(text, label string, maxTokens int, stops []string) ([]llm.Block, llm.StopReason, int) {
	stop := llm.StopEndTurn
	at := -1
	for _, s := range stops {
		if i := strings.Index(text[len(label):], s); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at >= 0 {
		text, stop = text[:len(label)+at], llm.StopSequence
	}
	n := p.counter.Count(text)
	if n > maxTokens {
		text, stop = p.counter.Truncate(text, maxTokens), llm.StopMaxTokens
		n = p.counter.Count(text)
	}
	return []llm.Block{llm.TextBlock(text)}, stop, n
}

// toolUseID returns an id shaped like Bedrock's: "tooluse_" and 22 letters.
func toolUseID(rng *rand.Rand) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	b := []byte("tooluse_")
	for range 22 {
		b = append(b, alphabet[rng.IntN(len(alphabet))])
	}
	return string(b)
}

// Latency model. TTFT grows with the prompt; cached tokens are read about
// ten times faster than they are processed.
const (
	defaultTTFTMillis  = 500
	defaultTokensSec   = 50
	ttftPerKInput      = 30 * time.Millisecond // per 1,000 uncached input tokens
	ttftPerKCacheRead  = 3 * time.Millisecond  // per 1,000 tokens read from the cache
	ttftJitterFraction = 0.3                   // ±15 %
)

// latency returns the unscaled time to first token and the output speed of
// m for usage u; jitter in [0, 1) varies the TTFT by ±15 %.
func latency(m *catalog.Model, u llm.Usage, jitter float64) (time.Duration, float64) {
	base := m.Performance.TTFTMillis
	if base <= 0 {
		base = defaultTTFTMillis
	}
	ttft := time.Duration(float64(base) * (1 + ttftJitterFraction*(jitter-0.5)) * float64(time.Millisecond))
	ttft += ttftPerKInput * time.Duration(u.InputTokens+u.CacheWriteTokens) / 1000
	ttft += ttftPerKCacheRead * time.Duration(u.CacheReadTokens) / 1000
	speed := float64(m.Performance.OutputTokensSec)
	if speed <= 0 {
		speed = defaultTokensSec
	}
	return ttft.Round(time.Millisecond), speed
}

// scaled converts a simulated duration to the time to sleep.
func (p *Provider) scaled(d time.Duration) time.Duration {
	if p.opts.TimeScale <= 0 || d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * p.opts.TimeScale)
}

// sleepCtx waits d, or until ctx is done. It returns at once for d <= 0.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctxError(ctx.Err())
	}
}

// ctxError turns a context error into an *llm.Error that still matches
// context.Canceled or context.DeadlineExceeded with errors.Is.
func ctxError(err error) error {
	return &llm.Error{Kind: llm.KindOf(err), Message: "sim: " + err.Error(), Err: err}
}

func validation(format string, args ...any) error {
	return &llm.Error{Kind: llm.KindValidation, Upstream: "ValidationException", Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &llm.Error{Kind: llm.KindNotFound, Upstream: "ResourceNotFoundException", Message: fmt.Sprintf(format, args...)}
}

// upstreamError names the Bedrock exception of a catalog resolution error.
func upstreamError(err error) error {
	e, ok := err.(*llm.Error)
	if !ok {
		return &llm.Error{Kind: llm.KindInternal, Message: err.Error(), Err: err}
	}
	out := *e
	switch e.Kind {
	case llm.KindNotFound:
		out.Upstream = "ResourceNotFoundException"
	default:
		out.Upstream = "ValidationException"
	}
	return &out
}
