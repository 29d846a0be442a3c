// Package gateway is Penny's HTTP server: the OpenAI and Bedrock Converse
// frontends, the wiring of the stage chain, and the ledger record of every
// request.
package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/penny-gateway/penny/internal/anomaly"
	"github.com/penny-gateway/penny/internal/auth"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
	"github.com/penny-gateway/penny/internal/route"
	"github.com/penny-gateway/penny/internal/tokens"
	"github.com/penny-gateway/penny/internal/tracing"
)

// Response headers every answer carries (ARCHITECTURE.md).
const (
	HeaderRequestID = "X-Penny-Request-Id"
	HeaderModel     = "X-Penny-Model"
	HeaderRoute     = "X-Penny-Route"
	HeaderCache     = "X-Penny-Cache"
	HeaderCost      = "X-Penny-Cost-Usd"
	HeaderBaseline  = "X-Penny-Baseline-Cost-Usd"
	HeaderProvider  = "X-Penny-Provider"
	// Request headers.
	HeaderTenant   = "X-Penny-Tenant"
	HeaderTags     = "X-Penny-Tags"
	HeaderRouteReq = "X-Penny-Route"
)

// Recorder takes ledger records; *ledger.Writer is one.
type Recorder interface {
	Write(ctx context.Context, r ledger.Record) error
}

// Options configure a Server.
type Options struct {
	Catalog *catalog.Catalog
	Routes  *route.Table
	// Providers by name ("bedrock", or an OpenAI-compatible upstream's name).
	Providers map[string]llm.Invoker
	// Simulate, if set, answers every model instead of Providers.
	Simulate llm.Invoker
	// Region picks cross-region inference profiles for catalog aliases.
	Region   string
	Recorder Recorder
	Logger   *slog.Logger
	// MaxBodyBytes limits request bodies (default 10 MiB).
	MaxBodyBytes int64
	// RequestTimeout bounds one request end to end (default 5 minutes).
	RequestTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Stages run before routing (auth, governance, prompt policies).
	Stages []llm.Stage
	// AfterRoute run after routing, on the model actually chosen, just
	// before the provider (the response cache).
	AfterRoute []llm.Stage
	// Counter, if set, counts the tokens of streams cut short before the
	// upstream reported usage, so that they are still priced.
	Counter *tokens.Counter
	// AccessLog logs every request at info level; otherwise only failures
	// are logged (upstream failures at warn, client errors at debug).
	AccessLog bool
	// Metrics, if set, is served at GET /metrics.
	Metrics http.Handler
	// Tracer, if set, traces every request (OpenTelemetry GenAI spans); it
	// wraps the whole chain, so spans carry the answer's cost.
	Tracer trace.TracerProvider
	// Alerts, if set, is served at GET /admin/alerts (a key is needed when
	// auth is on).
	Alerts func() any
	// Auth, if set, requires a valid Penny key on every API request and
	// attributes it (tenant, key id, tags); the x-penny-tenant header is
	// then ignored. Nil means auth is off.
	Auth *auth.Authenticator
}

// Server serves Penny's HTTP API.
type Server struct {
	opts  Options
	chain llm.Invoker
	acct  *account
	mux   *http.ServeMux
	log   *slog.Logger
	bufs  sync.Pool
	// inflight counts requests whose ledger record is not yet written.
	inflight sync.WaitGroup
}

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 10 << 20

