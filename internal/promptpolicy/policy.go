// Package promptpolicy applies a route's prompt policy to requests after
// routing: a default and a maximum max_tokens, an output-format instruction
// appended to the system prompt, and safe whitespace normalisation. Every
// change is reported through Options.OnApply so the ledger can show the
// input tokens it saved.
package promptpolicy

import (
	"context"
	"log/slog"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// Policy is a route's prompt policy as written in penny.yaml. The zero
// Policy changes nothing.
type Policy struct {
	// DefaultMaxTokens is used as max_tokens when the client sent none.
	DefaultMaxTokens int `yaml:"default_max_tokens"`
	// MaxMaxTokens caps max_tokens: a larger client value is lowered to it
	// (a smaller one is kept).
	MaxMaxTokens int `yaml:"max_max_tokens"`
	// OutputFormat is an instruction appended to the system prompt, e.g.
	// "Respond in JSON only." It is not added again when the system
	// prompt already ends with it.
	OutputFormat string `yaml:"output_format"`
	// NormalizeWhitespace trims trailing spaces on lines, collapses runs of
	// spaces inside lines and more than one blank line, outside fenced
	// code blocks; tool input and results are never touched.
	NormalizeWhitespace bool `yaml:"normalize_whitespace"`
}

// Validate reports a policy that cannot be applied.
func (p Policy) Validate() error {
	if p.DefaultMaxTokens < 0 {
		return llm.Errorf(llm.KindValidation, "prompt policy: default_max_tokens must not be negative, got %d", p.DefaultMaxTokens)
	}
	if p.MaxMaxTokens < 0 {
		return llm.Errorf(llm.KindValidation, "prompt policy: max_max_tokens must not be negative, got %d", p.MaxMaxTokens)
	}
	if p.MaxMaxTokens > 0 && p.DefaultMaxTokens > p.MaxMaxTokens {
		return llm.Errorf(llm.KindValidation, "prompt policy: default_max_tokens %d is above max_max_tokens %d", p.DefaultMaxTokens, p.MaxMaxTokens)
	}
	return nil
}

// Effect is what a policy changed in one request.
type Effect struct {
	// TokensSaved counts the input tokens whitespace normalisation removed
	// (0 when it changed nothing or no Counter is available).
	TokensSaved int
	// BlocksNormalized counts the text blocks whitespace normalisation
	// changed.
	BlocksNormalized int
	// FormatTokens counts the tokens the output-format instruction added.
	FormatTokens int
	// MaxTokensSet is true when the client sent no max_tokens and the
	// policy's default was used.
	MaxTokensSet bool
	// MaxTokensCapped is true when the client's max_tokens was lowered.
	MaxTokensCapped bool
	// MaxTokens is max_tokens after the policy (0: still unset).
	MaxTokens int
	// FormatAdded is true when the output-format instruction was appended.
	FormatAdded bool
}

// Changed reports whether the policy changed anything.
func (e Effect) Changed() bool { return e != Effect{MaxTokens: e.MaxTokens} }

// Options configures the stage.
type Options struct {
	// Default applies to requests PolicyFor has no policy for.
	Default Policy
	// PolicyFor, if set, returns the policy of the request's route
	// (req.Meta.Route is set by then), which replaces Default entirely.
	PolicyFor func(*llm.Request) (Policy, bool)
	// Counter counts the tokens saved; default: the shared tokens.New().
	Counter *tokens.Counter
	// Logger receives one debug line per request the policy changed.
	Logger *slog.Logger
	// OnApply, if set, is called synchronously, before the next stage, for
	// every request a policy changed, with what it changed.
	OnApply func(req *llm.Request, e Effect)
}

// Stage returns the prompt-policy stage. Put it after routing, so that
// PolicyFor sees req.Meta.Route and the route tier's own max_tokens, and
// before the response cache, so that normalised prompts share entries.
//
// The stage replaces req.System, req.Messages and req.Config.MaxTokens
// rather than writing into them, so slices and pointers the caller still
// holds are never modified.
func Stage(o Options) llm.Stage {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Counter == nil {
		if c, err := tokens.New(); err == nil {
			o.Counter = c
		}
	}
	return func(next llm.Invoker) llm.Invoker { return &stage{o: o, next: next} }
}

type stage struct {
	o    Options
	next llm.Invoker
}

func (s *stage) apply(req *llm.Request) {
	if req.Embed != nil || req.Native != nil {
		// Embeddings have no answer length or format, and a native body
		// is the model's own: the policies do not apply.
		return
	}
	p := s.o.Default
	if s.o.PolicyFor != nil {
		if rp, ok := s.o.PolicyFor(req); ok {
			p = rp
		}
	}
	if p == (Policy{}) {
		return
	}
	e := Apply(p, req, s.o.Counter)
	if !e.Changed() {
		return
	}
	s.o.Logger.Debug("prompt policy applied", "request_id", req.Meta.RequestID, "route", req.Meta.Route,
		"tokens_saved", e.TokensSaved, "format_added", e.FormatAdded, "max_tokens", e.MaxTokens,
		"max_tokens_set", e.MaxTokensSet, "max_tokens_capped", e.MaxTokensCapped)
	if s.o.OnApply != nil {
		s.o.OnApply(req, e)
	}
}

func (s *stage) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	s.apply(req)
	return s.next.Invoke(ctx, req)
}

