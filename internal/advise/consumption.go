package advise

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// subject keys recommendations by route, model and tenant.
type subject struct{ route, model, tenant string }

// tolerance adds up one subject's traffic and the part of it that can wait.
type tolerance struct {
	requests, tolerant int64
	cost, tolerantCost llm.Money
	// batch and flex are what the tolerant part would have cost there.
	batch, flex           llm.Money
	batchExact, flexExact bool
	reasons               map[string]int64
	offersFlex, canBatch  bool
}

// reasonsOf says why a group's traffic can wait: the route declares it,
// its tenant or tags name offline work, its client waited minutes, or it
// came through the batch API. It returns nil when nothing says so.
func (a *analysis) reasonsOf(g ledger.UsageGroup) []string {
	var rs []string
	if r := a.route(g.Route); r != nil && r.Latency == "tolerant" {
		rs = append(rs, "route declares latency: tolerant")
	}
	if g.Tolerant {
		rs = append(rs, "tenant or tags name offline work ("+strings.Join(TolerantWords, ", ")+")")
	}
	if g.Slow {
		rs = append(rs, "the client waited a minute or more")
	}
	if g.API == "batch" {
		rs = append(rs, "sent through the batch API")
	}
	return rs
}

// consumption finds traffic that could run as batch jobs or on Flex.
func (a *analysis) consumption() error {
	subs := map[subject]*tolerance{}
	var order []subject
	for _, g := range a.groups {
		m := a.model(g.Model)
		if m == nil || g.Mode != string(llm.ModeOnDemand) {
			continue
		}
		k := subject{g.Route, g.Model, g.Tenant}
		t := subs[k]
		if t == nil {
			t = &tolerance{reasons: map[string]int64{}, batchExact: true, flexExact: true,
				offersFlex: m.Capabilities.OffersTier(llm.TierFlex), canBatch: m.Capabilities.Batch}
			subs[k] = t
			order = append(order, k)
		}
		t.requests += g.Requests
		t.cost += g.Cost
		rs := a.reasonsOf(g)
		if len(rs) == 0 {
			continue
		}
		t.tolerant += g.Requests
		t.tolerantCost += g.Cost
		for _, r := range rs {
			t.reasons[r] += g.Requests
		}
		u := g.Usage()
		b, exact := m.CostSum(u, catalog.Terms{Mode: llm.ModeBatch, LongContext: g.Long})
		t.batch += b
		t.batchExact = t.batchExact && exact
		if g.ServiceTier == string(llm.TierFlex) {
			t.flex += g.Cost // already on Flex
			continue
		}
		f, exact := m.CostSum(u, catalog.Terms{Tier: llm.TierFlex, LongContext: g.Long})
		t.flex += f
		t.flexExact = t.flexExact && exact
	}
	for _, k := range order {
		t := subs[k]
		if t.tolerant == 0 {
			continue
		}
		evidence := []Figure{
			{"tolerant share", fmt.Sprintf("%d of %d requests (%s)", t.tolerant, t.requests, pct(t.tolerant, t.requests))},
			{"tolerant cost in window", usd(t.tolerantCost)},
		}
		for _, r := range sortedReasons(t.reasons) {
			evidence = append(evidence, Figure{"why", fmt.Sprintf("%s: %d requests", r, t.reasons[r])})
		}
		conf := "tolerance is inferred from tenant, tags and latency; confirm the work can wait up to 24 h before moving it"
		if t.canBatch {
			saved := t.tolerantCost - t.batch
			ev := append(append([]Figure(nil), evidence...), Figure{"at batch prices", usd(t.batch)})
			est := !t.batchExact
			c := conf
			if est {
				c += "; the batch price is an estimate (AWS lists none for this model: 50 % of on-demand, its general batch discount)"
			}
			a.add(Recommendation{Kind: KindBatch, Route: k.route, Model: k.model, Tenant: k.tenant,
				Action:        "send this work as Bedrock batch jobs (penny batch, or a route with mode batch)",
				MonthlySaving: a.rep.monthly(saved), Known: true, Estimated: est, Evidence: ev, Confidence: c})
		}
		if t.offersFlex {
			r := Recommendation{Kind: KindFlex, Route: k.route, Model: k.model, Tenant: k.tenant,
				Action:   "set latency: tolerant on the route, so it is served on Flex where the model offers it",
				Evidence: append([]Figure(nil), evidence...), Confidence: conf}
			if t.flexExact {
				r.MonthlySaving, r.Known = a.rep.monthly(t.tolerantCost-t.flex), true
				r.Evidence = append(r.Evidence, Figure{"at Flex prices", usd(t.flex)})
			} else {
				r.Evidence = append(r.Evidence, Figure{"at Flex prices", "unknown: AWS does not publish " + k.model + "'s Flex price"})
				r.Confidence += "; the saving is unknown until the Flex price is known (set it under prices.tiers.flex in a catalog file)"
			}
			a.add(r)
		}
	}
	return nil
}

