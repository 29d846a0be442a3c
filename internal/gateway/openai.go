package gateway

import (
	"bufio"
	"context"
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
	c := s.newCall(r, "openai")
	defer c.finish()
	ctx, cancel := c.ctx(r)
	defer cancel()
	if err := c.authenticate(&ctx, r, nil); err != nil {
		// Refused before the body was read: close the connection rather
		// than let the server drain what the caller is still sending.
		w.Header().Set("Connection", "close")
		c.openaiError(w, err)
		return
	}
	body, err := c.readBody(w, r)
	if err == nil {
		err = c.authenticate(&ctx, r, body.Bytes())
	}
	if err != nil {
		c.openaiError(w, err)
		return
	}
	req, opts, err := openaiwire.DecodeRequest(body.Bytes())
	if err != nil {
		c.requested = sniffModel(body.Bytes())
	}
	c.releaseBody(body)
	if err == nil {
		req.Meta.Stream = opts.Stream
		c.adopt(req)
		err = c.headerErr
	}
	if err != nil {
		c.openaiError(w, err)
		return
	}
	if opts.Stream {
		c.openaiStream(ctx, w, opts)
		return
	}
	resp, err := s.chain.Invoke(ctx, c.req)
	if err != nil {
		c.openaiError(w, err)
		return
	}
	c.usage, c.cost, c.baseline = resp.Usage, resp.Cost, resp.BaselineCost
	out := openaiwire.EncodeResponse(resp, "chatcmpl-"+c.req.Meta.RequestID, c.req.Model, c.received.Unix())
	c.setHeaders(w)
	c.setCostHeaders(w.Header())
	writeJSON(w, http.StatusOK, out)
}

func mergeTags(a, b map[string]string) map[string]string {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range b {
		a[k] = v
	}
	return a
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

// openaiStream answers with server-sent events. Errors before the first
// event get a normal JSON error response; later ones an SSE error event
// (the HTTP status already sent, 200, is what the ledger records).
func (c *call) openaiStream(ctx context.Context, w http.ResponseWriter, opts openaiwire.Options) {
	p, first, err := c.openStream(ctx)
	if err != nil {
		c.openaiError(w, err)
		return
	}
	defer p.stop()
	h := w.Header()
	c.setHeaders(w)
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Trailer", HeaderCost+", "+HeaderBaseline)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 4096)
	enc := &openaiwire.ChunkEncoder{ID: "chatcmpl-" + c.req.Meta.RequestID, Model: c.req.Model, Created: c.received.Unix(), IncludeUsage: opts.IncludeUsage}
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
	ev := first
	for {
		c.observe(ev)
		if ev.Type == llm.EventMetadata {
			enc.Model = c.req.Model
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
	if errors.Is(err, io.EOF) {
		bw.WriteString("data: [DONE]\n\n")
		bw.Flush()
	} else {
		c.err = err
		if llm.KindOf(err) != llm.KindCanceled {
			_, body := openaiwire.ErrorFor(err)
			writeData(body)
			bw.Flush()
		}
		c.settleStream()
	}
	c.setCostHeaders(h)
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
	names := s.opts.Routes.Names()
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
