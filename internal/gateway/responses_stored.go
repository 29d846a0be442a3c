package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
	"github.com/penny-gateway/penny/internal/responses"
	"github.com/penny-gateway/penny/internal/responseswire"
)

// The stored-response endpoints call no model: they are not recorded in
// the ledger. Each is scoped to the caller's tenant (the key's, or
// x-penny-tenant when auth is off): another tenant's response is 404.

// storedCall authenticates a stored-response request and returns its
// tenant; on failure it has answered.
func (s *Server) storedCall(w http.ResponseWriter, r *http.Request) (string, bool) {
	w.Header().Set(HeaderRequestID, newRequestID())
	if s.opts.Auth == nil {
		t := strings.TrimSpace(r.Header.Get(HeaderTenant))
		if t == "" {
			t = "default"
		}
		return t, true
	}
	k, err := s.opts.Auth.Authenticate(r, []byte{})
	if err != nil {
		openaiDenied(w, nil, err)
		return "", false
	}
	return k.Tenant, true
}

// storedError answers err in OpenAI's format.
func storedError(w http.ResponseWriter, err error) {
	status, body := openaiwire.ErrorFor(err)
	writeJSON(w, status, body)
}

// handleGetResponse serves GET /v1/responses/{id}: the stored Response
// object as it was answered.
func (s *Server) handleGetResponse(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.storedCall(w, r)
	if !ok {
		return
	}
	if v := r.URL.Query().Get("stream"); v != "" && v != "false" {
		storedError(w, openaiwire.Unsupported("stream", "a stored response cannot be streamed again; get it whole"))
		return
	}
	st, err := s.storedResponse(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		storedError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(st.Response)
}

// handleDeleteResponse serves DELETE /v1/responses/{id}.
func (s *Server) handleDeleteResponse(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.storedCall(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if s.opts.Responses == nil {
		storedError(w, responseNotFound(id, false))
		return
	}
	switch err := s.opts.Responses.Delete(r.Context(), tenant, id); {
	case err == nil:
		writeJSON(w, http.StatusOK, responseswire.Deleted{ID: id, Object: "response.deleted", Deleted: true})
	case errors.Is(err, responses.ErrNotFound):
		storedError(w, responseNotFound(id, true))
	default:
		storedError(w, llm.Errorf(llm.KindInternal, "deleting stored response %s: %w", id, err))
	}
}

// handleInputItems serves GET /v1/responses/{id}/input_items: the items
// the response was generated from, the conversation it continued included,
// a page at a time (limit 1 to 100, default 20; order desc, the default,
// or asc; after an item id).
func (s *Server) handleInputItems(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.storedCall(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit, ok := pageLimit(w, q)
	if !ok {
		return
	}
	order := q.Get("order")
	if order != "" && order != "asc" && order != "desc" {
		storedError(w, openaiwire.Invalid("order", "must be asc or desc, got %q", order))
		return
	}
	st, err := s.storedResponse(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		storedError(w, err)
		return
	}
	items := slices.Clone(st.Input)
	if order != "asc" {
		slices.Reverse(items)
	}
	if after := q.Get("after"); after != "" {
		i := slices.IndexFunc(items, func(raw json.RawMessage) bool { return itemID(raw) == after })
		if i < 0 {
			storedError(w, openaiwire.Invalid("after", "no input item %q in this response", after))
			return
		}
		items = items[i+1:]
	}
	list := responseswire.ItemList{Object: "list", Data: items, HasMore: len(items) > limit}
	if list.HasMore {
		list.Data = items[:limit]
	}
	if n := len(list.Data); n > 0 {
		first, last := itemID(list.Data[0]), itemID(list.Data[n-1])
		list.FirstID, list.LastID = &first, &last
	} else {
		list.Data = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, list)
}

// pageLimit reads a list's limit parameter, 1 to 100 (default 20); on a
// bad value it has answered.
func pageLimit(w http.ResponseWriter, q url.Values) (int, bool) {
	v := q.Get("limit")
	if v == "" {
		return 20, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		storedError(w, openaiwire.Invalid("limit", "must be an integer from 1 to 100, got %q", v))
		return 0, false
	}
	return n, true
}

func itemID(raw json.RawMessage) string {
	var v struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &v)
	return v.ID
}
