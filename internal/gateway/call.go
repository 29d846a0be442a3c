package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/auth"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// frontend is one wire API: how its requests decode and how answers and
// errors are written. The request's bookkeeping (auth, body, ledger) is
// the call's, shared by every frontend.
type frontend interface {
	// start notes what the request says before its body is read (e.g. the
	// model in a Bedrock path), so that a refusal is recorded with it.
	start(c *call, r *http.Request)
	// decode turns the body into a request; on failure it may set
	// c.requested from what it could read, for the ledger.
	decode(c *call, r *http.Request, body []byte) (*llm.Request, error)
	// fail answers err in the API's error format, before any answer byte.
	fail(c *call, w http.ResponseWriter, err error)
	// answer writes a complete answer.
	answer(c *call, w http.ResponseWriter, resp *llm.Response)
	// stream writes a streamed answer: first, then the pump's events. It
	// returns what ended the stream: io.EOF for a clean end.
	stream(c *call, w http.ResponseWriter, p *eventPump, first llm.Event) error
}

// localFrontend is a frontend that may answer a decoded request itself,
// without the chain (Anthropic's count_tokens): local reports whether it
// did. The request is recorded as any other.
type localFrontend interface {
	local(c *call, w http.ResponseWriter) bool
}

// serve runs one request of frontend fe through the chain.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, api string, fe frontend) {
	c := s.newCall(r, api)
	defer c.finish()
	defer c.releaseSlot()
	fe.start(c, r)
	if err := c.admit(); err != nil {
		fe.fail(c, w, err)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	c.reqCtx = r.Context()
	ctx, err := c.authenticate(ctx, r, nil)
	if err == nil {
		// A malformed or oversized Penny header is refused before the
		// body is read: 70,000 tags need not wait for a 10 MB body.
		err = c.headerErr
	}
	if err != nil {
		// Refused before the body was read.
		noDrain(w)
		fe.fail(c, w, err)
		return
	}
	body, err := c.readBody(ctx, w, r)
	if err == nil {
		ctx, err = c.authenticate(ctx, r, body.Bytes())
	}
	if err != nil {
		fe.fail(c, w, err)
		return
	}
	req, err := fe.decode(c, r, body.Bytes())
	c.releaseBody(body)
	if err == nil {
		err = c.adopt(req)
	}
	if err != nil {
		fe.fail(c, w, err)
		return
	}
	if l, ok := fe.(localFrontend); ok && l.local(c, w) {
		return
	}
	if d, err := c.deferral(); err != nil || d {
		if err != nil {
			fe.fail(c, w, err)
			return
		}
		s.deferCall(ctx, c, w, fe)
		return
	}
	if !c.req.Meta.Stream {
		resp, err := s.chain.Invoke(ctx, c.req)
		if err == nil {
			err = c.commit() // before the answer, so that a strict ledger has it first
		}
		if err != nil {
			fe.fail(c, w, err)
			return
		}
		fe.answer(c, w, resp)
		return
	}
	p, first, err := c.openStream(ctx)
	if err != nil {
		fe.fail(c, w, err)
		return
	}
	defer p.stop()
	if err := fe.stream(c, w, p, first); !errors.Is(err, io.EOF) {
		// The status already sent, 200, stays the record's; the error
		// kind says what went wrong.
		c.err = err
	}
}

// call is the per-request state shared by every frontend.
type call struct {
	s        *Server
	api      string
	req      *llm.Request
	received time.Time
	firstTok time.Time
	status   int
	err      error
	header   http.Header
	// requested is the model as the client named it, kept even when the
	// body could not be decoded.
	requested string
	// headerErr is a malformed Penny request header (or one over
	// limits), reported before the body is read.
	headerErr error
	// key is the authenticated Penny key, when auth is on.
	key *keys.Key
	// slot is set while the call holds a large-body slot.
	slot bool
	// reqCtx is the HTTP request's context, whose cause tells a shutdown
	// from a client that went away.
	reqCtx context.Context
	// tier is the service tier x-penny-service-tier asks for.
	tier llm.ServiceTier
	// deferred is true once the request is queued for batch inference:
	// its ledger record is written when it has run, not now.
	deferred bool
	// committed says the ledger record was written (rec), by commit.
	committed bool
	rec       ledger.Record
}

