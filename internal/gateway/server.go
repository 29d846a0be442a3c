// Package gateway is Penny's HTTP server: the frontends (OpenAI chat
// completions, Responses and embeddings, Bedrock Converse) that decode each API's requests into
// llm.Requests, run them through the chain of stages it is given, and
// answer in the same API; every request, failed ones included, becomes
// one ledger record. It knows HTTP and wire formats, not cost levers: the
// chain is assembled, in order, by package app.
package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/anthropicwire"
	"github.com/penny-gateway/penny/internal/auth"
	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
	"github.com/penny-gateway/penny/internal/responses"
	"github.com/penny-gateway/penny/internal/tokens"
)

// Response headers every answer carries (ARCHITECTURE.md).
const (
	HeaderRequestID    = "X-Penny-Request-Id"
	HeaderModel        = "X-Penny-Model"
	HeaderRoute        = "X-Penny-Route"
	HeaderCache        = "X-Penny-Cache"
	HeaderCost         = "X-Penny-Cost-Usd"
	HeaderBaseline     = "X-Penny-Baseline-Cost-Usd"
	HeaderProvider     = "X-Penny-Provider"
	HeaderModelWarning = "X-Penny-Model-Warning"
	// Request headers.
	HeaderTenant   = "X-Penny-Tenant"
	HeaderTags     = "X-Penny-Tags"
	HeaderRouteReq = "X-Penny-Route"
	// HeaderServiceTier asks for a Bedrock service tier (default, flex,
	// priority) when the request body names none.
	HeaderServiceTier = "X-Penny-Service-Tier"
)

// Recorder takes ledger records; *ledger.Writer is one. Write returns
// once the record is accepted (with a strict ledger, kept); an error
// wrapping ledger.ErrRefused means the request's answer must not be
// served.
//
// A Recorder may also have Admit() error, asked before each request is
// served (an error refuses it, in the caller's API format), and Ready()
// error, whose error makes GET /readyz answer 503 with it as the reason;
// *ledger.Writer has both.
type Recorder interface {
	Write(ctx context.Context, r ledger.Record) error
}

// Options configure a Server.
type Options struct {
	// Stages are the whole chain, outermost first (package app lists
	// them); Upstream is what the last stage calls (the dispatcher).
	// The gateway adds nothing of its own to the chain.
	Stages   []llm.Stage
	Upstream llm.Invoker
	Recorder Recorder
	// Catalog and RouteNames are what GET /v1/models lists.
	Catalog    *catalog.Catalog
	RouteNames []string
	// Region is the Bedrock region GET /inference-profiles lists the
	// catalog's cross-region inference profiles for (default us-east-1).
	Region string
	// Counter, if set, counts input tokens for Anthropic's count_tokens
	// and the input estimate of a stream's message_start.
	Counter *tokens.Counter
	Logger  *slog.Logger
	// MaxBodyBytes limits request bodies (default 10 MiB).
	MaxBodyBytes int64
	// ReadTimeout bounds reading a request's body (default 60s); a body
	// not in by then is refused with KindSlowClient (408).
	ReadTimeout time.Duration
	// LargeBodyBytes is the size from which a body is large (default 1
	// MiB): at most MaxConcurrentLargeBodies (default 16) requests with
	// one are in flight; another waits up to LargeBodyWait (default 5s),
	// then is refused with KindUnavailable (503, Retry-After).
	LargeBodyBytes           int64
	MaxConcurrentLargeBodies int
	LargeBodyWait            time.Duration
	// MetaLimits bound the tags and, with auth off, the tenant name a
	// request may carry (zero fields: keys.DefaultMetaLimits).
	MetaLimits keys.MetaLimits
	// RequestTimeout bounds one request end to end (default 5 minutes).
	RequestTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AccessLog logs every request at info level; otherwise only failures
	// are logged (upstream failures at warn, client errors at debug).
	AccessLog bool
	// Metrics, if set, is served at GET /metrics on the admin handler.
	Metrics http.Handler
	// Alerts, if set, is served at GET /admin/alerts on the admin handler.
	Alerts func() any
	// Usage, if set, answers GET /v1/penny/usage on the API (a tenant
	// key's own tenant) and GET /admin/usage on the admin handler (every
	// tenant).
	Usage ledger.Summarizer
	// AdminOpen serves the admin handler without a key (a loopback admin
	// listener, or admin_auth: off); otherwise, with Auth set, it needs an
	// admin key.
	AdminOpen bool
	// AdminAddr is the admin listener's address, named in the API's
	// answer to /metrics and /admin/ ("" when it is off).
	AdminAddr string
	// Responses, if set, stores Responses API answers (unless a request
	// says store: false) for GET /v1/responses/{id} and
	// previous_response_id, per tenant; nil stores nothing.
	Responses responses.Store
	// ResponseRetention is how long a stored response is served (default
	// responses.DefaultRetention).
	ResponseRetention time.Duration
	// Auth, if set, requires a valid Penny key on every API request and
	// attributes it (tenant, key id, tags); the x-penny-tenant header is
	// then ignored. Nil means auth is off.
	Auth *auth.Authenticator
	// Batch and BatchStore, if set, serve the OpenAI Batch API (/v1/files,
	// /v1/batches) and deferred requests (x-penny-defer,
	// GET /v1/penny/deferred/{id}); BatchLimits bound uploads (default
	// batch.DefaultLimits).
	Batch       *batch.Engine
	BatchStore  batch.Store
	BatchLimits batch.Limits
	// DeferRoute reports whether a route name (any case) has mode batch:
	// its requests are deferred without x-penny-defer.
	DeferRoute func(name string) bool
}