// New wires the chain and the routes.
func New(opts Options) (*Server, error) {
	if opts.Catalog == nil {
		return nil, errors.New("gateway: a catalog is required")
	}
	if opts.Recorder == nil {
		return nil, errors.New("gateway: a ledger recorder is required")
	}
	if opts.Simulate == nil && len(opts.Providers) == 0 {
		return nil, errors.New("gateway: no provider is configured")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &dispatcher{cat: opts.Catalog, providers: opts.Providers, simulate: opts.Simulate, region: opts.Region}
	acct := &account{cat: opts.Catalog}
	stages := []llm.Stage{tracing.Stage(opts.Tracer), acct.stage}
	stages = append(stages, opts.Stages...)
	stages = append(stages, route.Stage(opts.Routes, route.WithLogger(opts.Logger)))
	stages = append(stages, opts.AfterRoute...)
	s := &Server{opts: opts, chain: llm.Chain(d, stages...), acct: acct, mux: http.NewServeMux(), log: opts.Logger}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.routes()
	return s, nil
}

// routes registers the API. Every path under /v1/ and /model/ answers in
// its API's own error format, unknown endpoints and wrong methods included.
func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /v1/chat/completions", s.handleChat)
	m.Handle("GET /v1/models", s.requireKey(http.HandlerFunc(s.handleModels), openaiDenied))
	m.HandleFunc("POST /model/{modelId}/converse", s.handleConverse)
	m.HandleFunc("POST /model/{modelId}/converse-stream", s.handleConverseStream)
	if s.opts.Metrics != nil {
		// With auth on, the metrics (tenant names, their spend) need a key
		// too: Prometheus sends one with authorization: {credentials: …}.
		m.Handle("GET /metrics", s.requireKey(s.opts.Metrics, openaiDenied))
	}
	if s.opts.Alerts != nil {
		m.Handle("GET /admin/alerts", s.requireKey(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(HeaderRequestID, newRequestID())
			writeJSON(w, http.StatusOK, map[string]any{"alerts": s.opts.Alerts()})
		}), openaiDenied))
	}
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRequestID, newRequestID())
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	openaiMisroute := func(status int, msg string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			err := &llm.Error{Kind: llm.KindNotFound, Message: fmt.Sprintf(msg, r.Method, r.URL.Path)}
			_, body := openaiwire.ErrorFor(err)
			w.Header().Set(HeaderRequestID, newRequestID())
			writeJSON(w, status, body)
		}
	}
	m.HandleFunc("/v1/chat/completions", openaiMisroute(http.StatusMethodNotAllowed, "method %s is not allowed on %s; use POST"))
	m.HandleFunc("/v1/models", openaiMisroute(http.StatusMethodNotAllowed, "method %s is not allowed on %s; use GET"))
	m.HandleFunc("/v1/", openaiMisroute(http.StatusNotFound, "%s %s is not an endpoint Penny serves (it serves POST /v1/chat/completions and GET /v1/models)"))
	m.HandleFunc("/model/", func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set(HeaderRequestID, id)
		converse.WriteHTTPErrorType(w, id, "UnknownOperationException",
			fmt.Sprintf("%s %s is not an operation Penny serves (it serves POST /model/{modelId}/converse and /converse-stream)", r.Method, r.URL.Path))
	})
}

// requireKey serves h only to callers with a valid Penny key when auth is
// on; denied writes the refusal in the endpoint's API format.
func (s *Server) requireKey(h http.Handler, denied func(w http.ResponseWriter, err error)) http.Handler {
	if s.opts.Auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.opts.Auth.Authenticate(r, []byte{}); err != nil {
			w.Header().Set(HeaderRequestID, newRequestID())
			denied(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func openaiDenied(w http.ResponseWriter, err error) {
	status, body := openaiwire.ErrorFor(err)
	challenge(w, status, bearerChallenge)
	writeJSON(w, status, body)
}

// bearerChallenge is the WWW-Authenticate challenge of a 401 (RFC 9110
// requires one): a Penny key as a bearer token. The Bedrock API refuses
// with 403, as Bedrock does, which takes none.
const bearerChallenge = `Bearer realm="penny"`

// challenge sets WWW-Authenticate when status is 401.
func challenge(w http.ResponseWriter, status int, c string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", c)
	}
}

// Wait blocks until every request that has started has written its ledger
// record, or ctx ends. Call it after the HTTP server has shut down.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for in-flight requests to be recorded: %w", ctx.Err())
	}
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Chain returns the stage chain, for in-process callers (the demo, tests).
func (s *Server) Chain() llm.Invoker { return s.chain }

// call is the per-request state shared by both frontends.
type call struct {
	s        *Server
	api      string
	req      *llm.Request
	received time.Time
	firstTok time.Time
	status   int
	err      error
	usage    llm.Usage
	cost     llm.Money
	baseline llm.Money
	header   http.Header
	// requested is the model as the client named it, kept even when the
	// body could not be decoded.
	requested string
	// headerErr is a malformed Penny request header, reported once the
	// request is known.
	headerErr error
	// streamed is true once a stream's first event was received; then an
	// early end is still billed by the upstream.
	streamed bool
	// sawUsage is true when the upstream reported usage (stream metadata).
	sawUsage bool
	// output accumulates streamed text and tool input, to estimate usage
	// when the stream is cut short.
	output    strings.Builder
	estimated bool
	// key is the authenticated Penny key, when auth is on.
	key *keys.Key
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

// authenticate verifies the caller's Penny key when auth is on. Called
// with a nil body before the body is read, it checks bearer tokens at once
// and all of a SigV4 request but its signature (so callers without a key
// cannot make Penny read large bodies); called again with the body, it
// checks the signature. On success the key's tenant, id and tags
// attribute the call and ctx carries the key for later stages.
func (c *call) authenticate(ctx *context.Context, r *http.Request, body []byte) error {
	a := c.s.opts.Auth
	if a == nil || c.key != nil {
		return nil
	}
	if body == nil && auth.NeedsBody(r) {
		// Reject what can be rejected before reading the body.
		return a.Precheck(r)
	}
	k, err := a.Authenticate(r, body)
	if err != nil {
		return err
	}
	c.key = k
	if err := c.applyRequestHeaders(); err != nil {
		return err
	}
	auth.Attribute(&c.req.Meta, k)
	*ctx = keys.NewContext(*ctx, k)
	return nil
}

// adopt replaces the call's placeholder request with the decoded one,
// keeping the Meta gathered from the headers; tags from the body (OpenAI
// user and metadata, Converse requestMetadata) add to the header's.
func (c *call) adopt(req *llm.Request) {
	meta := c.req.Meta
	meta.Tags = mergeTags(meta.Tags, req.Meta.Tags)
	meta.Stream = c.req.Meta.Stream || req.Meta.Stream
	meta.RequestedModel = req.Model
	req.Meta = meta
	c.req = req
	c.requested = req.Model
	if c.key != nil {
		// The key's attribution wins over tags from the body.
		auth.Attribute(&c.req.Meta, c.key)
	}
}

// readBody reads the request body within the size limit.
func (c *call) readBody(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, error) {
	buf := c.s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, c.s.opts.MaxBodyBytes))
	if err != nil {
		c.s.bufs.Put(buf)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, llm.Errorf(llm.KindTooLarge, "request body exceeds the limit of %d bytes (limits.max_body_bytes)", mbe.Limit)
		}
		return nil, llm.Errorf(llm.KindValidation, "reading request body: %v", err)
	}
	return buf, nil
}

