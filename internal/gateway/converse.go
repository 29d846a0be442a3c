package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// handleConverse serves POST /model/{modelId}/converse, Bedrock's own wire
// API, so AWS SDK clients work by changing only their endpoint.
func (s *Server) handleConverse(w http.ResponseWriter, r *http.Request) {
	s.converse(w, r, false)
}

// handleConverseStream serves POST /model/{modelId}/converse-stream.
func (s *Server) handleConverseStream(w http.ResponseWriter, r *http.Request) {
	s.converse(w, r, true)
}

func (s *Server) converse(w http.ResponseWriter, r *http.Request, stream bool) {
	c := s.newCall(r, "converse")
	defer c.finish()
	ctx, cancel := c.ctx(r)
	defer cancel()
	c.requested = modelParam(r)
	c.req.Meta.Stream = stream
	if err := c.authenticate(&ctx, r, nil); err != nil {
		// Refused before the body was read: close the connection rather
		// than let the server drain what the caller is still sending.
		w.Header().Set("Connection", "close")
		c.converseError(w, err)
		return
	}
	body, err := c.readBody(w, r)
	if err == nil {
		err = c.authenticate(&ctx, r, body.Bytes())
	}
	if err != nil {
		c.converseError(w, err)
		return
	}
	req, err := converse.DecodeRequest(body.Bytes())
	c.releaseBody(body)
	if err == nil {
		req.Model = c.requested
		c.adopt(req)
		err = c.headerErr
	}
	if err != nil {
		c.converseError(w, err)
		return
	}
	if stream {
		c.converseStream(ctx, w)
		return
	}
	resp, err := s.chain.Invoke(ctx, c.req)
	if err != nil {
		c.converseError(w, err)
		return
	}
	c.usage, c.cost, c.baseline = resp.Usage, resp.Cost, resp.BaselineCost
	out, err := converse.EncodeResponse(resp)
	if err != nil {
		c.converseError(w, llm.Errorf(llm.KindInternal, "encoding answer: %w", err))
		return
	}
	c.setHeaders(w)
	c.setCostHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", c.req.Meta.RequestID)
	w.Write(out)
}

func (c *call) converseError(w http.ResponseWriter, err error) {
	err = withRetryAfter(err)
	c.err = err
	c.status, _ = converse.ErrorType(llm.KindOf(err))
	c.setHeaders(w)
	c.setCostHeaders(w.Header())
	converse.WriteHTTPError(w, c.req.Meta.RequestID, err)
}

// converseStream answers with a binary event stream. Errors before the
// first event are ordinary Bedrock error responses; later ones are
// exception frames, as Bedrock sends them.
func (c *call) converseStream(ctx context.Context, w http.ResponseWriter) {
	p, first, err := c.openStream(ctx)
	if err != nil {
		c.converseError(w, err)
		return
	}
	defer p.stop()
	h := w.Header()
	c.setHeaders(w)
	h.Set("Content-Type", "application/vnd.amazon.eventstream")
	h.Set("x-amzn-RequestId", c.req.Meta.RequestID)
	h.Set("Trailer", HeaderCost+", "+HeaderBaseline)
	w.WriteHeader(http.StatusOK)
	ew := converse.NewEventWriter(w)
	ew.ManualFlush = true
	ev := first
	for {
		c.observe(ev)
		err = ew.WriteEvent(ev)
		if err == nil && p.idle() {
			err = ew.Flush()
		}
		if err != nil {
			err = llm.Errorf(llm.KindCanceled, "client went away: %w", err)
			break
		}
		if ev, err = p.next(); err != nil {
			break
		}
	}
	if !errors.Is(err, io.EOF) {
		// The status already sent, 200, stays the record's; the error
		// kind says what went wrong.
		c.err = err
		if llm.KindOf(err) != llm.KindCanceled {
			ew.WriteError(err)
			ew.Flush()
		}
		c.settleStream()
	}
	c.setCostHeaders(h)
}
