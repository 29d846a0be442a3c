// Package gateway is Penny's HTTP server: the OpenAI and Bedrock Converse
// frontends, the wiring of the stage chain, and the ledger record of every
// request.
package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/route"
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
	// Stages are extra stages run before routing (auth, governance, cache…).
	Stages []llm.Stage
}

// Server serves Penny's HTTP API.
type Server struct {
	opts  Options
	chain llm.Invoker
	mux   *http.ServeMux
	log   *slog.Logger
	bufs  sync.Pool
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
	stages := []llm.Stage{accountStage(opts.Catalog)}
	stages = append(stages, opts.Stages...)
	stages = append(stages, route.Stage(opts.Routes))
	s := &Server{opts: opts, chain: llm.Chain(d, stages...), mux: http.NewServeMux(), log: opts.Logger}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.mux.HandleFunc("POST /v1/chat/completions", s.handleChat)
	s.mux.HandleFunc("GET /v1/models", s.handleModels)
	s.mux.HandleFunc("POST /model/{modelId}/converse", s.handleConverse)
	s.mux.HandleFunc("POST /model/{modelId}/converse-stream", s.handleConverseStream)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	return s, nil
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
}

func (s *Server) newCall(r *http.Request, api string) *call {
	c := &call{s: s, api: api, received: s.opts.Now(), status: http.StatusOK}
	c.req = &llm.Request{}
	c.req.Meta = llm.Meta{RequestID: newRequestID(), API: api, Received: c.received, Cache: llm.CacheMiss, Mode: ""}
	c.header = r.Header
	return c
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
	m.Tenant = strings.TrimSpace(h.Get(HeaderTenant))
	if m.Tenant == "" {
		m.Tenant = "default"
	}
	if v := h.Get(HeaderTags); v != "" {
		tags, err := ParseTags(v)
		if err != nil {
			return err
		}
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		for k, val := range tags {
			m.Tags[k] = val
		}
	}
	if v := strings.TrimSpace(h.Get(HeaderRouteReq)); v != "" {
		m.Route = v
	}
	if strings.EqualFold(h.Get(HeaderCache), "bypass") || strings.Contains(strings.ToLower(h.Get("Cache-Control")), "no-cache") {
		m.Cache = llm.CacheBypass
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
	if m.Provider != "" {
		h.Set(HeaderProvider, m.Provider)
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
// client that went away must not lose the record.
func (c *call) finish() {
	m := c.req.Meta
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
		Provider:         m.Provider,
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
	if m.Provider != "" {
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
	rec.Strategy = strategies(&rec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.s.opts.Recorder.Write(ctx, rec); err != nil {
		c.s.log.Error("ledger write failed; record lost", "request_id", rec.RequestID, "err", err)
	}
	if c.err != nil {
		c.s.log.Debug("request failed", "request_id", rec.RequestID, "api", c.api, "status", c.status, "kind", rec.ErrorKind, "err", c.err)
	}
}

// strategies names the cost levers that applied to a record.
func strategies(r *ledger.Record) string {
	var s []string
	if r.Route != "" && r.Model != "" && r.BaselineModel != "" && r.Model != r.BaselineModel {
		s = append(s, "routing")
	}
	if r.Cache == string(llm.CacheHit) {
		s = append(s, "response_cache")
	}
	if r.CacheReadTokens > 0 {
		s = append(s, "prompt_cache")
	}
	if r.Mode == string(llm.ModeBatch) {
		s = append(s, "batch")
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
