// Package advise reads the ledger and says where money can be saved: work
// that could go to batch or Flex, Provisioned Throughput break-even,
// cheaper models that met the quality target, prompt caching and the
// response cache, prompts and max_tokens, and what each rung of the
// customization ladder would cost (Analyze). It also re-prices recorded
// traffic under another configuration (WhatIf).
//
// Every figure is priced by package catalog; a price the catalog does not
// publish makes a saving unknown, never a guess. Monthly figures are the
// window's extrapolated to 30 days, and say so.
package advise

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/modeleval"
)

// Month is the period monthly figures are extrapolated to.
const Month = 30 * 24 * time.Hour

// Source is the ledger the advisor reads.
type Source interface {
	ledger.Profiler
	Summarize(ctx context.Context, q ledger.SummaryQuery) ([]ledger.Summary, error)
}

// Kinds of recommendation.
const (
	KindBatch         = "batch"
	KindFlex          = "flex"
	KindProvisioned   = "provisioned"
	KindRightSize     = "right_size"
	KindPromptCache   = "prompt_cache"
	KindCacheTTL1h    = "prompt_cache_1h"
	KindResponseCache = "response_cache"
	KindMaxTokens     = "max_tokens"
	KindPromptLint    = "prompt_lint"
)

// Options configure Analyze.
type Options struct {
	// Since and Until bound the window (Until zero: Now).
	Since, Until, Now time.Time
	Catalog           *catalog.Catalog
	Customizations    *catalog.Customizations
	// Config, if set, is the running configuration: routes declared
	// latency: tolerant, cache policies.
	Config *config.Config
	// Eval are `penny eval --out` results; Target the score a cheaper
	// model must reach (default 0.9).
	Eval   []modeleval.Result
	Target float64
	// PTHourly are the user's Provisioned Throughput quotes per model unit
	// hour, by catalog model id; PTCapacity the tokens per minute one
	// model unit serves (AWS quotes it per model), which sizes the units.
	PTHourly   map[string]llm.Money
	PTCapacity map[string]int64
	// Ladder configures the customization ladder.
	Ladder LadderOptions
}

// Figure is one number behind a recommendation.
type Figure struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Recommendation is one thing to change, with what it saves a month.
type Recommendation struct {
	Kind   string `json:"kind"`
	Route  string `json:"route"`
	Model  string `json:"model"`
	Tenant string `json:"tenant,omitempty"`
	// Action says what to do.
	Action string `json:"action"`
	// MonthlySaving is the window's saving extrapolated to a month; Known
	// is false when a price it needs is not published (the saving is then
	// unknown, not zero). Estimated is true when it uses a price the
	// catalog marks estimated (e.g. batch at 50 % of on-demand).
	MonthlySaving llm.Money `json:"-"`
	Known         bool      `json:"-"`
	Estimated     bool      `json:"estimated"`
	Evidence      []Figure  `json:"evidence"`
	Confidence    string    `json:"confidence"`
}

// Subject names what a recommendation is about.
func (r Recommendation) Subject() string {
	if r.Kind == KindProvisioned {
		return "model " + r.Model // capacity is bought per model, across routes
	}
	s := "route " + orNone(r.Route) + " · " + r.Model
	if r.Tenant != "" {
		s += " · tenant " + r.Tenant
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return ledger.NoneLabel
	}
	return s
}

// Report is what Analyze found.
type Report struct {
	Since, Until time.Time
	// Span is the traffic the figures come from: from the first record in
	// the window (or Since) to Until; Scale is Month / Span.
	Span     time.Duration
	Scale    float64
	Requests int64
	Cost     llm.Money
	// Recommendations are ranked by monthly saving, known savings first.
	Recommendations []Recommendation
	Ladder          *Ladder
	// Notes say what the analysis could not know.
	Notes []string
}

// monthly extrapolates a window's amount to a month.
func (r *Report) monthly(m llm.Money) llm.Money { return llm.Money(float64(m) * r.Scale) }

// analysis carries the inputs every part of the advisor reads.
type analysis struct {
	ctx    context.Context
	src    Source
	o      Options
	q      ledger.ProfileQuery
	rep    *Report
	groups []ledger.UsageGroup
}

