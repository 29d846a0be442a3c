package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// Deferred requests: a chat or Converse request with x-penny-defer (or on
// a route of mode batch) is queued for a Bedrock batch job and answered
// 202 with its id; GET /v1/penny/deferred/{id} returns its status, then
// its answer in the request's own API format. Its ledger record is
// written once it has run (by package batch), not when it is accepted.
const (
	HeaderDefer      = "X-Penny-Defer"
	HeaderDeferredID = "X-Penny-Deferred-Id"
)

// maxDefer is the longest a request may be deferred: Bedrock's batch
// completion window.
const maxDefer = 24 * time.Hour

// deferral reports whether the call is to be deferred: its x-penny-defer
// header (a duration up to 24h, or "true"), or its route's mode batch.
// Chat completions, Converse, and InvokeModel bodies Penny passes through
// unchanged (their answer is the model's own) can be deferred; the other
// APIs are refused, rather than answered on demand unasked.
func (c *call) deferral() (bool, error) {
	want, err := c.wantsDefer()
	if !want || err != nil {
		return false, err
	}
	switch {
	case c.api == "openai" || c.api == "converse":
	case c.api == "invoke" && c.req.Native != nil:
	default:
		return false, llm.Errorf(llm.KindUnsupported, "requests of this API cannot be deferred (x-penny-defer or a route of mode batch): "+
			"send them as chat completions or Converse requests")
	}
	return true, nil
}

func (c *call) wantsDefer() (bool, error) {
	v := strings.TrimSpace(c.header.Get(HeaderDefer))
	switch strings.ToLower(v) {
	case "", "false", "0", "no":
	case "true", "yes", "1":
		return true, nil
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > maxDefer {
			return false, llm.Errorf(llm.KindValidation, "%s: %q is not a duration up to 24h (e.g. 24h), or true", HeaderDefer, v)
		}
		return true, nil
	}
	if f := c.s.opts.DeferRoute; f != nil && c.s.opts.Batch != nil {
		return (c.req.Meta.Route != "" && f(c.req.Meta.Route)) || f(c.req.Model), nil
	}
	return false, nil
}

// deferCall sends the call through the chain with mode batch, so that the
// dispatcher queues it, and answers 202 with its id, or the refusal.
func (s *Server) deferCall(ctx context.Context, c *call, w http.ResponseWriter, fe frontend) {
	if c.req.Meta.Stream {
		fe.fail(c, w, llm.Errorf(llm.KindValidation, "a deferred request cannot stream; send it without stream"))
		return
	}
	c.req.Meta.Mode = llm.ModeBatch
	c.req.Meta.Cache = llm.CacheBypass // the answer comes later; nothing to look up or share now
	_, err := s.chain.Invoke(ctx, c.req)
	if llm.KindOf(err) != llm.KindDeferred {
		if err == nil {
			err = llm.Errorf(llm.KindInternal, "the request was answered instead of deferred")
		}
		fe.fail(c, w, err)
		return
	}
	c.deferred = true
	id := c.req.Meta.RequestID
	h := w.Header()
	h.Set(HeaderRequestID, id)
	h.Set(HeaderDeferredID, id)
	h.Set(HeaderModel, c.req.Model)
	h.Set(HeaderRoute, c.req.Meta.Route)
	h.Set(HeaderCache, string(c.req.Meta.Cache))
	h.Set("Location", "/v1/penny/deferred/"+id)
	c.status = http.StatusAccepted
	writeJSON(w, http.StatusAccepted, deferredStatus{ID: id, Object: "penny.deferred", Status: "queued",
		Model: c.req.Model, API: c.api, CreatedAt: c.received.Unix(), URL: "/v1/penny/deferred/" + id})
}

// deferredStatus is the body of a deferred request that is not done.
type deferredStatus struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Status    string `json:"status"`
	Model     string `json:"model"`
	API       string `json:"api"`
	CreatedAt int64  `json:"created_at"`
	URL       string `json:"url,omitempty"`
	How       string `json:"how,omitempty"`
}

// handleDeferred serves GET /v1/penny/deferred/{id}: 202 and the status
// while the request waits or runs; once over, the answer (200, with the
// x-penny-* headers of its bill) or its error, in the API it was sent in.
// Another tenant's id is a 404.
func (s *Server) handleDeferred(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.storedCall(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if s.opts.BatchStore == nil {
		storedError(w, deferredNotFound(id))
		return
	}
	it, err := s.opts.BatchStore.GetItem(r.Context(), tenant, id)
	if errors.Is(err, batch.ErrNotFound) || (err == nil && it.BatchID != "") {
		storedError(w, deferredNotFound(id))
		return
	}
	if err != nil {
		storedError(w, llm.Errorf(llm.KindInternal, "reading deferred request %s: %w", id, err))
		return
	}
	if !it.State.Over() {
		w.Header().Set(HeaderDeferredID, id)
		writeJSON(w, http.StatusAccepted, deferredStatus{ID: id, Object: "penny.deferred", Status: string(it.State),
			Model: it.Model, API: it.API, CreatedAt: it.Created.Unix(), How: it.How})
		return
	}
	res := it.Result
	for k, v := range res.Headers {
		if v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set(HeaderDeferredID, id)
	bedrockAPI := it.API == "converse" || it.API == "invoke"
	if e := res.Err(); e != nil {
		if bedrockAPI {
			converse.WriteHTTPError(w, id, e)
			return
		}
		_, body := openaiwire.ErrorFor(e)
		writeJSON(w, res.Status, body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if bedrockAPI {
		w.Header().Set("x-amzn-RequestId", id)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(res.Body)
}

func deferredNotFound(id string) *llm.Error {
	return &llm.Error{Kind: llm.KindNotFound, Code: "deferred_not_found", Message: "no deferred request " + jsonString(id)}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
