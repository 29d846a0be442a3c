package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// handleChat serves POST /v1/chat/completions, streamed or not.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "openai", &openaiChat{})
}

// openaiChat is the OpenAI chat-completions frontend.
type openaiChat struct {
	opts openaiwire.Options
}

func (o *openaiChat) start(c *call, r *http.Request) {}

func (o *openaiChat) decode(c *call, r *http.Request, body []byte) (*llm.Request, error) {
	req, opts, err := openaiwire.DecodeRequest(body)
	if err != nil {
		c.requested = sniffModel(body)
		return nil, err
	}
	req.Meta.Stream = opts.Stream
	o.opts = opts
	return req, nil
}

func (o *openaiChat) fail(c *call, w http.ResponseWriter, err error) { c.openaiError(w, err) }

func (o *openaiChat) answer(c *call, w http.ResponseWriter, resp *llm.Response) {
	out := openaiwire.EncodeResponse(resp, "chatcmpl-"+c.req.Meta.RequestID, c.req.Model, c.received.Unix())
	c.setHeaders(w)
	c.setCostHeaders(w.Header())
	writeJSON(w, http.StatusOK, out)
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

func (c *call) openaiError(w http.ResponseWriter, err error) {
	err = withRetryAfter(err)
	status, body := openaiwire.ErrorFor(err)
	c.errorHeaders(w, err, status)
	writeJSON(w, status, body)
}

// errorHeaders notes a failure answered with status and writes the headers
// a JSON error answer carries: Penny's, the bill, a 401's challenge and a
// Retry-After when err has a retry hint.
func (c *call) errorHeaders(w http.ResponseWriter, err error, status int) {
	c.err, c.status = err, status
	c.setHeaders(w)
	c.setCostHeaders(w.Header())
	challenge(w, status, bearerChallenge)
	var e *llm.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", openaiwire.RetryAfterHeader(e))
	}
}

// stream answers with server-sent events. Errors before the first event
// got a normal JSON error response (serve); later ones an SSE error event
// (the HTTP status already sent, 200, is what the ledger records).
func (o *openaiChat) stream(c *call, w http.ResponseWriter, p *eventPump, first llm.Event) error {
	sw := startSSE(c, w)
	enc := &openaiwire.ChunkEncoder{ID: "chatcmpl-" + c.req.Meta.RequestID, Model: c.req.Model, Created: c.received.Unix(), IncludeUsage: o.opts.IncludeUsage}
	err := c.relay(p, first, func(ev llm.Event) {
		if m := c.invokedModel(ev); m != "" {
			enc.Model = m // a prompt router's choice names the final chunk's model
		}
		for _, ch := range enc.Encode(ev) {
			sw.event("", ch)
		}
	}, sw.flush)
	if errors.Is(err, io.EOF) {
		sw.bw.WriteString("data: [DONE]\n\n")
		sw.bw.Flush()
	} else if llm.KindOf(err) != llm.KindCanceled {
		_, body := openaiwire.ErrorFor(err)
		sw.event("", body)
		sw.bw.Flush()
	}
	p.stop() // settles an early end's bill before the trailers
	c.setCostHeaders(w.Header())
	return err
}

// handleModels serves GET /v1/models: catalog chat models and routes, in
// Anthropic's shape when an Anthropic client asks.
func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	if anthropicClient(r) {
		s.anthropicModels(w)
		return
	}
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	list := openaiwire.ModelList{Object: "list"}
	for _, m := range s.opts.Catalog.Sorted() {
		if !m.Capabilities.Chat {
			continue
		}
		list.Data = append(list.Data, openaiwire.ModelEntry{ID: m.ID, Object: "model", Created: created, OwnedBy: m.Vendor})
	}
	names := append([]string(nil), s.opts.RouteNames...)
	w.Header().Set(HeaderRequestID, newRequestID())
	sort.Strings(names)
	for _, n := range names {
		list.Data = append(list.Data, openaiwire.ModelEntry{ID: n, Object: "model", Created: created, OwnedBy: "penny-route"})
	}
	writeJSON(w, http.StatusOK, list)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"message":"encoding response failed","type":"server_error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