// TolerantWords are the tenant and tag words that mark work that can wait.
var TolerantWords = []string{"eval", "offline", "batch", "scheduled", "cron", "nightly", "backfill", "training"}

// Analyze reads the ledger through src and returns the recommendations.
func Analyze(ctx context.Context, src Source, o Options) (*Report, error) {
	if o.Catalog == nil {
		return nil, fmt.Errorf("advise: a catalog is required")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Until.IsZero() || o.Until.After(o.Now) {
		o.Until = o.Now
	}
	if o.Target == 0 {
		o.Target = 0.9
	}
	a := &analysis{ctx: ctx, src: src, o: o, q: ledger.ProfileQuery{Since: o.Since, Until: o.Until},
		rep: &Report{Since: o.Since, Until: o.Until}}
	long := map[string]int{}
	for _, m := range o.Catalog.Models() {
		if above, ok := m.LongContextAbove(); ok {
			long[m.ID] = above
		}
	}
	var err error
	a.groups, err = src.UsageGroups(ctx, ledger.GroupQuery{ProfileQuery: a.q, TolerantWords: TolerantWords, LongContext: long})
	if err != nil {
		return nil, err
	}
	minutes, err := src.MinuteUsage(ctx, a.q)
	if err != nil {
		return nil, err
	}
	a.span(minutes)
	for _, g := range a.groups {
		a.rep.Requests += g.Requests
		a.rep.Cost += g.Cost
	}
	steps := []func() error{
		a.consumption,
		func() error { return a.provisioned(minutes) },
		a.rightSize,
		a.caching,
		a.prompts,
		a.ladder,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	rank(a.rep.Recommendations)
	return a.rep, nil
}

// span sets the report's span and scale: from the first minute with
// traffic in the window (Since, when traffic began before it) to Until.
func (a *analysis) span(minutes []ledger.MinuteUsage) {
	start := a.o.Since
	if first := earliest(minutes); !first.IsZero() && (start.IsZero() || first.After(start)) {
		start = first
	}
	if start.IsZero() || !start.Before(a.o.Until) {
		start = a.o.Until.Add(-time.Minute)
	}
	a.rep.Span = max(a.o.Until.Sub(start), time.Minute)
	// Extrapolation is a ratio of durations, so a float is fine here.
	a.rep.Scale = float64(Month) / float64(a.rep.Span)
	if a.rep.Span < 24*time.Hour {
		a.note(fmt.Sprintf("the window holds %s of traffic: monthly figures multiply it by %.0f, so they are only as steady as that traffic",
			a.rep.Span.Round(time.Second), a.rep.Scale))
	}
}

func earliest(minutes []ledger.MinuteUsage) time.Time {
	var t time.Time
	for _, m := range minutes {
		if t.IsZero() || m.Minute.Before(t) {
			t = m.Minute
		}
	}
	return t
}

func (a *analysis) note(s string) { a.rep.Notes = append(a.rep.Notes, s) }

func (a *analysis) add(r Recommendation) { a.rep.Recommendations = append(a.rep.Recommendations, r) }

// model returns the catalog model of a ledger model id, or nil.
func (a *analysis) model(id string) *catalog.Model {
	if t, err := a.o.Catalog.Resolve(id); err == nil {
		return t.Model
	}
	return nil
}

// route returns the configured route of that name, or nil.
func (a *analysis) route(name string) *config.Route {
	if a.o.Config == nil {
		return nil
	}
	for i := range a.o.Config.Routes {
		if a.o.Config.Routes[i].Name == name {
			return &a.o.Config.Routes[i]
		}
	}
	return nil
}

// rank orders recommendations by known monthly saving, descending; unknown
// savings follow, then by kind and subject.
func rank(rs []Recommendation) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Known != b.Known {
			return a.Known
		}
		if a.MonthlySaving != b.MonthlySaving {
			return a.MonthlySaving > b.MonthlySaving
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Subject() < b.Subject()
	})
}

// duration formats a TTL the way a config writes it: "5m", "1h", "90s".
func duration(d time.Duration) string {
	switch {
	case d > 0 && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d > 0 && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// usd formats money for the evidence: dollars with 6 decimals.
func usd(m llm.Money) string { return "$" + m.String() }

func pct(part, whole int64) string {
	if whole <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", float64(part)*100/float64(whole))
}
