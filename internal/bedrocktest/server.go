// Package bedrocktest is a wire-level fake of the Bedrock runtime for tests:
// an httptest server that speaks Converse and ConverseStream, and
// InvokeModel and InvokeModelWithResponseStream for native bodies
// (invoke.go), exactly as Bedrock does (same paths, JSON bodies, event-stream frames, error headers
// and bodies), so that the real AWS SDK, Penny's Bedrock provider and
// Penny's Converse frontend can be tested against it.
//
// Its answers are programmable (a Responder), every call is recorded with
// its headers, and faults can be injected: Bedrock errors for the next N
// calls, a delay, and an exception in the middle of a stream.
package bedrocktest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// Responder answers one call. modelID is the decoded model id from the URL.
// Returning an *llm.Error makes the server answer with the matching Bedrock
// error (see converse.WriteHTTPError); any other error answers as an
// InternalServerException.
type Responder func(modelID string, req *llm.Request) (*llm.Response, error)

// Operation names, as recorded in Call.Operation.
const (
	OpConverse       = "Converse"
	OpConverseStream = "ConverseStream"
)

// Call is one request the server received.
type Call struct {
	Operation string // OpConverse, OpConverseStream, OpInvokeModel or OpInvokeModelStream
	ModelID   string // decoded, e.g. "us.amazon.nova-micro-v1:0"
	// Request is the decoded body, nil when the body did not decode.
	Request *llm.Request
	// Header holds every request header, including Authorization, so that
	// tests can assert SigV4 signing.
	Header http.Header
	Body   []byte
}

// Option configures a Server at construction.
type Option func(*Server)

// WithResponder sets the Responder; the default is Echo.
func WithResponder(r Responder) Option { return func(s *Server) { s.responder = r } }

// WithDelay makes the server wait d before answering each call (or until
// the client gives up).
func WithDelay(d time.Duration) Option { return func(s *Server) { s.delay = d } }

// WithInvokedModel makes every answer carry a prompt-router trace naming
// model id as the model invoked, as when modelId is a prompt router ARN.
func WithInvokedModel(id string) Option { return func(s *Server) { s.invokedModel = id } }

// Server is the fake Bedrock runtime. Its methods are safe for concurrent
// use.
type Server struct {
	srv *httptest.Server

	mu           sync.Mutex
	responder    Responder
	delay        time.Duration
	invokedModel string
	failN        int
	failType     string
	failMessage  string
	streamFault  *streamFault
	calls        []Call
	seen         map[string]bool // cached prompt prefixes, for Echo
	requests     int
}

type streamFault struct {
	after         int
	exceptionType string
	message       string
}

// New starts a fake Bedrock on 127.0.0.1 and closes it when tb ends.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{seen: map[string]bool{}}
	s.responder = s.Echo
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /model/{modelId}/converse", s.handle(OpConverse))
	mux.HandleFunc("POST /model/{modelId}/converse-stream", s.handle(OpConverseStream))
	mux.HandleFunc("POST /model/{modelId}/invoke", s.handleInvoke(OpInvokeModel))
	mux.HandleFunc("POST /model/{modelId}/invoke-with-response-stream", s.handleInvoke(OpInvokeModelStream))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		converse.WriteHTTPErrorType(w, s.nextRequestID(), "UnknownOperationException", "unknown operation "+r.Method+" "+r.URL.Path)
	})
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base URL, for BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Calls returns a copy of every call received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCount is len(Calls()).
func (s *Server) CallCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// LastCall returns the most recent call; ok is false if there was none.
func (s *Server) LastCall() (c Call, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		return Call{}, false
	}
	return s.calls[len(s.calls)-1], true
}

// SetResponder replaces the Responder; nil restores Echo.
func (s *Server) SetResponder(r Responder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r == nil {
		r = s.Echo
	}
	s.responder = r
}

