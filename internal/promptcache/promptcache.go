// Package promptcache places Bedrock prompt-cache checkpoints (cachePoint
// blocks) in requests automatically, so that long stable prefixes — tool
// definitions, the system prompt, earlier conversation turns — are read from
// Bedrock's cache at a fraction of the input price instead of being paid in
// full on every call.
//
// The stage runs after routing: req.Model names the model that will answer.
// For a model whose catalog entry has Capabilities.PromptCache it considers,
// in prompt order,
//
//   - the end of the tool definitions (Anthropic models only: Nova takes
//     cache points in the system prompt and messages, not in tools),
//   - the end of the system prompt,
//   - the end of the last user message before the final user turn (the
//     history the previous turn ended with, so a conversation reads what
//     its previous turn wrote), and
//   - the end of the final user message, when there is history before it
//     (so the next turn can read this one).
//
// A checkpoint is inserted only where the whole prompt before it reaches
// the model's MinTokens (as tokens.Counter estimates it), where no
// checkpoint already covers the same prefix, and after every checkpoint the
// client gave a 1-hour TTL (Bedrock wants longer TTLs first). The client's
// own checkpoints are never moved or removed and count toward
// MaxCheckpoints; when the budget is short, the system prompt comes first,
// then tools, then the history, then the final turn.
//
// The caller's request is not changed except for Model and Meta, which the
// stages below may rewrite: the stage passes a copy whose changed slices
// are new, so a retry or fallback to another model outside this stage sees
// the request as the client sent it.
package promptcache

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// DefaultMaxCheckpoints is Bedrock's limit of cache points per request,
// used for a catalog entry that leaves MaxCheckpoints at zero.
const DefaultMaxCheckpoints = 4

// Options configure the stage.
type Options struct {
	// Catalog resolves req.Model to the model and its prompt-cache limits.
	// Required.
	Catalog *catalog.Catalog
	// Counter estimates the prefix lengths. Required.
	Counter *tokens.Counter
	// PolicyFor, if set, is asked per request (e.g. by route) whether to
	// insert checkpoints and with which TTL; nil means always, with
	// Bedrock's default TTL.
	PolicyFor func(*llm.Request) Policy
	// Stats, if set, counts what the stage did, for metrics.
	Stats *Stats
	// Logger receives a debug line per request changed; default: discard.
	Logger *slog.Logger
}

// Policy says whether and how the stage inserts checkpoints.
type Policy struct {
	Enabled bool
	// TTL is "" (Bedrock's default, five minutes) or "1h", for models that
	// offer it; a model without the 1-hour TTL gets the default.
	TTL string
}

// Stats counts the stage's work. It is safe for concurrent use; the zero
// value is ready.
type Stats struct {
	requests    atomic.Int64
	checkpoints atomic.Int64
}

// Requests returns how many requests got at least one checkpoint.
func (s *Stats) Requests() int64 { return s.requests.Load() }

// Checkpoints returns how many checkpoints the stage inserted in all.
func (s *Stats) Checkpoints() int64 { return s.checkpoints.Load() }

// Stage returns the prompt-cache stage. It panics when Catalog or Counter
// is missing, a wiring mistake.
func Stage(o Options) llm.Stage {
	if o.Catalog == nil || o.Counter == nil {
		panic("promptcache: Options.Catalog and Options.Counter are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return func(next llm.Invoker) llm.Invoker { return &stage{o: o, next: next} }
}

type stage struct {
	o    Options
	next llm.Invoker
}

// prepare returns the request to send on, and false when it is req itself.
func (s *stage) prepare(ctx context.Context, req *llm.Request) (*llm.Request, bool) {
	p := Policy{Enabled: true}
	if s.o.PolicyFor != nil {
		p = s.o.PolicyFor(req)
	}
	if !p.Enabled {
		return req, false
	}
	if req.Meta.Mode == llm.ModeBatch || req.Meta.Mode == llm.ModeProvisioned {
		return req, false
	}
	t, err := s.o.Catalog.Resolve(req.Model)
	if err != nil || t.Model == nil || t.Mode != llm.ModeOnDemand {
		return req, false // unknown ids are the dispatcher's to reject
	}
	ttl := p.TTL
	if pc := t.Model.Capabilities.PromptCache; ttl == "1h" && (pc == nil || !slices.Contains(pc.TTLs, "1h")) {
		ttl = ""
	}
	up, n := Insert(s.o.Counter, t.Model, req, ttl)
	if n == 0 {
		return req, false
	}
	if st := s.o.Stats; st != nil {
		st.requests.Add(1)
		st.checkpoints.Add(int64(n))
	}
	if s.o.Logger.Enabled(ctx, slog.LevelDebug) {
		s.o.Logger.DebugContext(ctx, "prompt cache checkpoints inserted",
			"request_id", req.Meta.RequestID, "model", t.Model.ID, "inserted", n)
	}
	return &up, true
}

func (s *stage) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	up, copied := s.prepare(ctx, req)
	resp, err := s.next.Invoke(ctx, up)
	if copied {
		req.Model, req.Meta = up.Model, up.Meta
	}
	return resp, err
}

func (s *stage) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	up, copied := s.prepare(ctx, req)
	st, err := s.next.Stream(ctx, up)
	if copied {
		req.Model, req.Meta = up.Model, up.Meta
	}
	return st, err
}