// ErrShutdown is the cause the server's base context is cancelled with
// when a graceful shutdown runs out of time: requests still running end
// with an error saying so, in their API's format.
var ErrShutdown = errors.New("Penny is shutting down; retry the request")

// streamEnd names what cut a stream short: a cancellation caused by a
// shutdown becomes an unavailable error the client is told about, and
// any other error is returned as it is.
func (c *call) streamEnd(err error) error {
	if llm.KindOf(err) == llm.KindCanceled && c.reqCtx != nil && errors.Is(context.Cause(c.reqCtx), ErrShutdown) {
		return &llm.Error{Kind: llm.KindUnavailable, Message: ErrShutdown.Error(), Err: err}
	}
	return err
}

// newCall starts a request's bookkeeping. With auth off, tenant, tags,
// route and cache directives are read from the headers at once, so that
// even a request whose body cannot be decoded is attributed in the ledger;
// with auth on, only the cache directive is, and the rest once the key is
// verified.
func (s *Server) newCall(r *http.Request, api string) *call {
	s.inflight.Add(1)
	c := &call{s: s, api: api, received: s.opts.Now(), status: http.StatusOK}
	c.req = &llm.Request{}
	c.req.Meta = llm.Meta{RequestID: newRequestID(), API: api, Received: c.received, Cache: llm.CacheMiss}
	c.header = r.Header
	c.headerErr = c.applyHeaders()
	return c
}

// authenticate verifies the caller's Penny key when auth is on and returns
// ctx carrying it. Called with a nil body before the body is read, it
// verifies bearer tokens, and SigV4 signatures of requests that declare
// their payload's hash, completely, and everything but the signature of
// other SigV4 requests (see auth.AuthenticateHeaders), so that callers
// without a key cannot make Penny read large bodies; called again with the
// body, it checks the body against the declared hash, or the signature.
// On success the key's tenant, id and tags attribute the call.
func (c *call) authenticate(ctx context.Context, r *http.Request, body []byte) (context.Context, error) {
	a := c.s.opts.Auth
	switch {
	case a == nil:
		return ctx, nil
	case c.key != nil && body != nil:
		return ctx, auth.CheckPayload(r, body)
	case c.key != nil:
		return ctx, nil
	}
	var k *keys.Key
	var err error
	if body == nil {
		if k, err = a.AuthenticateHeaders(r); err != nil || k == nil {
			return ctx, err
		}
	} else if k, err = a.Authenticate(r, body); err != nil {
		return ctx, err
	}
	c.key = k
	if err := c.applyRequestHeaders(); err != nil {
		return ctx, err
	}
	auth.Attribute(&c.req.Meta, k)
	return keys.NewContext(ctx, k), nil
}

// adopt replaces the call's placeholder request with the decoded one,
// keeping the Meta gathered from the headers; tags from the body (OpenAI
// user and metadata, Converse requestMetadata) add to the header's. It
// fails when the tags together exceed limits.max_tags (or a tag its
// length limits); the request then keeps only the tags within limits
// that it had before (the key's and the header's), so that a refused
// request cannot fill the ledger either.
func (c *call) adopt(req *llm.Request) error {
	const what = "the request's tags (x-penny-tags, body metadata and the key's)"
	limits := c.s.opts.MetaLimits
	before, fromBody := c.req.Meta.Tags, req.Meta.Tags
	err := limits.CheckTags(what, fromBody)
	if err != nil {
		fromBody = nil // too many in the body alone: never merged
	}
	meta := c.req.Meta
	meta.Tags = mergeTags(maps.Clone(before), fromBody)
	meta.Stream = c.req.Meta.Stream || req.Meta.Stream
	meta.RequestedModel = req.Model
	req.Meta = meta
	c.req = req
	c.requested = req.Model
	if c.key != nil {
		// The key's attribution wins over tags from the body.
		auth.Attribute(&c.req.Meta, c.key)
	}
	if req.ServiceTier == "" {
		req.ServiceTier = c.tier
	}
	if err == nil {
		err = limits.CheckTags(what, c.req.Meta.Tags)
	}
	if err != nil {
		c.req.Meta.Tags = before
	}
	return err
}

