package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// adminRoutes registers the admin listener's endpoints: every tenant's
// data, for operators and Prometheus. Roles decide who may read them: with
// auth on, an admin key, unless the listener is open (loopback).
func (s *Server) adminRoutes() {
	m := s.admin
	if s.opts.Metrics != nil {
		m.Handle("GET /metrics", s.requireAdmin(s.opts.Metrics))
	}
	if s.opts.Alerts != nil {
		m.Handle("GET /admin/alerts", s.requireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(HeaderRequestID, newRequestID())
			writeJSON(w, http.StatusOK, map[string]any{"alerts": s.opts.Alerts()})
		})))
	}
	if s.opts.Usage != nil {
		m.Handle("GET /admin/usage", s.requireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.answerUsage(w, r, r.URL.Query().Get("tenant"))
		})))
	}
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRequestID, newRequestID())
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", s.handleReady)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRequestID, newRequestID())
		openaiDenied(w, r, &llm.Error{Kind: llm.KindNotFound, Code: "unknown_endpoint", Message: fmt.Sprintf(
			"%s %s is not an endpoint of Penny's admin listener (it serves GET /metrics, /admin/alerts and /admin/usage)", r.Method, r.URL.Path)})
	})
}

// requireAdmin serves h to admin keys only, unless the admin listener is
// open or auth is off (then there are no keys, and the listener is
// loopback or deliberately open; see package app).
func (s *Server) requireAdmin(h http.Handler) http.Handler {
	if s.opts.AdminOpen || s.opts.Auth == nil {
		return h
	}
	return s.requireKey(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k, _ := keys.FromContext(r.Context()); k == nil || !k.Admin() {
			w.Header().Set(HeaderRequestID, newRequestID())
			openaiDenied(w, r, adminOnly(r))
			return
		}
		h.ServeHTTP(w, r)
	}), openaiDenied)
}

func adminOnly(r *http.Request) error {
	return &llm.Error{Kind: llm.KindForbidden, Code: "admin_key_required", Message: fmt.Sprintf(
		"%s %s shows every tenant's data and needs an admin key (penny keys create --role admin); "+
			"a tenant key reads its own usage at GET /v1/penny/usage", r.Method, r.URL.Path)}
}

// notHere answers the API's /metrics and /admin/ paths: they moved to the
// admin listener, so that no tenant's key can read every tenant's spend.
func (s *Server) notHere(w http.ResponseWriter, r *http.Request) {
	where := "on the admin listener (admin_listen " + s.opts.AdminAddr + ")"
	if s.opts.AdminAddr == "" {
		where = "on the admin listener, which is off (set admin_listen)"
	}
	w.Header().Set(HeaderRequestID, newRequestID())
	openaiDenied(w, r, &llm.Error{Kind: llm.KindNotFound, Code: "admin_endpoint", Message: fmt.Sprintf(
		"%s %s is served %s, not on the API; a tenant's own usage is at GET /v1/penny/usage", r.Method, r.URL.Path, where)})
}

// handleTenantUsage serves GET /v1/penny/usage: a tenant key sees its own
// tenant only, whatever it asks; an admin key (or anyone, with auth off)
// may name a tenant= or see them all.
func (s *Server) handleTenantUsage(w http.ResponseWriter, r *http.Request) {
	if err := onceEach(r.URL.Query()); err != nil {
		w.Header().Set(HeaderRequestID, newRequestID())
		openaiDenied(w, r, err)
		return
	}
	asked := r.URL.Query().Get("tenant")
	if k, ok := keys.FromContext(r.Context()); ok && !k.Admin() {
		if k.Tenant == "" || asked != "" && asked != k.Tenant {
			w.Header().Set(HeaderRequestID, newRequestID())
			openaiDenied(w, r, &llm.Error{Kind: llm.KindForbidden, Code: "tenant_forbidden",
				Message: fmt.Sprintf("a tenant key reads only its own tenant's usage (%q); tenant=%q needs an admin key", k.Tenant, asked)})
			return
		}
		asked = k.Tenant
	}
	s.answerUsage(w, r, asked)
}

// onceEach refuses a usage query that gives a parameter twice: which one
// counts would otherwise be a guess (tenant= above all).
func onceEach(qv url.Values) error {
	for name, vs := range qv {
		if len(vs) > 1 {
			return llm.Errorf(llm.KindValidation, "the query gives %s %d times; give it once", name, len(vs))
		}
	}
	return nil
}

// usageAnswer is a Report with the tenant and period it covers.
type usageAnswer struct {
	// Tenant is the tenant the report covers; "" is every tenant.
	Tenant string `json:"tenant"`
	Since  string `json:"since,omitempty"`
	Until  string `json:"until,omitempty"`
	ledger.Report
}

// answerUsage answers a usage query for tenant ("" for every tenant) from
// the ledger. The query takes by, since and until as `penny report` does
// (defaults: by model, since 24h).
func (s *Server) answerUsage(w http.ResponseWriter, r *http.Request, tenant string) {
	w.Header().Set(HeaderRequestID, newRequestID())
	qv := r.URL.Query()
	if err := onceEach(qv); err != nil {
		openaiDenied(w, r, err)
		return
	}
	by, since := ledger.ByModel, "24h"
	if qv.Has("by") {
		by = qv.Get("by")
	}
	if qv.Has("since") {
		since = qv.Get("since")
	}
	now := s.opts.Now()
	q, err := ledger.ParseQuery(by, since, qv.Get("until"), now, "")
	if err != nil {
		openaiDenied(w, r, err)
		return
	}
	q.Tenant = tenant
	rows, total, err := ledger.SummarizeWithTotal(r.Context(), s.opts.Usage, q)
	if err != nil {
		s.log.Warn("usage: reading the ledger failed", "err", err)
		openaiDenied(w, r, llm.Errorf(llm.KindInternal, "reading the ledger failed"))
		return
	}
	out := usageAnswer{Tenant: tenant, Report: ledger.NewReport(by, rows, total, 9)}
	if !q.Since.IsZero() {
		out.Since = q.Since.UTC().Format(time.RFC3339)
	}
	if !q.Until.IsZero() {
		out.Until = q.Until.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, out)
}