func (c *call) releaseBody(b *bytes.Buffer) {
	if b != nil && b.Cap() <= 1<<20 {
		c.s.bufs.Put(b)
	}
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
	}
	return c.applyRequestHeaders()
}

// applyRequestHeaders applies x-penny-tags and x-penny-route.
func (c *call) applyRequestHeaders() error {
	h := c.header
	m := &c.req.Meta
	if v := h.Get(HeaderTags); v != "" {
		tags, err := ParseTags(v)
		if err != nil {
			return err
		}
		m.Tags = mergeTags(m.Tags, tags)
	}
	if v := strings.TrimSpace(h.Get(HeaderRouteReq)); v != "" {
		m.Route = v
	}
	return nil
}

// ParseTags parses "k=v,k2=v2".
func ParseTags(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, llm.Errorf(llm.KindValidation, "%s: %q is not key=value", HeaderTags, part)
		}
		out[k] = v
	}
	return out, nil
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
	if p := provider(m); p != "" {
		h.Set(HeaderProvider, p)
	}
}

func (c *call) setCostHeaders(h http.Header) {
	h.Set(HeaderCost, c.cost.String())
	h.Set(HeaderBaseline, c.baseline.String())
}

// ctx returns the request context bounded by the request timeout and
// carrying the header lookup for routing rules.
func (c *call) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), c.s.opts.RequestTimeout)
	return route.WithHeader(ctx, c.header.Get), cancel
}

// finish writes the ledger record. It never uses the request context: a
// client that went away must not lose the record. Deferred first thing in
// every handler, it also records a panic as an internal error, then aborts
// the response.
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
	m := c.req.Meta
	if c.cost == 0 && len(m.Extra) > 0 {
		// The answer failed, but calls made on the request's behalf (a
		// routing agent, a rejected cascade attempt) were billed.
		c.cost, c.baseline = c.s.acct.price(c.req, llm.Usage{}, "")
	}
	rec := ledger.Record{
		Time:             c.received.UTC(),
		RequestID:        m.RequestID,
		Tenant:           m.Tenant,
		KeyID:            m.KeyID,
		Route:            m.Route,
		API:              c.api,
		Stream:           m.Stream,
		ModelRequested:   c.requested,
		BaselineModel:    m.BaselineModel,
		Provider:         provider(m),
		Mode:             string(m.Mode),
		Status:           ledger.StatusOK,
		HTTPStatus:       c.status,
		InputTokens:      c.usage.InputTokens,
		OutputTokens:     c.usage.OutputTokens,
		CacheReadTokens:  c.usage.CacheReadTokens,
		CacheWriteTokens: c.usage.CacheWriteTokens,
		Latency:          c.s.opts.Now().Sub(c.received),
		Cost:             c.cost,
		BaselineCost:     c.baseline,
		Cache:            string(m.Cache),
		Tags:             m.Tags,
	}
	if m.Provider != "" || m.Cache == llm.CacheHit {
		rec.Model = c.req.Model
	}
	if rec.Mode == "" {
		rec.Mode = string(llm.ModeOnDemand)
	}
	if !c.firstTok.IsZero() {
		rec.TTFT = c.firstTok.Sub(c.received)
	}
	if c.err != nil {
		rec.Status = ledger.StatusError
		rec.ErrorKind = string(llm.KindOf(c.err))
		rec.ErrorMessage = c.err.Error()
	}
	rec.UsageEstimated = c.estimated
	rec.PromptTokensSaved = m.PromptTokensSaved
	rec.Attempts = formatAttempts(m.Attempts)
	if len(c.req.Messages) > 0 {
		rec.PromptHash = anomaly.PromptHash(c.req)
	}
	rec.Strategy = strategies(&rec, m)
	// Background, not the request's context: the record must land even
	// when the client went away. A full queue makes this wait, by design.
	if err := c.s.opts.Recorder.Write(context.Background(), rec); err != nil {
		c.s.log.Error("ledger write failed; record lost", "request_id", rec.RequestID, "err", err)
	}
	c.s.inflight.Done()
	c.log(&rec)
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
		slog.Int("in", rec.InputTokens), slog.Int("out", rec.OutputTokens), slog.String("cost", rec.Cost.String()),
		slog.Duration("latency", rec.Latency),
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