// SetDelay sets the delay before each answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetInvokedModel sets the prompt-router trace of later answers ("" for
// none).
func (s *Server) SetInvokedModel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invokedModel = id
}

// FailNext makes the next n calls (of either operation) fail with the
// Bedrock error errType, e.g. "ThrottlingException", sent with Bedrock's
// status for it, x-amzn-ErrorType header and {"message": message} body.
// The calls are still recorded.
func (s *Server) FailNext(n int, errType, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failType, s.failMessage = n, errType, message
}

// FailStreamAfter makes the next ConverseStream call send an exception
// frame of exceptionType (one of "internalServerException",
// "modelStreamErrorException", "validationException",
// "throttlingException", "serviceUnavailableException") with
// {"message": message} after k events, and end the stream there.
func (s *Server) FailStreamAfter(k int, exceptionType, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamFault = &streamFault{after: k, exceptionType: exceptionType, message: message}
}

func (s *Server) nextRequestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	return "fake-" + strconv.Itoa(s.requests)
}

// plan is what the server decided for one call, under the lock.
type plan struct {
	responder    Responder
	delay        time.Duration
	invokedModel string
	failType     string
	failMessage  string
	streamFault  *streamFault
}

// proceed waits out the plan's delay and answers its injected failure; it
// reports whether the call should be answered normally.
func (p plan) proceed(w http.ResponseWriter, r *http.Request, reqID string) bool {
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
	}
	if p.failType != "" {
		converse.WriteHTTPErrorType(w, reqID, p.failType, p.failMessage)
		return false
	}
	return true
}

func (s *Server) record(c Call, op string) plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	p := plan{responder: s.responder, delay: s.delay, invokedModel: s.invokedModel}
	if s.failN > 0 {
		s.failN--
		p.failType, p.failMessage = s.failType, s.failMessage
	}
	if (op == OpConverseStream || op == OpInvokeModelStream) && p.failType == "" {
		p.streamFault, s.streamFault = s.streamFault, nil
	}
	return p
}

func (s *Server) handle(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reqID := s.nextRequestID()
		w.Header().Set("x-amzn-RequestId", reqID)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			converse.WriteHTTPError(w, reqID, llm.Errorf(llm.KindValidation, "read body: %v", err))
			return
		}
		modelID := r.PathValue("modelId")
		req, derr := converse.DecodeRequest(body)
		call := Call{Operation: op, ModelID: modelID, Header: r.Header.Clone(), Body: body}
		if derr == nil {
			call.Request = req
		}
		p := s.record(call, op)

		if !p.proceed(w, r, reqID) {
			return
		}
		if derr != nil {
			converse.WriteHTTPError(w, reqID, derr)
			return
		}
		start := time.Now()
		resp, err := p.responder(modelID, req)
		if err != nil {
			converse.WriteHTTPError(w, reqID, err)
			return
		}
		if resp.Latency == 0 {
			resp.Latency = max(time.Since(start), time.Millisecond)
		}
		if resp.InvokedModel == "" {
			resp.InvokedModel = p.invokedModel
		}
		if op == OpConverse {
			out, err := converse.EncodeResponse(resp)
			if err != nil {
				converse.WriteHTTPError(w, reqID, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(out)
			return
		}
		s.stream(r.Context(), w, resp, p.streamFault)
	}
}

// stream writes resp as a ConverseStream answer, in small deltas like
// Bedrock's, stopping with an exception frame if fault says so.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, resp *llm.Response, fault *streamFault) {
	w.Header().Set("Content-Type", converse.StreamContentType)
	w.WriteHeader(http.StatusOK)
	ew := converse.NewEventWriter(w)
	events := StreamEvents(resp)
	for i, ev := range events {
		if fault != nil && i == fault.after {
			ew.WriteException(fault.exceptionType, fault.message)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err := ew.WriteEvent(ev); err != nil {
			return
		}
	}
	if fault != nil && fault.after >= len(events) {
		ew.WriteException(fault.exceptionType, fault.message)
	}
}
