package cache

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// Backend stores entries by key. Implementations are safe for concurrent
// use.
type Backend interface {
	// Get returns the value stored under key, and false if there is none
	// or it expired. The caller must not modify the returned slice.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores val under key for ttl; a ttl of zero or less keeps it
	// until it is evicted. The backend may keep val: the caller must not
	// modify it afterwards.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Close releases the backend's resources.
	Close() error
}

// Defaults of a Policy's zero fields.
const (
	DefaultTTL           = 5 * time.Minute
	DefaultMaxEntryBytes = 1 << 20
)

// Policy says whether and how answers are cached. Routes embed it in their
// configuration; zero TTL and MaxEntryBytes take the defaults.
type Policy struct {
	// Enabled turns the response cache and coalescing on.
	Enabled bool `yaml:"enabled"`
	// TTL is how long an answer is kept; default 5m.
	TTL time.Duration `yaml:"ttl"`
	// MaxEntryBytes is the largest stored answer, in bytes of its stored
	// form; larger answers are not cached. Default 1 MiB.
	MaxEntryBytes int `yaml:"max_entry_bytes"`
	// AllowNonZeroTemperature caches requests whatever their temperature.
	// When false, only requests that set temperature to exactly 0 are
	// cached; unset means the model's default, which is not 0.
	AllowNonZeroTemperature bool `yaml:"allow_nonzero_temperature"`
	// SharedAcrossTenants lets every tenant hit every other tenant's
	// entries. By default each tenant has its own.
	SharedAcrossTenants bool `yaml:"shared_across_tenants"`
}

// Validate reports a policy that cannot be applied.
func (p Policy) Validate() error {
	if p.TTL < 0 {
		return llm.Errorf(llm.KindValidation, "cache ttl %s is negative", p.TTL)
	}
	if p.MaxEntryBytes < 0 {
		return llm.Errorf(llm.KindValidation, "cache max_entry_bytes %d is negative", p.MaxEntryBytes)
	}
	return nil
}

// withDefaults fills the zero fields that have defaults.
func (p Policy) withDefaults() Policy {
	if p.TTL <= 0 {
		p.TTL = DefaultTTL
	}
	if p.MaxEntryBytes <= 0 {
		p.MaxEntryBytes = DefaultMaxEntryBytes
	}
	return p
}

// admits reports whether p lets req be cached.
func (p Policy) admits(req *llm.Request) bool {
	switch {
	case !p.Enabled:
		return false
	case req.Native != nil:
		// A native body's sampling settings are the model's own fields,
		// which Penny does not read: never cached.
		return false
	case req.Embed != nil:
		// Embeddings are deterministic.
		return true
	}
	if p.AllowNonZeroTemperature {
		return true
	}
	t := req.Config.Temperature
	return t != nil && *t == 0
}

// Options configure the stage.
type Options struct {
	// Backend keeps the entries. Without one the stage passes every
	// request through.
	Backend Backend
	// Default applies to requests PolicyFor has no policy for.
	Default Policy
	// PolicyFor, if set, returns the policy of the request's route, if it
	// has one; that policy then replaces Default entirely.
	PolicyFor func(*llm.Request) (Policy, bool)
	// ModelID returns the canonical id of a model name, so that aliases of
	// one model share entries (the gateway passes catalog.CanonicalID). A
	// name it cannot resolve (a prompt router) is used as it is.
	ModelID func(string) (string, error)
	// Logger receives backend failures; default: discard.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// BackendTimeout bounds each backend Get and Set; default 250ms.
	BackendTimeout time.Duration
	// CallTimeout bounds a coalesced upstream call, which outlives the
	// deadline of the caller that started it; default 5 minutes.
	CallTimeout time.Duration
}

// DefaultBackendTimeout is Options.BackendTimeout's default.
const DefaultBackendTimeout = 250 * time.Millisecond

// Stage returns the response cache stage. See the package documentation
// for what it does to requests.
func Stage(o Options) llm.Stage {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BackendTimeout <= 0 {
		o.BackendTimeout = DefaultBackendTimeout
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 5 * time.Minute
	}
	return func(next llm.Invoker) llm.Invoker {
		s := &stage{o: o, next: next}
		s.flights.timeout = o.CallTimeout
		s.flights.panicked = func(v any, stack []byte) {
			o.Logger.Error("response cache: upstream call panicked", "panic", fmt.Sprint(v), "stack", string(stack))
		}
		return s
	}
}

type stage struct {
	o       Options
	next    llm.Invoker
	flights flights[called]

	logMu      sync.Mutex
	lastLog    time.Time
	suppressed int
}

// plan is what the stage decided for one request.
type plan struct {
	policy Policy
	key    string
	// model is the canonical model id, or "" if ModelID could not resolve
	// the request's model.
	model string
}

// plan returns the request's policy and key, and false when the request
// is not to be cached.
func (s *stage) plan(req *llm.Request) (plan, bool) {
	if s.o.Backend == nil {
		return plan{}, false
	}
	p := s.o.Default
	if s.o.PolicyFor != nil {
		if rp, ok := s.o.PolicyFor(req); ok {
			p = rp
		}
	}
	p = p.withDefaults()
	if !p.admits(req) {
		return plan{}, false
	}
	pl := plan{policy: p}
	keyModel := req.Model
	if s.o.ModelID != nil {
		if id, err := s.o.ModelID(req.Model); err == nil {
			pl.model, keyModel = id, id
		}
	}
	pl.key = Key(req, keyModel, p.SharedAcrossTenants)
	return pl, true
}