func mergeTags(a, b map[string]string) map[string]string {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range b {
		a[k] = v
	}
	return a
}

// applyHeaders copies tenant, tags, route and cache directives from the
// HTTP request into the llm request's Meta.
func (c *call) applyHeaders() error {
	h := c.header
	m := &c.req.Meta
	if strings.EqualFold(h.Get(HeaderCache), "bypass") || strings.Contains(strings.ToLower(h.Get("Cache-Control")), "no-cache") {
		m.Cache = llm.CacheBypass
	}
	if c.s.opts.Auth != nil {
		// The key decides the tenant, and nothing an unauthenticated
		// caller sends reaches the ledger or the metrics: tags and route
		// are applied once the key is verified (attribute).
		return nil
	}
	if m.Tenant = strings.TrimSpace(h.Get(HeaderTenant)); m.Tenant == "" {
		m.Tenant = "default"
	} else if err := c.s.opts.MetaLimits.CheckTenant(HeaderTenant, m.Tenant); err != nil {
		// Recorded without it: the name is what the limit keeps out.
		m.Tenant = ""
		return err
	}
	return c.applyRequestHeaders()
}

// applyRequestHeaders applies x-penny-tags and x-penny-route.
func (c *call) applyRequestHeaders() error {
	h := c.header
	m := &c.req.Meta
	if v := h.Get(HeaderTags); v != "" {
		tags, err := c.s.opts.MetaLimits.ParseTags(HeaderTags, v)
		if err != nil {
			return err
		}
		m.Tags = mergeTags(m.Tags, tags)
	}
	if v := strings.TrimSpace(h.Get(HeaderRouteReq)); v != "" {
		m.Route = v
	}
	if v := strings.ToLower(strings.TrimSpace(h.Get(HeaderServiceTier))); v != "" {
		switch t := llm.ServiceTier(v); t {
		case llm.TierDefault, llm.TierFlex, llm.TierPriority:
			c.tier = t
		default:
			return llm.Errorf(llm.KindValidation, "%s: %q is not default, flex or priority", HeaderServiceTier, v)
		}
	}
	return nil
}

// setHeaders writes the x-penny-* headers known before the body.
func (c *call) setHeaders(w http.ResponseWriter) {
	h := w.Header()
	m := c.req.Meta
	h.Set(HeaderRequestID, m.RequestID)
	model := c.req.Model
	if model == "" {
		model = c.requested
	}
	h.Set(HeaderModel, model)
	h.Set(HeaderRoute, m.Route)
	h.Set(HeaderCache, string(m.Cache))
	if p := ledger.Provider(m); p != "" {
		h.Set(HeaderProvider, p)
	}
	if m.ModelWarning != "" {
		h.Set(HeaderModelWarning, m.ModelWarning)
	}
}

// setCostHeaders writes the bill: headers, or trailers once a stream ended.
func (c *call) setCostHeaders(h http.Header) {
	b := c.req.Meta.Bill
	h.Set(HeaderCost, b.Cost.Exact())
	h.Set(HeaderBaseline, b.Baseline.Exact())
}

// streamTrailers declares the trailers every streamed answer ends with.
const streamTrailers = HeaderCost + ", " + HeaderBaseline

// ctx returns the request context bounded by the request timeout and
// carrying the header lookup for routing rules.
func (c *call) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), c.s.opts.RequestTimeout)
	return llm.WithHeader(ctx, c.header.Get), cancel
}

// observe notes a streamed event before it is sent on.
func (c *call) observe(ev llm.Event) {
	if ev.Type == llm.EventBlockDelta && c.firstTok.IsZero() {
		c.firstTok = c.s.opts.Now()
	}
}

// admit asks the recorder whether a new request may be served (a ledger
// that cannot keep records refuses them under ledger.on_failure: refuse);
// the error, if any, is answered in the API's format.
func (c *call) admit() error {
	if a, ok := c.s.opts.Recorder.(interface{ Admit() error }); ok {
		return a.Admit()
	}
	return nil
}

