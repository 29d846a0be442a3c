package gateway

import (
	"bufio"
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
	c.err, c.status = err, status
	c.setHeaders(w)
	c.setCostHeaders(w.Header())
	challenge(w, status, bearerChallenge)
	var e *llm.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", openaiwire.RetryAfterHeader(e))
	}
	writeJSON(w, status, body)
}

// stream answers with server-sent events. Errors before the first event
// got a normal JSON error response (serve); later ones an SSE error event
// (the HTTP status already sent, 200, is what the ledger records).
func (o *openaiChat) stream(c *call, w http.ResponseWriter, p *eventPump, first llm.Event) error {
	h := w.Header()
	c.setHeaders(w)
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Trailer", streamTrailers)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 4096)
	enc := &openaiwire.ChunkEncoder{ID: "chatcmpl-" + c.req.Meta.RequestID, Model: c.req.Model, Created: c.received.Unix(), IncludeUsage: o.opts.IncludeUsage}
	writeData := func(v any) {
		b, _ := json.Marshal(v)
		bw.WriteString("data: ")
		bw.Write(b)
		bw.WriteString("\n\n")
	}
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return llm.Errorf(llm.KindCanceled, "client went away: %w", err)
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return llm.Errorf(llm.KindCanceled, "client went away: %w", err)
		}
		return nil
	}
	var err error
	ev := first
	for {
		c.observe(ev)
		if ev.Type == llm.EventMetadata && ev.InvokedModel != "" {
			// A prompt router's choice names the final chunk's model.
			if t, err := c.s.opts.Catalog.Resolve(ev.InvokedModel); err == nil && t.Model != nil {
				enc.Model = t.Model.ID
			}
		}
		for _, ch := range enc.Encode(ev) {
			writeData(ch)
		}
		if p.idle() {
			if err = flush(); err != nil {
				break
			}
		}
		if ev, err = p.next(); err != nil {
			break
		}
	}
	err = c.streamEnd(err)
	if errors.Is(err, io.EOF) {
		bw.WriteString("data: [DONE]\n\n")
		bw.Flush()
	} else if llm.KindOf(err) != llm.KindCanceled {
		_, body := openaiwire.ErrorFor(err)
		writeData(body)
		bw.Flush()
	}
	p.stop() // settles an early end's bill before the trailers
	c.setCostHeaders(h)
	return err
}

// handleModels serves GET /v1/models: catalog chat models and routes.
func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
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
