package gateway

import (
	"context"
	"net/http"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// Recorded returns an Invoker for in-process callers (penny eval) that runs
// the whole chain and writes each request's ledger record exactly as the
// HTTP frontends do. Meta.API and Meta.Tenant default to "inprocess" and
// "default". Streams pass through unrecorded.
func (s *Server) Recorded() llm.Invoker { return recorded{s} }

type recorded struct{ s *Server }

func (r recorded) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	s := r.s
	s.inflight.Add(1)
	c := &call{s: s, api: req.Meta.API, received: s.opts.Now(), status: http.StatusOK, header: http.Header{}}
	if c.api == "" {
		c.api = "inprocess"
	}
	m := &req.Meta
	m.API = c.api
	if m.RequestID == "" {
		m.RequestID = newRequestID()
	}
	if m.Received.IsZero() {
		m.Received = c.received
	}
	if m.Tenant == "" {
		m.Tenant = "default"
	}
	if m.Cache == "" {
		m.Cache = llm.CacheMiss
	}
	m.RequestedModel = req.Model
	c.req, c.requested = req, req.Model
	defer c.finish()
	resp, err := s.chain.Invoke(ctx, req)
	if err != nil {
		c.err, c.status = err, openaiwire.StatusFor(llm.KindOf(err))
		return nil, err
	}
	return resp, nil
}

func (r recorded) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return r.s.chain.Stream(ctx, req)
}
