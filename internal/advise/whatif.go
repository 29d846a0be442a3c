package advise

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/modeleval"
	"github.com/penny-gateway/penny/internal/route"
)

// RecordSource lists ledger records; ledger.Store is one.
type RecordSource interface {
	Records(ctx context.Context, q ledger.RecordQuery) ([]ledger.Record, error)
}

// WhatIfOptions configure WhatIf.
type WhatIfOptions struct {
	Since, Until time.Time
	// Config is the candidate configuration, loaded and validated;
	// Catalog prices it (the config's catalog, or another).
	Config  *config.Config
	Catalog *catalog.Catalog
	// Batch names routes whose traffic is re-priced as batch jobs.
	Batch []string
	// Eval results, if given, say how the models a request moves between
	// scored on the same items.
	Eval []modeleval.Result
}

// RouteWhatIf is one route's recorded and counterfactual cost.
type RouteWhatIf struct {
	Route    string
	Requests int64
	// Recorded is what the requests cost; Counterfactual what they would
	// have cost under the candidate; Exact is false when a price it needs
	// is unpublished (the figure then uses the catalog's stand-in).
	Recorded, Counterfactual llm.Money
	Exact                    bool
	// Moves counts requests by "from → to" model.
	Moves map[string]int64
	// Hits are counterfactual response-cache hits; RecordedHits the
	// recorded ones.
	Hits, RecordedHits int64
	// How says how the route's requests were mapped to models.
	How []string
}

// Difference is Counterfactual - Recorded: negative saves.
func (r RouteWhatIf) Difference() llm.Money { return r.Counterfactual - r.Recorded }

// WhatIfReport is the re-pricing of a window.
type WhatIfReport struct {
	Since, Until time.Time
	Routes       []RouteWhatIf
	Total        RouteWhatIf
	// Quality compares, from eval results, the models requests moved
	// between; empty without eval data.
	Quality []Figure
	// Notes say what the re-pricing cannot know.
	Notes []string
}

// WhatIf re-prices the recorded traffic of the window under another
// configuration: its routes and tiers, models, service tiers, batch, the
// response cache and prompt caching, and its catalog. Requests are
// replayed in time order, so response-cache hits are re-derived from
// prompt hashes and the candidate's TTLs.
func WhatIf(ctx context.Context, src RecordSource, o WhatIfOptions) (*WhatIfReport, error) {
	if o.Config == nil || o.Catalog == nil {
		return nil, fmt.Errorf("whatif: a configuration and a catalog are required")
	}
	table, err := route.NewTable(o.Config.RouteConfigs(), o.Catalog.CanonicalID)
	if err != nil {
		return nil, fmt.Errorf("whatif: routes: %w", err)
	}
	recs, err := src.Records(ctx, ledger.RecordQuery{Since: o.Since, Until: o.Until})
	if err != nil {
		return nil, err
	}
	slices.Reverse(recs) // oldest first
	w := &whatIf{o: o, table: table, used: map[string][]string{}, routes: map[string]*RouteWhatIf{},
		stored: map[string]time.Time{}, rep: &WhatIfReport{Since: o.Since, Until: o.Until}}
	w.split(recs)
	for i := range recs {
		w.replay(&recs[i])
	}
	w.finish()
	return w.rep, nil
}

type whatIf struct {
	o      WhatIfOptions
	table  *route.Table
	rep    *WhatIfReport
	routes map[string]*RouteWhatIf
	// used lists the models each route answered with, cheapest first.
	used map[string][]string
	// stored is when each counterfactual response-cache entry was stored.
	stored map[string]time.Time
	// answered holds the tenant and prompt hashes the cache answered at
	// least once; tempUnknown counts the repeats within the TTL of other
	// prompts, and what they cost; unpriced the requests on unknown models.
	answered        map[string]bool
	tempUnknown     int64
	tempUnknownCost llm.Money
	unpriced        int64
}