func sortedReasons(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// profile is one model's on-demand traffic, minute by minute.
type profile struct {
	minutes      map[int64]int64 // tokens per minute with traffic, by unix minute
	hourly       map[int64]llm.Money
	tokens, reqs int64
	cost         llm.Money
}

// provisioned weighs Provisioned Throughput against on demand per model,
// from the tokens-per-minute profile of the window.
func (a *analysis) provisioned(minutes []ledger.MinuteUsage) error {
	profiles := map[string]*profile{}
	var models []string
	for _, m := range minutes {
		p := profiles[m.Model]
		if p == nil {
			p = &profile{minutes: map[int64]int64{}, hourly: map[int64]llm.Money{}}
			profiles[m.Model] = p
			models = append(models, m.Model)
		}
		// Routes share a model's capacity: their minutes add up.
		n := m.PromptTokens + m.OutputTokens
		p.minutes[m.Minute.Unix()/60] += n
		p.hourly[m.Minute.Unix()/3600] += m.Cost
		p.tokens += n
		p.reqs += m.Requests
		p.cost += m.Cost
	}
	sort.Strings(models)
	windowMinutes := int64(math.Ceil(a.rep.Span.Minutes()))
	hours := max(int64(math.Ceil(a.rep.Span.Hours())), 1)
	for _, id := range models {
		p := profiles[id]
		if p.cost <= 0 {
			continue
		}
		busy := make([]int64, 0, len(p.minutes))
		for _, n := range p.minutes {
			busy = append(busy, n)
		}
		p50, p95 := percentile(busy, windowMinutes, 50), percentile(busy, windowMinutes, 95)
		month := a.rep.monthly(p.cost)
		// On demand costs this much per hour on average: a model unit
		// priced below it breaks even, if one unit carries the load.
		breakEven := month / catalog.HoursPerMonth
		ev := []Figure{
			{"tokens per minute", fmt.Sprintf("p50 %d, p95 %d (over %d minutes, idle ones included)", p50, p95, windowMinutes)},
			{"on-demand cost", fmt.Sprintf("%s in window, %s a month", usd(p.cost), usd(month))},
			{"break-even", usd(breakEven) + " per model-unit hour (on-demand spend per hour of a 730-hour month)"},
		}
		conf := "assumes one model unit carries p95 of the tokens per minute; AWS gives a unit's tokens per minute per model on request, so check it against your quota"
		r := Recommendation{Kind: KindProvisioned, Model: id, Evidence: ev}
		hourly, ok := a.o.PTHourly[id]
		if !ok {
			r.Action = "Provisioned Throughput pays if a model unit costs less than " + usd(breakEven) + " an hour: give your quote with --pt-hourly " + id + "=USD"
			r.Confidence = conf + "; AWS does not publish base-model Provisioned Throughput prices per model outside the console, so the saving is unknown"
			a.add(r)
			continue
		}
		units := int64(1)
		if capacity := a.o.PTCapacity[id]; capacity > 0 {
			units = max(1, (p95+capacity-1)/capacity)
			conf = fmt.Sprintf("%d model units carry p95 at %d tokens per minute each (your capacity figure)", units, capacity)
		}
		above := int64(0)
		for _, c := range p.hourly {
			if c >= hourly*llm.Money(units) {
				above++
			}
		}
		pt := catalog.ProvisionedCost(units, catalog.HoursPerMonth, hourly)
		r.Evidence = append(r.Evidence,
			Figure{"your quote", fmt.Sprintf("%s per model-unit hour: %s a month for %s, used or not", usd(hourly), usd(pt), unitsText(units))},
			Figure{"hours above break-even", fmt.Sprintf("%d of %d hours cost more on demand than the units", above, hours)})
		r.Known, r.Confidence = true, conf
		if month > pt {
			r.MonthlySaving = month - pt
			r.Action = fmt.Sprintf("buy %s of Provisioned Throughput (at your quoted term) for %s", unitsText(units), id)
		} else {
			r.Action = fmt.Sprintf("stay on demand for %s: %s would cost %s a month more than the traffic", id, unitsText(units), usd(pt-month))
		}
		a.add(r)
	}
	return nil
}

func unitsText(n int64) string {
	if n == 1 {
		return "1 model unit"
	}
	return fmt.Sprintf("%d model units", n)
}

// percentile is the nearest-rank percentile of per-minute tokens over
// window minutes, the minutes without traffic counting as zero.
func percentile(busy []int64, window int64, p int) int64 {
	n := max(window, int64(len(busy)))
	if n == 0 {
		return 0
	}
	s := append([]int64(nil), busy...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int64(math.Ceil(float64(p)/100*float64(n))) - 1
	zeros := n - int64(len(s))
	if rank < zeros {
		return 0
	}
	return s[rank-zeros]
}