func (s *stage) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	pl, ok := s.plan(req)
	if !ok {
		return s.next.Invoke(ctx, req)
	}
	if req.Meta.Cache == llm.CacheBypass {
		resp, err := s.next.Invoke(ctx, req)
		if err == nil {
			s.store(ctx, pl, req.Model, resp)
		}
		return resp, err
	}
	if resp, ok := s.lookup(ctx, pl.key); ok {
		s.hit(req, pl, false)
		return resp, nil
	}
	req.Meta.Cache = llm.CacheMiss

	// The call may outlive this caller (others may be waiting for it), so
	// it gets a request of its own.
	fr := *req
	fr.Meta.Tags = maps.Clone(req.Meta.Tags)
	res, err, payer, done := s.flights.do(ctx, pl.key, func(ctx context.Context) (called, error) {
		resp, err := s.next.Invoke(ctx, &fr)
		if err == nil {
			s.store(ctx, pl, fr.Model, resp)
		}
		return called{resp: resp, model: fr.Model, meta: fr.Meta}, err
	})
	if !done {
		return nil, err // this caller's context ended
	}
	if payer {
		// This caller is recorded as the one who paid for the call: what
		// the stages below said about where the request went.
		req.Model = res.model
		req.Meta.Provider, req.Meta.Mode, req.Meta.BaselineModel = res.meta.Provider, res.meta.Mode, res.meta.BaselineModel
		req.Meta.Attempts, req.Meta.Extra = res.meta.Attempts, res.meta.Extra
		req.Meta.PromptTokensSaved = res.meta.PromptTokensSaved
		req.Meta.Cache = llm.CacheMiss
	} else {
		req.Meta.Coalesced = true
		if err == nil {
			s.hit(req, pl, true)
		}
	}
	if err != nil {
		return nil, err
	}
	return cloneResponse(res.resp), nil
}

// called is a coalesced upstream call's result, with where the stages
// below sent the request.
type called struct {
	resp  *llm.Response
	model string
	meta  llm.Meta
}

// cloneResponse gives each caller of a coalesced call its own Response, as
// stages above set fields on it (cost).
func cloneResponse(r *llm.Response) *llm.Response {
	if r == nil {
		return nil
	}
	c := *r
	c.Message.Content = append([]llm.Block(nil), r.Message.Content...)
	return &c
}

func (s *stage) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	pl, ok := s.plan(req)
	if !ok {
		return s.next.Stream(ctx, req)
	}
	if req.Meta.Cache != llm.CacheBypass {
		if resp, ok := s.lookup(ctx, pl.key); ok {
			s.hit(req, pl, false)
			return &llm.SliceStream{Events: replayEvents(resp)}, nil
		}
		req.Meta.Cache = llm.CacheMiss
	}
	st, err := s.next.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	return &recorder{Stream: st, st: s, ctx: ctx, req: req, plan: pl}, nil
}

// hit marks req as answered from the cache. Like the dispatcher on a miss,
// it names the canonical model and makes it the baseline if the route set
// none.
func (s *stage) hit(req *llm.Request, pl plan, coalesced bool) {
	req.Meta.Cache = llm.CacheHit
	req.Meta.Coalesced = coalesced
	if pl.model != "" {
		req.Model = pl.model
		if req.Meta.BaselineModel == "" {
			req.Meta.BaselineModel = pl.model
		}
	}
}

// lookup returns the stored answer for key, if any. Failures count as a
// miss.
func (s *stage) lookup(ctx context.Context, key string) (*llm.Response, bool) {
	bctx, cancel := context.WithTimeout(ctx, s.o.BackendTimeout)
	defer cancel()
	val, ok, err := s.o.Backend.Get(bctx, key)
	if err != nil {
		if ctx.Err() == nil { // not the client leaving
			s.logFailure("get", err)
		}
		return nil, false
	}
	if !ok {
		return nil, false
	}
	_, resp, err := decodeEntry(val)
	if err != nil {
		s.logFailure("decode", err)
		return nil, false
	}
	return resp, true
}

// storable reports whether an answer that stopped for r is worth keeping:
// a complete answer, not one a guardrail or filter cut or a malformed one.
func storable(r llm.StopReason) bool {
	switch r {
	case llm.StopEndTurn, llm.StopSequence, llm.StopMaxTokens, llm.StopToolUse:
		return true
	}
	return false
}

// store keeps resp, answered by model, under pl's key if the policy allows.
// The client leaving does not stop it.
func (s *stage) store(ctx context.Context, pl plan, model string, resp *llm.Response) {
	if resp == nil || !storable(resp.StopReason) {
		return
	}
	// An answer from another model than the key names (a budget
	// downgrade, a fallback below) must not be served later as the keyed
	// model's.
	if pl.model != "" {
		id := model
		if s.o.ModelID != nil {
			if c, err := s.o.ModelID(model); err == nil {
				id = c
			}
		}
		if id != pl.model {
			return
		}
	}
	val, err := encodeEntry(model, resp, s.o.Now())
	if err != nil {
		s.logFailure("encode", err)
		return
	}
	if len(val) > pl.policy.MaxEntryBytes {
		return
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.BackendTimeout)
	defer cancel()
	if err := s.o.Backend.Set(bctx, pl.key, val, pl.policy.TTL); err != nil {
		s.logFailure("set", err)
	}
}

// logEvery is the least time between two logged backend failures; a
// backend that is down fails every request.
const logEvery = 10 * time.Second

func (s *stage) logFailure(op string, err error) {
	now := s.o.Now()
	s.logMu.Lock()
	if !s.lastLog.IsZero() && now.Sub(s.lastLog) < logEvery {
		s.suppressed++
		s.logMu.Unlock()
		return
	}
	suppressed := s.suppressed
	s.lastLog, s.suppressed = now, 0
	s.logMu.Unlock()
	s.o.Logger.Warn("response cache backend failed; serving from upstream", "op", op, "err", err, "suppressed", suppressed)
}
