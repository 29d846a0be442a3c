package ledger

import (
	"fmt"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// Outcome is what a frontend knows of a request once it is over, besides
// the request itself (whose Meta carries attribution, routing, the cache
// verdict, attempts and the account stage's Bill).
type Outcome struct {
	// API is the frontend that served it: "openai", "converse", …
	API string
	// Requested is the model as the client named it, kept even when the
	// body could not be decoded.
	Requested string
	// Received and Finished bound the request; FirstToken is when the
	// first streamed token was sent (zero when none was).
	Received, Finished, FirstToken time.Time
	// HTTPStatus is the status the client received; Err the failure, if any.
	HTTPStatus int
	Err        error
}

// NewRecord builds the ledger record of req from its outcome: the one
// place that turns a request into a Record, so every frontend and the
// in-process callers record alike.
func NewRecord(req *llm.Request, o Outcome) Record {
	m := req.Meta
	b := m.Bill
	rec := Record{
		Time:             o.Received.UTC(),
		RequestID:        m.RequestID,
		Tenant:           m.Tenant,
		KeyID:            m.KeyID,
		Route:            m.Route,
		API:              o.API,
		Stream:           m.Stream,
		ModelRequested:   o.Requested,
		BaselineModel:    m.BaselineModel,
		Provider:         Provider(m),
		Mode:             string(m.Mode),
		Status:           StatusOK,
		HTTPStatus:       o.HTTPStatus,
		InputTokens:      b.Usage.InputTokens,
		OutputTokens:     b.Usage.OutputTokens,
		CacheReadTokens:  b.Usage.CacheReadTokens,
		CacheWriteTokens: b.Usage.CacheWriteTokens,

		CacheWrite1hTokens: b.Usage.CacheWrite1hTokens,
		ServiceTier:        string(b.ServiceTier),
		UpstreamModel:      m.UpstreamModel,
		PriceEstimated:     b.PriceEstimated,
		Latency:            o.Finished.Sub(o.Received),
		Cost:               b.Cost,
		BaselineCost:       b.Baseline,
		Cache:              string(m.Cache),
		Tags:               m.Tags,
		UsageEstimated:     b.Estimated,
		PromptTokensSaved:  m.PromptTokensSaved,
		Attempts:           formatAttempts(m.Attempts),
	}
	if mt := req.Config.MaxTokens; mt != nil && *mt > 0 {
		rec.MaxTokens = *mt
	}
	switch {
	case m.Provider != "" || m.Cache == llm.CacheHit:
		rec.Model = req.Model
	case o.Err != nil:
		// Refused before any model was called (auth, budget, validation):
		// the record names the model asked for, as resolved so far.
		rec.Model = req.Model
		if rec.Model == "" {
			rec.Model = o.Requested
		}
	}
	if rec.Mode == "" {
		rec.Mode = string(llm.ModeOnDemand)
	}
	if !o.FirstToken.IsZero() {
		rec.TTFT = o.FirstToken.Sub(o.Received)
	}
	if o.Err != nil {
		rec.Status = StatusError
		rec.ErrorKind = string(llm.KindOf(o.Err))
		rec.ErrorMessage = o.Err.Error()
	}
	if len(req.Messages) > 0 {
		rec.PromptHash = PromptHash(req)
	}
	rec.Strategy = strategies(&rec, m)
	return rec
}

// Provider names what answered: an upstream, or Penny's response cache.
func Provider(m llm.Meta) string {
	if m.Provider == "" && m.Cache == llm.CacheHit {
		return "cache"
	}
	return m.Provider
}

// formatAttempts renders the failed attempts of a fallback for the ledger.
func formatAttempts(as []llm.Attempt) string {
	if len(as) == 0 {
		return ""
	}
	parts := make([]string, 0, len(as))
	for _, a := range as {
		parts = append(parts, fmt.Sprintf("%s %s %dms", a.Model, a.Kind, a.Latency.Milliseconds()))
	}
	return strings.Join(parts, "; ")
}

// strategies names the cost levers that applied to a record.
func strategies(r *Record, m llm.Meta) string {
	var s []string
	// Routing applied when a model answered (or the cache, for it) other
	// than the baseline; a refused request names a model no one called.
	answered := m.Provider != "" || m.Cache == llm.CacheHit
	if answered && r.Route != "" && r.Model != "" && r.BaselineModel != "" && r.Model != r.BaselineModel {
		s = append(s, "routing")
	}
	if r.Cache == string(llm.CacheHit) {
		s = append(s, "response_cache")
	}
	if m.Coalesced {
		s = append(s, "coalesced")
	}
	if r.CacheReadTokens > 0 {
		s = append(s, "prompt_cache")
	}
	if r.Mode == string(llm.ModeBatch) {
		s = append(s, "batch")
	}
	if r.Mode == string(llm.ModeProvisioned) && r.Status == StatusOK {
		s = append(s, "provisioned")
	}
	if r.ServiceTier == string(llm.TierFlex) && r.Status == StatusOK {
		s = append(s, "flex")
	}
	if r.PromptTokensSaved > 0 {
		s = append(s, "prompt_trimming")
	}
	var fellBack, cascaded bool
	for _, a := range m.Attempts {
		if a.Kind == llm.KindCascadeRejected {
			cascaded = true
		} else {
			fellBack = true
		}
	}
	if fellBack && r.Status == StatusOK {
		s = append(s, "fallback")
	}
	if cascaded {
		s = append(s, "cascade")
	}
	for _, x := range m.Extra {
		if x.Why == llm.ChargeRoutingAgent {
			s = append(s, "routing_agent")
			break
		}
	}
	return strings.Join(s, ",")
}