// Server serves Penny's HTTP API.
type Server struct {
	opts  Options
	chain llm.Invoker
	mux   *http.ServeMux
	admin *http.ServeMux
	log   *slog.Logger
	bufs  sync.Pool
	// largeSlots holds one token per request with a large body in flight.
	largeSlots chan struct{}
	// inflight counts requests whose ledger record is not yet written.
	inflight sync.WaitGroup
	// legacyLogged is when each legacy model was last warned about.
	legacyMu     sync.Mutex
	legacyLogged map[string]time.Time
}

// warnLegacy logs that a legacy model was served, at most once an hour
// per model (every answer carries the warning header).
func (s *Server) warnLegacy(model, warning string) {
	now := s.opts.Now()
	s.legacyMu.Lock()
	last, seen := s.legacyLogged[model]
	if seen && now.Sub(last) < time.Hour {
		s.legacyMu.Unlock()
		return
	}
	if s.legacyLogged == nil {
		s.legacyLogged = map[string]time.Time{}
	}
	s.legacyLogged[model] = now
	s.legacyMu.Unlock()
	s.log.Warn("serving a legacy model", "model", model, "warning", warning)
}

// New builds the chain from opts.Stages over opts.Upstream and registers
// the endpoints.
func New(opts Options) (*Server, error) {
	if opts.Catalog == nil {
		return nil, errors.New("gateway: a catalog is required")
	}
	if opts.Recorder == nil {
		return nil, errors.New("gateway: a ledger recorder is required")
	}
	if opts.Upstream == nil {
		return nil, errors.New("gateway: an upstream (the end of the chain) is required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.LargeBodyBytes <= 0 {
		opts.LargeBodyBytes = DefaultLargeBodyBytes
	}
	if opts.MaxConcurrentLargeBodies <= 0 {
		opts.MaxConcurrentLargeBodies = DefaultMaxConcurrentLargeBodies
	}
	if opts.LargeBodyWait <= 0 {
		opts.LargeBodyWait = DefaultLargeBodyWait
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ResponseRetention <= 0 {
		opts.ResponseRetention = responses.DefaultRetention
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchLimits.MaxBytes <= 0 {
		opts.BatchLimits.MaxBytes = batch.DefaultLimits.MaxBytes
	}
	if opts.BatchLimits.MaxLines <= 0 {
		opts.BatchLimits.MaxLines = batch.DefaultLimits.MaxLines
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	s := &Server{opts: opts, chain: llm.Chain(opts.Upstream, opts.Stages...), mux: http.NewServeMux(), admin: http.NewServeMux(), log: opts.Logger,
		largeSlots: make(chan struct{}, opts.MaxConcurrentLargeBodies)}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.routes()
	s.adminRoutes()
	return s, nil
}

// routes registers the API. Every path under /v1/ and /model/ answers in
// its API's own error format, unknown endpoints and wrong methods included.
func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /v1/chat/completions", s.handleChat)
	m.HandleFunc("POST /v1/embeddings", s.handleEmbeddings)
	m.HandleFunc("POST /v1/responses", s.handleResponses)
	m.HandleFunc("GET /v1/responses/{id}", s.handleGetResponse)
	m.HandleFunc("DELETE /v1/responses/{id}", s.handleDeleteResponse)
	m.HandleFunc("GET /v1/responses/{id}/input_items", s.handleInputItems)
	m.Handle("GET /v1/models", s.requireKey(http.HandlerFunc(s.handleModels), modelsDenied))
	m.HandleFunc("POST /v1/messages", s.handleMessages)
	m.HandleFunc("POST /v1/messages/count_tokens", s.handleCountTokens)
	m.HandleFunc("POST /v1/files", s.handleUploadFile)
	m.HandleFunc("GET /v1/files/{id}", s.handleGetFile)
	m.HandleFunc("GET /v1/files/{id}/content", s.handleFileContent)
	m.HandleFunc("DELETE /v1/files/{id}", s.handleDeleteFile)
	m.HandleFunc("POST /v1/batches", s.handleCreateBatch)
	m.HandleFunc("GET /v1/batches", s.handleListBatches)
	m.HandleFunc("GET /v1/batches/{id}", s.handleGetBatch)
	m.HandleFunc("POST /v1/batches/{id}/cancel", s.handleCancelBatch)
	m.HandleFunc("GET /v1/penny/deferred/{id}", s.handleDeferred)
	m.HandleFunc("POST /model/{modelId}/converse", s.handleConverse)
	m.HandleFunc("POST /model/{modelId}/converse-stream", s.handleConverseStream)
	m.HandleFunc("POST /model/{modelId}/invoke", s.handleInvoke)
	m.HandleFunc("POST /model/{modelId}/invoke-with-response-stream", s.handleInvokeStream)
	m.Handle("GET /inference-profiles", s.requireKey(http.HandlerFunc(s.handleInferenceProfiles), bedrockDenied))
	m.Handle("GET /inference-profiles/{id}", s.requireKey(http.HandlerFunc(s.handleInferenceProfile), bedrockDenied))
	// Claude Code probes the base URL before its first request.
	m.HandleFunc("HEAD /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRequestID, newRequestID())
	})
	if s.opts.Usage != nil {
		m.Handle("GET /v1/penny/usage", s.requireKey(http.HandlerFunc(s.handleTenantUsage), openaiDenied))
	}
	// Every tenant's data is on the admin listener only.
	m.HandleFunc("/metrics", s.notHere)
	m.HandleFunc("/admin/", s.notHere)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRequestID, newRequestID())
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	m.HandleFunc("GET /readyz", s.handleReady)
	openaiMisroute := func(status int, code, msg string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			kind := llm.KindNotFound
			if status == http.StatusMethodNotAllowed {
				kind = llm.KindValidation
			}
			err := &llm.Error{Kind: kind, Code: code, Message: fmt.Sprintf(msg, r.Method, r.URL.Path)}
			w.Header().Set(HeaderRequestID, newRequestID())
			if anthropicClient(r) || strings.HasPrefix(r.URL.Path, "/v1/messages") {
				_, body := anthropicwire.ErrorFor(err)
				writeJSON(w, status, body)
				return
			}
			_, body := openaiwire.ErrorFor(err)
			writeJSON(w, status, body)
		}
	}
	m.HandleFunc("/v1/chat/completions", openaiMisroute(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s; use POST"))
	m.HandleFunc("/v1/models", openaiMisroute(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s; use GET"))
	m.HandleFunc("/v1/embeddings", openaiMisroute(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s; use POST"))
	m.HandleFunc("/v1/penny/usage", openaiMisroute(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s; use GET"))
	m.HandleFunc("/v1/messages", openaiMisroute(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s; use POST"))
	m.HandleFunc("/v1/messages/count_tokens", openaiMisroute(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s; use POST"))
	m.HandleFunc("/v1/responses", openaiMisroute(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s; use POST"))
	m.HandleFunc("/v1/responses/{id}", openaiMisroute(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s; use GET or DELETE"))
	m.HandleFunc("/v1/responses/{id}/input_items", openaiMisroute(http.StatusMethodNotAllowed, "method_not_allowed", "method %s is not allowed on %s; use GET"))
	m.HandleFunc("POST /v1/responses/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRequestID, newRequestID())
		storedError(w, llm.Errorf(llm.KindUnsupported, "%s: only background responses can be cancelled, and Penny runs none (background: true is refused)", r.URL.Path))
	})
	m.HandleFunc("/v1/", openaiMisroute(http.StatusNotFound, "unknown_endpoint", "%s %s is not an endpoint Penny serves (it serves POST /v1/chat/completions, POST /v1/responses, GET and DELETE /v1/responses/{id}, POST /v1/embeddings, POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models, GET /v1/penny/usage, the Batch API under /v1/files and /v1/batches, and GET /v1/penny/deferred/{id})"))
	m.HandleFunc("/model/", func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set(HeaderRequestID, id)
		converse.WriteHTTPErrorType(w, id, "UnknownOperationException",
			fmt.Sprintf("%s %s is not an operation Penny serves (it serves POST /model/{modelId}/converse, /converse-stream, /invoke and /invoke-with-response-stream)", r.Method, r.URL.Path))
	})
}

// handleReady serves GET /readyz: 200 while requests can be served and
// recorded, 503 with the reason while they cannot (the ledger's database
// is failing or stalled).
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(HeaderRequestID, newRequestID())
	if rd, ok := s.opts.Recorder.(interface{ Ready() error }); ok {
		if err := rd.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// requireKey serves h only to callers with a valid Penny key when auth is
// requireKey serves h only to callers with a valid Penny key when auth is
// on, with the key in the request's context (keys.FromContext); denied
// writes the refusal in the endpoint's API format.
func (s *Server) requireKey(h http.Handler, denied func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	if s.opts.Auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// These endpoints take no body: the signature covers an empty one.
		k, err := s.opts.Auth.Authenticate(r, []byte{})
		if err != nil {
			w.Header().Set(HeaderRequestID, newRequestID())
			denied(w, r, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(keys.NewContext(r.Context(), k)))
	})
}

// modelsDenied refuses GET /v1/models in the caller's API format.
func modelsDenied(w http.ResponseWriter, r *http.Request, err error) {
	if anthropicClient(r) {
		anthropicDenied(w, r, err)
		return
	}
	openaiDenied(w, r, err)
}

func openaiDenied(w http.ResponseWriter, _ *http.Request, err error) {
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

// newRequestID returns a random 96-bit request id in hex.
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

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// AdminHandler returns the admin listener's handler: metrics, alerts and
// every tenant's usage.
func (s *Server) AdminHandler() http.Handler { return s.admin }

// Chain returns the stage chain, for in-process callers (the demo, tests).
func (s *Server) Chain() llm.Invoker { return s.chain }