// split lists the models each route used, by price, to carry the recorded
// split of requests between tiers over to the candidate's tiers.
func (w *whatIf) split(recs []ledger.Record) {
	w.answered = map[string]bool{}
	for _, r := range recs {
		if r.Cache == string(llm.CacheHit) {
			w.answered[r.Tenant+"\x00"+r.PromptHash] = true
		}
		if r.Route != "" && r.Model != "" && !slices.Contains(w.used[r.Route], r.Model) {
			w.used[r.Route] = append(w.used[r.Route], r.Model)
		}
	}
	for name, models := range w.used {
		sort.SliceStable(models, func(i, j int) bool {
			return unitCost(w.o.Catalog, models[i]) < unitCost(w.o.Catalog, models[j])
		})
		w.used[name] = models
	}
}

// unitCost orders models by the price of 1,000 input and 1,000 output
// tokens on demand; unknown models sort last.
func unitCost(cat *catalog.Catalog, id string) llm.Money {
	return modeleval.UnitPrice(cat, id)
}

func (w *whatIf) routeOf(name string) *RouteWhatIf {
	r := w.routes[name]
	if r == nil {
		r = &RouteWhatIf{Route: name, Exact: true, Moves: map[string]int64{}}
		w.routes[name] = r
	}
	return r
}

// textFree reports whether a route's tier choice depends only on what the
// ledger records (tenant and tags), so it can be replayed exactly.
func textFree(rt *route.Route) bool {
	switch rt.Strategy {
	case "fixed":
		return true
	case "", "rules":
	default:
		return false
	}
	for _, r := range rt.Rules {
		m := r.When
		if m.MinChars != 0 || m.MaxChars != 0 || len(m.Keywords) > 0 || m.Regex != "" || m.HasTools != nil ||
			m.HasImages != nil || len(m.Headers) > 0 {
			return false
		}
	}
	return true
}

// pick returns the model a record would have gone to, and how that was
// decided.
func (w *whatIf) pick(r *ledger.Record) (string, string) {
	rt, ok := w.table.Get(r.Route)
	if r.Route == "" || !ok {
		return r.Model, "not a route of the candidate: the recorded model"
	}
	if len(rt.Tiers) == 1 || textFree(rt) {
		req := &llm.Request{Meta: llm.Meta{Tenant: r.Tenant, Tags: r.Tags}}
		return rt.Pick(req, route.Input{}).Model, "replayed: the candidate's rules read only tenant and tags"
	}
	for _, t := range rt.Tiers {
		if t.Model == r.Model {
			return r.Model, "recorded tier split kept (the " + strategyName(rt) + " strategy needs the prompt text, which the ledger does not keep)"
		}
	}
	// Carry the recorded split over by price rank: the cheapest model the
	// route used maps to the cheapest candidate tier, the dearest to the
	// dearest.
	tiers := make([]string, 0, len(rt.Tiers))
	for _, t := range rt.Tiers {
		tiers = append(tiers, t.Model)
	}
	sort.SliceStable(tiers, func(i, j int) bool { return unitCost(w.o.Catalog, tiers[i]) < unitCost(w.o.Catalog, tiers[j]) })
	used := w.used[r.Route]
	rank := slices.Index(used, r.Model)
	var i int
	if len(used) > 1 {
		i = rank * (len(tiers) - 1) / (len(used) - 1)
	} else {
		i = slices.Index(tiers, rt.Pick(&llm.Request{Meta: llm.Meta{Tenant: r.Tenant, Tags: r.Tags}}, route.Input{}).Model)
	}
	return tiers[max(i, 0)], "recorded tier split kept by price rank (the " + strategyName(rt) + " strategy needs the prompt text, which the ledger does not keep)"
}

func strategyName(rt *route.Route) string {
	if rt.Strategy == "" {
		return "rules"
	}
	return rt.Strategy
}

// candidateRoute returns the candidate config's route of that name, or nil.
func (w *whatIf) candidateRoute(name string) *config.Route {
	for i := range w.o.Config.Routes {
		if w.o.Config.Routes[i].Name == name {
			return &w.o.Config.Routes[i]
		}
	}
	return nil
}

// policy is the candidate's response-cache policy for a route.
func (w *whatIf) policy(name string) cache.Policy {
	p := w.o.Config.Cache.Policy
	if cr := w.candidateRoute(name); cr != nil && cr.Cache != nil {
		p = *cr.Cache
	}
	if p.TTL <= 0 {
		p.TTL = cache.DefaultTTL
	}
	return p
}

