package gateway

import (
	"errors"
	"io"
	"net/http"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// handleConverse serves POST /model/{modelId}/converse, Bedrock's own wire
// API, so AWS SDK clients work by changing only their endpoint.
func (s *Server) handleConverse(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "converse", converseAPI{streamed: false})
}

// handleConverseStream serves POST /model/{modelId}/converse-stream.
func (s *Server) handleConverseStream(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "converse", converseAPI{streamed: true})
}

// converseAPI is the Bedrock Converse frontend; the operation (the path)
// says whether the answer streams.
type converseAPI struct{ streamed bool }

// start takes the model and the operation from the path, so that even a
// request refused before its body is read is recorded with them.
func (a converseAPI) start(c *call, r *http.Request) {
	c.requested = modelParam(r)
	c.req.Meta.Stream = a.streamed
}

func (a converseAPI) decode(c *call, r *http.Request, body []byte) (*llm.Request, error) {
	req, err := converse.DecodeRequest(body)
	if err != nil {
		return nil, err
	}
	req.Model = c.requested
	return req, nil
}

// modelParam is the {modelId} path segment, percent-decoded.
func modelParam(r *http.Request) string { return r.PathValue("modelId") }

func (converseAPI) fail(c *call, w http.ResponseWriter, err error) { c.converseError(w, err) }

func (c *call) converseError(w http.ResponseWriter, err error) {
	err = withRetryAfter(err)
	c.err = err
	c.status, _ = converse.ErrorType(llm.KindOf(err))
	c.setHeaders(w)
	c.setCostHeaders(w.Header())
	converse.WriteHTTPError(w, c.req.Meta.RequestID, err)
}

func (converseAPI) answer(c *call, w http.ResponseWriter, resp *llm.Response) {
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

// stream answers with a binary event stream. Errors before the first event
// were ordinary Bedrock error responses (serve); later ones are exception
// frames, as Bedrock sends them.
func (converseAPI) stream(c *call, w http.ResponseWriter, p *eventPump, first llm.Event) error {
	h := w.Header()
	c.setHeaders(w)
	h.Set("Content-Type", "application/vnd.amazon.eventstream")
	h.Set("x-amzn-RequestId", c.req.Meta.RequestID)
	h.Set("Trailer", streamTrailers)
	w.WriteHeader(http.StatusOK)
	ew := converse.NewEventWriter(w)
	ew.ManualFlush = true
	var err error
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
	err = c.streamEnd(err)
	if !errors.Is(err, io.EOF) && llm.KindOf(err) != llm.KindCanceled {
		ew.WriteError(err)
		ew.Flush()
	}
	p.stop() // settles an early end's bill before the trailers
	c.setCostHeaders(h)
	return err
}