func (s *stage) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	s.apply(req)
	return s.next.Stream(ctx, req)
}

// Apply applies p to req and returns what it changed. c may be nil; then
// no tokens are counted. Apply is what the stage does; it is exported for
// `penny prompt` tooling and tests.
func Apply(p Policy, req *llm.Request, c *tokens.Counter) Effect {
	var e Effect
	count := func(s string) int {
		if c == nil {
			return 0
		}
		return c.Count(s)
	}
	mt := req.Config.MaxTokens
	switch {
	case mt == nil && p.DefaultMaxTokens > 0:
		v := p.DefaultMaxTokens
		if p.MaxMaxTokens > 0 && v > p.MaxMaxTokens {
			v = p.MaxMaxTokens
		}
		req.Config.MaxTokens = &v
		e.MaxTokensSet = true
	case mt != nil && p.MaxMaxTokens > 0 && *mt > p.MaxMaxTokens:
		v := p.MaxMaxTokens
		req.Config.MaxTokens = &v
		e.MaxTokensCapped = true
	}
	if req.Config.MaxTokens != nil {
		e.MaxTokens = *req.Config.MaxTokens
	}

	if p.NormalizeWhitespace {
		e.TokensSaved, e.BlocksNormalized = normalizeRequest(req, count)
	}

	if f := strings.TrimSpace(p.OutputFormat); f != "" && !systemEndsWith(req.System, f) {
		sys := make([]llm.SystemBlock, len(req.System), len(req.System)+1)
		copy(sys, req.System)
		req.System = append(sys, llm.SystemBlock{Text: f})
		e.FormatAdded = true
		e.FormatTokens = count(f)
	}
	return e
}

// systemEndsWith reports whether the system prompt's last text, ignoring
// cache points and trailing white space, ends with f.
func systemEndsWith(sys []llm.SystemBlock, f string) bool {
	for i := len(sys) - 1; i >= 0; i-- {
		if sys[i].CachePoint != nil {
			continue
		}
		t := strings.TrimRight(sys[i].Text, " \t\r\n")
		if t == "" {
			continue
		}
		return strings.HasSuffix(t, f)
	}
	return false
}

// normalizeRequest normalises the system prompt's text and the text blocks
// of every message, copying each slice it changes, and returns the tokens
// saved. Reasoning blocks (signed), tool uses and results, images and
// documents are left as they are.
func normalizeRequest(req *llm.Request, count func(string) int) (saved, blocks int) {
	var sys []llm.SystemBlock
	for i, b := range req.System {
		if b.CachePoint != nil || b.Text == "" {
			continue
		}
		n := Normalize(b.Text)
		if n == b.Text || n == "" {
			continue
		}
		if sys == nil {
			sys = append([]llm.SystemBlock(nil), req.System...)
		}
		sys[i].Text = n
		saved += count(b.Text) - count(n)
		blocks++
	}
	if sys != nil {
		req.System = sys
	}
	var msgs []llm.Message
	for i := range req.Messages {
		var content []llm.Block
		for j, b := range req.Messages[i].Content {
			if b.Type != llm.BlockText || b.Text == "" {
				continue
			}
			n := Normalize(b.Text)
			if n == b.Text || n == "" {
				continue
			}
			if content == nil {
				content = append([]llm.Block(nil), req.Messages[i].Content...)
			}
			content[j].Text = n
			saved += count(b.Text) - count(n)
			blocks++
		}
		if content == nil {
			continue
		}
		if msgs == nil {
			msgs = append([]llm.Message(nil), req.Messages...)
		}
		msgs[i].Content = content
	}
	if msgs != nil {
		req.Messages = msgs
	}
	return saved, blocks
}