// observe accounts for one streamed event before it is sent on.
func (c *call) observe(ev llm.Event) {
	c.streamed = true
	switch ev.Type {
	case llm.EventBlockDelta:
		if c.firstTok.IsZero() {
			c.firstTok = c.s.opts.Now()
		}
		c.output.WriteString(ev.Delta.Text)
		c.output.WriteString(ev.Delta.ToolInput)
		c.output.WriteString(ev.Delta.Reasoning)
	case llm.EventMetadata:
		c.sawUsage = true
		if ev.Usage != nil {
			c.usage = *ev.Usage
		}
		c.cost, c.baseline = ev.Cost, ev.BaselineCost
	}
}

// settleStream prices a stream that ended without the upstream's usage
// report (client gone, mid-stream error): Bedrock still bills the prompt
// and what it generated, so Penny counts both itself and marks the record
// as estimated.
func (c *call) settleStream() {
	if !c.streamed || c.sawUsage || c.s.opts.Counter == nil {
		return
	}
	c.usage = llm.Usage{InputTokens: c.s.opts.Counter.CountRequest(c.req), OutputTokens: c.s.opts.Counter.Count(c.output.String())}
	c.cost, c.baseline = c.s.acct.price(c.req, c.usage, "")
	c.estimated = true
}

// sniffModel recovers the model name from a body that failed to decode,
// for the ledger.
func sniffModel(body []byte) string {
	var v struct {
		Model string `json:"model"`
	}
	json.Unmarshal(body, &v)
	return v.Model
}

// formatAttempts renders the failed attempts of a fallback for the ledger.
func formatAttempts(as []llm.Attempt) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		parts = append(parts, fmt.Sprintf("%s %s %dms", a.Model, a.Kind, a.Latency.Milliseconds()))
	}
	return strings.Join(parts, "; ")
}

// provider names what answered: an upstream, or Penny's response cache.
func provider(m llm.Meta) string {
	if m.Provider == "" && m.Cache == llm.CacheHit {
		return "cache"
	}
	return m.Provider
}

// strategies names the cost levers that applied to a record.
func strategies(r *ledger.Record, m llm.Meta) string {
	var s []string
	if r.Route != "" && r.Model != "" && r.BaselineModel != "" && r.Model != r.BaselineModel {
		s = append(s, "routing")
	}
	if r.Cache == string(llm.CacheHit) {
		s = append(s, "response_cache")
	}
	if m.Coalesced {
		s = append(s, "coalesced")
	}
	if r.CacheReadTokens > 0 {
		s = append(s, "prompt_cache")
	}
	if r.Mode == string(llm.ModeBatch) {
		s = append(s, "batch")
	}
	if r.PromptTokensSaved > 0 {
		s = append(s, "prompt_trimming")
	}
	var fellBack, cascaded bool
	for _, a := range m.Attempts {
		if a.Kind == route.KindCascadeRejected {
			cascaded = true
		} else {
			fellBack = true
		}
	}
	if fellBack && r.Status == ledger.StatusOK {
		s = append(s, "fallback")
	}
	if cascaded {
		s = append(s, "cascade")
	}
	for _, x := range m.Extra {
		if x.Why == "routing-agent" {
			s = append(s, "routing_agent")
			break
		}
	}
	return strings.Join(s, ",")
}

func newRequestID() string {
	var b [12]byte
	x, y := rand.Uint64(), rand.Uint32()
	for i := 0; i < 8; i++ {
		b[i] = byte(x >> (8 * i))
	}
	for i := 0; i < 4; i++ {
		b[8+i] = byte(y >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}

// modelParam is the {modelId} path segment, percent-decoded.
func modelParam(r *http.Request) string { return r.PathValue("modelId") }
