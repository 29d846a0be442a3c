package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/penny-gateway/penny/internal/anthropicwire"
	"github.com/penny-gateway/penny/internal/llm"
)

// handleMessages serves POST /v1/messages, Anthropic's Messages API,
// streamed (SSE) or not. Claude Code's ?beta=true changes nothing.
func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "anthropic", &anthropicMessages{})
}

// handleCountTokens serves POST /v1/messages/count_tokens with Penny's own
// count of the request's input tokens.
func (s *Server) handleCountTokens(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "anthropic", &anthropicMessages{count: true})
}

// anthropicMessages is the Anthropic Messages frontend.
type anthropicMessages struct {
	// count makes it the count_tokens endpoint, answered without a model.
	count bool
}

func (a *anthropicMessages) start(c *call, r *http.Request) {}

func (a *anthropicMessages) decode(c *call, r *http.Request, body []byte) (*llm.Request, error) {
	if a.count {
		// count_tokens takes no max_tokens; the decoder wants one.
		body = withMaxTokens(body)
	}
	req, err := anthropicwire.DecodeRequest(body, anthropicwire.Options{Dialect: anthropicwire.API, Betas: r.Header.Values("anthropic-beta")})
	if err != nil {
		c.requested = sniffModel(body)
		return nil, err
	}
	if a.count {
		if req.Meta.Stream {
			return nil, llm.Errorf(llm.KindValidation, "stream: extra inputs are not permitted")
		}
		req.Meta.Tags = mergeTags(req.Meta.Tags, map[string]string{"operation": "count_tokens"})
	}
	return req, nil
}

// withMaxTokens adds "max_tokens": 1 to a count_tokens body that is a JSON
// object without one.
func withMaxTokens(body []byte) []byte {
	t := strings.TrimSpace(string(body))
	if !strings.HasPrefix(t, "{") || strings.Contains(t, `"max_tokens"`) {
		return body
	}
	return []byte(`{"max_tokens":1,` + strings.TrimPrefix(t, "{"))
}

func (a *anthropicMessages) fail(c *call, w http.ResponseWriter, err error) { c.anthropicError(w, err) }

// local answers count_tokens: the model must be one Penny knows, and the
// count is Penny's tokenizer's (see tokens.Counter.CountRequest), not the
// model's own.
func (a *anthropicMessages) local(c *call, w http.ResponseWriter) bool {
	if !a.count {
		return false
	}
	if !slices.Contains(c.s.opts.RouteNames, c.req.Model) {
		if _, err := c.s.opts.Catalog.Resolve(c.req.Model); err != nil {
			c.anthropicError(w, err)
			return true
		}
	}
	n := 0
	if c.s.opts.Counter != nil {
		n = c.s.opts.Counter.CountRequest(c.req)
	}
	c.anthropicHeaders(w)
	writeJSON(w, http.StatusOK, anthropicwire.TokenCount{InputTokens: n})
	return true
}

func (a *anthropicMessages) answer(c *call, w http.ResponseWriter, resp *llm.Response) {
	out := anthropicwire.EncodeResponse(resp, "msg_"+c.req.Meta.RequestID, c.req.Model, c.req.Config.StopSequences)
	c.anthropicHeaders(w)
	c.setCostHeaders(w.Header())
	writeJSON(w, http.StatusOK, out)
}

func (c *call) anthropicHeaders(w http.ResponseWriter) {
	c.setHeaders(w)
	w.Header().Set("request-id", c.req.Meta.RequestID)
}

func (c *call) anthropicError(w http.ResponseWriter, err error) {
	err = withRetryAfter(err)
	status, body := anthropicwire.ErrorFor(err)
	c.errorHeaders(w, err, status)
	w.Header().Set("request-id", c.req.Meta.RequestID)
	body.RequestID = c.req.Meta.RequestID
	writeJSON(w, status, body)
}

// stream answers with Anthropic's server-sent events. Errors before the
// first event got an ordinary error response (serve); later ones an SSE
// error event.
func (a *anthropicMessages) stream(c *call, w http.ResponseWriter, p *eventPump, first llm.Event) error {
	w.Header().Set("request-id", c.req.Meta.RequestID)
	sw := startSSE(c, w)
	enc := &anthropicwire.StreamEncoder{ID: "msg_" + c.req.Meta.RequestID, Model: c.req.Model,
		Stops: c.req.Config.StopSequences, InputTokens: c.inputEstimate()}
	write := func(evs []anthropicwire.Event) {
		for _, e := range evs {
			sw.event(e.Type, json.RawMessage(e.Data))
		}
	}
	err := c.relay(p, first, func(ev llm.Event) {
		if ev.Type == llm.EventMetadata {
			enc.Model = c.req.Model
		}
		write(enc.Encode(ev))
	}, sw.flush)
	switch {
	case errors.Is(err, io.EOF):
		write(enc.Finish())
		sw.bw.Flush()
	case llm.KindOf(err) != llm.KindCanceled:
		write([]anthropicwire.Event{anthropicwire.ErrorEvent(err)})
		sw.bw.Flush()
	}
	p.stop() // settles an early end's bill before the trailers
	c.setCostHeaders(w.Header())
	return err
}

// inputEstimate is Penny's count of the request's input tokens, for the
// message_start event of a stream (the upstream reports usage at the end).
func (c *call) inputEstimate() int {
	if c.s.opts.Counter == nil {
		return 0
	}
	return c.s.opts.Counter.CountRequest(c.req)
}

// anthropicClient reports whether r comes from an Anthropic client, which
// sends anthropic-version on every request.
func anthropicClient(r *http.Request) bool { return r.Header.Get("anthropic-version") != "" }

// anthropicModels lists the catalog's chat models and the routes in
// Anthropic's shape.
func (s *Server) anthropicModels(w http.ResponseWriter) {
	list := anthropicwire.ModelList{Data: []anthropicwire.ModelInfo{}}
	const created = "2025-01-01T00:00:00Z"
	for _, m := range s.opts.Catalog.Sorted() {
		if m.Capabilities.Chat {
			list.Data = append(list.Data, anthropicwire.ModelInfo{Type: "model", ID: m.ID, DisplayName: m.Name, CreatedAt: created})
		}
	}
	names := slices.Sorted(slices.Values(s.opts.RouteNames))
	for _, n := range names {
		list.Data = append(list.Data, anthropicwire.ModelInfo{Type: "model", ID: n, DisplayName: "Penny route " + n, CreatedAt: created})
	}
	if n := len(list.Data); n > 0 {
		list.FirstID, list.LastID = &list.Data[0].ID, &list.Data[n-1].ID
	}
	w.Header().Set(HeaderRequestID, newRequestID())
	writeJSON(w, http.StatusOK, list)
}

func anthropicDenied(w http.ResponseWriter, _ *http.Request, err error) {
	status, body := anthropicwire.ErrorFor(err)
	challenge(w, status, bearerChallenge)
	writeJSON(w, status, body)
}