// promptCache is the candidate's prompt-cache setting for a route.
func (w *whatIf) promptCache(name string) config.PromptCache {
	pc := w.o.Config.PromptCache
	if cr := w.candidateRoute(name); cr != nil && cr.PromptCache != nil {
		pc = *cr.PromptCache
	}
	return pc
}

// terms are the candidate's consumption terms for a record on model m.
func (w *whatIf) terms(r *ledger.Record, m *catalog.Model, sameModel bool) catalog.Terms {
	t := catalog.Terms{Mode: llm.Mode(r.Mode)}
	if t.Mode == "" || t.Mode == llm.ModeProvisioned && !sameModel {
		t.Mode = llm.ModeOnDemand
	}
	if slices.Contains(w.o.Batch, r.Route) && m.Capabilities.Batch {
		t.Mode = llm.ModeBatch
	}
	if sameModel {
		t.Global = catalog.IsGlobalProfile(r.UpstreamModel)
	}
	tier := llm.ServiceTier(r.ServiceTier)
	if cr := w.candidateRoute(r.Route); cr != nil {
		tier = llm.ServiceTier(cr.ServiceTier)
		if cr.Latency == "tolerant" && m.Capabilities.OffersTier(llm.TierFlex) {
			tier = llm.TierFlex
		}
	}
	if m.Capabilities.OffersTier(tier) && tier != llm.TierDefault && t.Mode == llm.ModeOnDemand {
		t.Tier = tier
	}
	return t
}

// usage is a record's tokens under the candidate's prompt caching on m.
func (w *whatIf) usage(r *ledger.Record, m *catalog.Model) llm.Usage {
	u := r.Usage()
	pc := w.promptCache(r.Route)
	if !pc.Enabled || m.Capabilities.PromptCache == nil {
		return llm.Usage{InputTokens: u.TotalInput(), OutputTokens: u.OutputTokens}
	}
	if pc.TTL == "1h" && slices.Contains(m.Capabilities.PromptCache.TTLs, "1h") {
		u.CacheWrite1hTokens = u.CacheWriteTokens
	} else {
		u.CacheWrite1hTokens = 0
	}
	return u
}

// replay prices one record under the candidate.
func (w *whatIf) replay(r *ledger.Record) {
	rw := w.routeOf(r.Route)
	rw.Requests++
	rw.Recorded += r.Cost
	if r.Status != ledger.StatusOK || r.Model == "" {
		rw.Counterfactual += r.Cost // failures are billed as they were
		return
	}
	if r.Cache == string(llm.CacheHit) {
		rw.RecordedHits++
	}
	id, how := w.pick(r)
	if !slices.Contains(rw.How, how) {
		rw.How = append(rw.How, how)
	}
	t, err := w.o.Catalog.Resolve(id)
	if err != nil || t.Model == nil {
		w.unpriced++
		rw.Exact = false
		rw.Counterfactual += r.Cost
		return
	}
	m := t.Model
	extra := w.extra(r)
	rw.Counterfactual += extra
	if m.ID != r.Model {
		rw.Moves[r.Model+" → "+m.ID]++
	}
	// The response cache, replayed: a repeat of a stored prompt within
	// the TTL is a hit, if the recorded request was cacheable at all.
	p := w.policy(r.Route)
	key := m.ID + "\x00" + r.PromptHash
	if !p.SharedAcrossTenants {
		key = r.Tenant + "\x00" + key
	}
	// The ledger records no temperature: a prompt is known to be
	// cacheable when the cache answered it at least once.
	cacheable := w.answered[r.Tenant+"\x00"+r.PromptHash] || p.AllowNonZeroTemperature
	if p.Enabled && r.PromptHash != "" && r.Cache != string(llm.CacheBypass) {
		if at, ok := w.stored[key]; ok && cacheable && r.Time.Sub(at) < p.TTL {
			rw.Hits++
			return
		}
	}
	c, exact := m.Cost(w.usage(r, m), w.terms(r, m, m.ID == r.Model))
	if p.Enabled && !cacheable && r.PromptHash != "" {
		if at, ok := w.stored[key]; ok && r.Time.Sub(at) < p.TTL {
			w.tempUnknown++
			w.tempUnknownCost += c
		}
	}
	rw.Counterfactual += c
	rw.Exact = rw.Exact && exact
	if p.Enabled && r.PromptHash != "" {
		w.stored[key] = r.Time
	}
}