// commit writes the request's ledger record, once. Frontends have it
// called just before the last bytes of an answer (serve, before a complete
// answer is written; the event pump, before a stream's last event), so
// that with a strict ledger the record is durable once the client has the
// whole answer; finish writes the record of any other request (errors,
// streams cut short, panics). It never uses the request context: a client
// that went away must not lose the record. It returns an error only when
// the answer must not be served (ledger.ErrRefused); other failures are
// logged here, and counted and logged by the ledger.
func (c *call) commit() error {
	if c.committed {
		return nil
	}
	c.committed = true
	c.rec = c.record()
	err := c.s.opts.Recorder.Write(context.Background(), c.rec)
	if err == nil {
		return nil
	}
	c.s.log.Error("ledger write failed", "request_id", c.rec.RequestID, "err", err)
	if errors.Is(err, ledger.ErrRefused) {
		return err
	}
	return nil
}

// record builds the request's ledger record as it stands.
func (c *call) record() ledger.Record {
	return ledger.NewRecord(c.req, ledger.Outcome{
		API: c.api, Requested: c.requested, Received: c.received, Finished: c.s.opts.Now(),
		FirstToken: c.firstTok, HTTPStatus: c.status, Err: c.err,
	})
}

// finish writes the ledger record unless commit did, and logs the
// request. Deferred first thing in every handler, it also records a panic
// as an internal error (unless the record was already written), then
// aborts the response.
func (c *call) finish() {
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			c.err, c.status = llm.Errorf(llm.KindCanceled, "client went away"), 499
		} else {
			c.s.log.Error("panic serving a request", "request_id", c.req.Meta.RequestID, "panic", p, "stack", string(debug.Stack()))
			c.err, c.status = llm.Errorf(llm.KindInternal, "internal error: %v", p), http.StatusInternalServerError
		}
		defer panic(http.ErrAbortHandler)
	}
	if c.deferred {
		// A deferred request is recorded once it has run (package batch).
		c.s.inflight.Done()
		return
	}
	c.commit()
	c.s.inflight.Done()
	rec := &c.rec
	if c.status != rec.HTTPStatus {
		// Refused after its record was written: log what the client got.
		r := c.record()
		rec = &r
	}
	if w := c.req.Meta.ModelWarning; w != "" {
		c.s.warnLegacy(rec.Model, w)
	}
	c.log(rec)
}

// log reports the request: failures Penny or the upstream caused at warn,
// the client's own errors at debug, and everything at info with AccessLog.
func (c *call) log(rec *ledger.Record) {
	level := slog.LevelDebug
	switch {
	case c.err != nil && upstreamFault(llm.KindOf(c.err)):
		level = slog.LevelWarn
	case c.s.opts.AccessLog:
		level = slog.LevelInfo
	}
	if c.err == nil && !c.s.opts.AccessLog {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", rec.RequestID), slog.String("api", rec.API), slog.String("tenant", rec.Tenant),
		slog.String("model", rec.Model), slog.String("route", rec.Route), slog.Int("status", rec.HTTPStatus),
		slog.Int("in", rec.InputTokens), slog.Int("out", rec.OutputTokens), slog.String("cost_usd", rec.Cost.String()),
		slog.Float64("latency_ms", float64(rec.Latency.Microseconds())/1000),
	}
	if c.err != nil {
		attrs = append(attrs, slog.String("kind", rec.ErrorKind), slog.String("err", rec.ErrorMessage))
	}
	c.s.log.LogAttrs(context.Background(), level, "request", attrs...)
}

// upstreamFault reports whether kind is a failure of Penny or its upstream
// rather than of the client's request.
func upstreamFault(kind llm.ErrorKind) bool {
	switch kind {
	case llm.KindThrottled, llm.KindModelNotReady, llm.KindTimeout, llm.KindModelError, llm.KindUnavailable, llm.KindInternal:
		return true
	}
	return false
}

// withRetryAfter gives throttling errors a retry hint of one second when
// the upstream sent none, so clients back off instead of hammering.
func withRetryAfter(err error) error {
	var e *llm.Error
	if !errors.As(err, &e) || e.RetryAfter > 0 {
		return err
	}
	if e.Kind != llm.KindThrottled && e.Kind != llm.KindModelNotReady {
		return err
	}
	cp := *e
	cp.RetryAfter = time.Second
	return &cp
}