// extra is what a record paid for calls made on its behalf (a routing
// agent's classification, a cascade's rejected attempt): its cost less its
// own answer's, re-priced on the recorded model and terms. Those calls are
// kept at their recorded cost.
func (w *whatIf) extra(r *ledger.Record) llm.Money {
	if !strings.Contains(r.Strategy, "routing_agent") && !strings.Contains(r.Strategy, "cascade") {
		return 0
	}
	t, err := w.o.Catalog.Resolve(r.Model)
	if err != nil || t.Model == nil || r.Cache == string(llm.CacheHit) {
		return 0
	}
	own, _ := t.Model.Cost(r.Usage(), catalog.Terms{Mode: llm.Mode(r.Mode), Tier: llm.ServiceTier(r.ServiceTier),
		Global: catalog.IsGlobalProfile(r.UpstreamModel)})
	return max(r.Cost-own, 0)
}

// finish orders the routes, totals them and writes the notes.
func (w *whatIf) finish() {
	rep := w.rep
	tot := RouteWhatIf{Route: "TOTAL", Exact: true, Moves: map[string]int64{}}
	for _, r := range w.routes {
		rep.Routes = append(rep.Routes, *r)
		tot.Requests += r.Requests
		tot.Recorded += r.Recorded
		tot.Counterfactual += r.Counterfactual
		tot.Exact = tot.Exact && r.Exact
		tot.Hits += r.Hits
		tot.RecordedHits += r.RecordedHits
		for k, n := range r.Moves {
			tot.Moves[k] += n
		}
	}
	sort.Slice(rep.Routes, func(i, j int) bool {
		if rep.Routes[i].Recorded != rep.Routes[j].Recorded {
			return rep.Routes[i].Recorded > rep.Routes[j].Recorded
		}
		return rep.Routes[i].Route < rep.Routes[j].Route
	})
	rep.Total = tot
	n := func(s string) { rep.Notes = append(rep.Notes, s) }
	n("token counts are the recorded ones on every model: another vendor's tokenizer would count the same text differently")
	n("response-cache hits are re-derived from prompt hashes (model, system prompt and last message) and the candidate's TTLs; a hash does not cover the turns between; the ledger records no temperature, so only prompts the cache answered at least once (or any, with allow_nonzero_temperature) count as cacheable")
	if w.tempUnknown > 0 {
		n(fmt.Sprintf("%d repeats within the TTL (%s) are of prompts never answered from the cache: they are hits too if their temperature was 0", w.tempUnknown, usd(w.tempUnknownCost)))
	}
	n("prompt caching turned off moves cache reads and writes to input tokens; turned on where it was off, it is not derived (the ledger has no prefix lengths: see penny advise's prompt_cache lines)")
	n("calls made on a request's behalf (a routing agent's classification, a cascade's rejected attempt) are kept at their recorded cost, whatever the candidate's strategy")
	if len(tot.Moves) > 0 {
		if len(w.o.Eval) == 0 {
			n("the quality of a model that never answered these prompts is unknown: give penny eval results with --eval to compare")
		} else {
			w.quality(tot.Moves)
		}
	}
	if w.unpriced > 0 {
		n(fmt.Sprintf("%d requests name a model the candidate catalog does not know: kept at their recorded cost", w.unpriced))
	}
}

// quality compares the eval scores of the models requests moved between.
func (w *whatIf) quality(moves map[string]int64) {
	score := map[string]modeleval.Summary{}
	for _, s := range evalSummaries(w.o.Eval, w.o.Catalog) {
		score[s.Model] = s
	}
	keys := make([]string, 0, len(moves))
	for k := range moves {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		from, to, _ := strings.Cut(k, " → ")
		a, okA := score[from]
		b, okB := score[to]
		v := "not in the eval results"
		if okA && okB {
			v = fmt.Sprintf("%.3f → %.3f on %d eval items", a.Score, b.Score, min(a.N, b.N))
		}
		w.rep.Quality = append(w.rep.Quality, Figure{fmt.Sprintf("%s (%d requests)", k, moves[k]), v})
	}
}
