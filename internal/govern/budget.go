package govern

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// BudgetOptions configure Budget.
type BudgetOptions struct {
	// Catalog prices requests. Required.
	Catalog *catalog.Catalog
	// Counter estimates input tokens. Nil means the process's shared
	// Counter (tokens.New).
	Counter *tokens.Counter
	// Spent returns what keyID has spent since the start of the month
	// (inclusive), from the ledger. It is called once per key per month,
	// on the key's first request; afterwards the stage keeps the sum
	// itself. An error fails that request (kind KindUnavailable) and the
	// next request asks again. Nil means every key starts the month at 0.
	Spent func(ctx context.Context, keyID string, since time.Time) (llm.Money, error)
	// Alert, if set, is called once per key, month and threshold when the
	// key's settled spend reaches the threshold. It is called synchronously
	// on the request's goroutine, outside any lock; it must not block long.
	Alert func(Alert)
	// Thresholds are the alert levels in percent of the budget (default 50,
	// 80, 100). Thresholds already reached when the month's spend is read
	// from the ledger do not alert again (they did before the restart).
	Thresholds []int
	// MaxOutputTokens caps the output estimate of a request: never more
	// than the model's MaxOutputTokens, max_tokens or this (default 4096).
	MaxOutputTokens int
	// OutputQuantile is the share of recent answers (of this key, else
	// route, else model) whose output tokens a request without max_tokens
	// reserves for (default 0.95); ColdOutputTokens is reserved while
	// fewer than OutputSamples answers are known (defaults 1024 and 20).
	OutputQuantile   float64
	ColdOutputTokens int
	OutputSamples    int
	// Now is the clock (default time.Now).
	Now func() time.Time

	// Rules are the configured budgets, enforced besides each key's own.
	// Budget panics if they do not pass ValidateRules; NewBudget returns
	// the error.
	Rules []BudgetRule
	// SpentBy returns what a rule's subject has spent since the start of
	// its period (inclusive), from the ledger: scope is the rule's scope
	// and value what it matched (a tenant name, a key id, "KEY=VALUE" for
	// a tag, a route name); SpentQuery says which ledger summary that is.
	// Like Spent it is called once per subject and period, and an error
	// fails the request. When Spent is nil it also serves the keys' own
	// budgets, with scope key. Nil means every subject starts at 0.
	SpentBy func(ctx context.Context, scope Scope, value string, since time.Time) (llm.Money, error)
	// MaxSubjects bounds the budget counters kept in memory (default
	// 100,000); past it, counters of past periods are dropped, then
	// current ones with nothing in flight (their spend is read from the
	// ledger again on their next request), so that a rule matching "*"
	// over values clients choose (tenants with auth off, tags) cannot grow
	// memory without bound. Only counters with requests in flight are
	// kept past it.
	MaxSubjects int
	// Evicted, if set, is told how many current-period counters were
	// dropped to stay within MaxSubjects (penny_tracked_overflow_total).
	Evicted func(n int)
	// Logger logs downgrades at info (default: nowhere).
	Logger *slog.Logger
}

// Alert says that a budget's settled spend this period reached Threshold
// percent of its limit. For a key's own monthly budget Rule is empty; for
// a rule, Rule, Scope and Value say which budget, and KeyID and Tenant are
// those of the request whose cost crossed the threshold.
type Alert struct {
	KeyID     string
	Tenant    string
	Threshold int
	Spent     llm.Money
	Budget    llm.Money
	At        time.Time

	Rule        string
	Scope       Scope
	Value       string
	Period      Period
	PeriodStart time.Time
}

// DefaultThresholds are the soft thresholds, in percent, that alert.
var DefaultThresholds = []int{50, 80, 100}

// Budget returns a stage that enforces each key's Limits.BudgetMonth over the
// UTC calendar month. Before a call it estimates the request's cost (input
// tokens from the Counter and max_tokens, or the model's MaxOutputTokens
// capped by MaxOutputTokens, at req.Model's on-demand or batch prices) and
// reserves it against the key's spend; if spend, reservations and the
// estimate together exceed the budget the request fails with an *llm.Error
// of kind KindBudget whose RetryAfter is the start of next month. After the
// call the reservation is replaced by the actual cost, priced from the usage
// (a stream settles when its metadata event passes, or at its end with the
// estimate when no usage came); a failed call releases it.
//
// Because every admitted request has reserved its estimate, concurrent
// requests overshoot the budget only by what their actual costs exceed their
// estimates, which max_tokens bounds for output. It is safe for concurrent
// use. Put it after routing, where req.Model names the model, and after the
// response cache, whose hits cost nothing.
func Budget(o BudgetOptions) llm.Stage {
	st, err := NewBudget(o)
	if err != nil {
		panic("govern: " + err.Error())
	}
	return st
}

// NewBudget is Budget, returning an error for invalid Rules instead of
// panicking.
//
// Each request is also checked against every rule that matches it (see
// BudgetRule), each value of a rule with its own counter per UTC day or
// month, reserved and settled like the key's budget. Downgrade rules are
// applied first: if the request's estimate does not fit one, req.Model is
// rewritten to that rule's DowngradeTo (logged at info; the ledger then shows
// a model other than the route's) and the request is re-estimated; if that
// model is not cheaper, or the request's model is unknown, the request is
// refused. Blocking rules and the key's budget then refuse with KindBudget,
// naming the rule and when its period resets.
func NewBudget(o BudgetOptions) (llm.Stage, error) {
	if o.Catalog == nil {
		return nil, errors.New("budget needs a catalog")
	}
	rules, err := compileRules(o.Rules, o.Catalog)
	if err != nil {
		return nil, err
	}
	if o.Counter == nil {
		c, err := tokens.New()
		if err != nil {
			panic("govern: " + err.Error()) // the vocabulary is embedded: a broken build
		}
		o.Counter = c
	}
	if o.Thresholds == nil {
		o.Thresholds = DefaultThresholds
	}
	if o.MaxOutputTokens <= 0 {
		o.MaxOutputTokens = 4096
	}
	if o.OutputQuantile <= 0 || o.OutputQuantile > 1 {
		o.OutputQuantile = 0.95
	}
	if o.ColdOutputTokens <= 0 {
		o.ColdOutputTokens = 1024
	}
	if o.OutputSamples <= 0 {
		o.OutputSamples = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSubjects <= 0 {
		o.MaxSubjects = 100_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b := &budget{o: o, rules: rules, subjects: make(map[subjectID]*spendEntry), stats: newOutputStats(o.MaxSubjects)}
	return func(next llm.Invoker) llm.Invoker { return &budgetInvoker{b: b, next: next} }, nil
}

type budget struct {
	o     BudgetOptions
	rules []*rule
	mu    sync.Mutex
	// subjects holds one entry per budget and value that had a request:
	// keys with a monthly budget (created by operators) and the values the
	// rules matched. A rule with "*" over a tag lets clients create values,
	// so entries of past periods with nothing in flight are dropped when
	// the map reaches MaxSubjects.
	subjects map[subjectID]*spendEntry
	// stats are recent output tokens and durations, for estimates.
	stats *outputStats
}

// subjectID names one budget's counter: rule -1 is the key's own monthly
// budget, value its key id; otherwise value is what the rule matched.
type subjectID struct {
	rule  int
	value string
}

// subject is one budget that applies to a request.
type subject struct {
	id     subjectID
	rule   *rule // nil for the key's own monthly budget
	key    *keys.Key
	limit  llm.Money
	period Period
	thresh []int
	e      *spendEntry
}

func (s *subject) name() string {
	if s.rule == nil {
		return "key " + s.id.value
	}
	return s.rule.Name
}

// spendEntry is one subject's period. Its mutex is held while the period's
// spend is read from the ledger, so that concurrent first requests wait for
// one read instead of each making one.
type spendEntry struct {
	mu       sync.Mutex
	start    time.Time // start of the period spent and reserved are for; zero until read
	spent    llm.Money // settled cost this period
	reserved llm.Money // estimates of requests in flight
	alerted  []bool    // per threshold
}

// reservation is one admitted request's hold on a subject's period.
type reservation struct {
	s     *subject
	start time.Time
	est   llm.Money
}

func monthStart(t time.Time) time.Time { return PeriodMonth.start(t) }

func (b *budget) entry(id subjectID, now time.Time) *spendEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.subjects[id]
	if e == nil {
		if len(b.subjects) >= b.o.MaxSubjects {
			b.evict(now)
		}
		e = &spendEntry{}
		b.subjects[id] = e
	}
	return e
}

// evict drops entries of past periods with nothing in flight; a later
// request reads their spend from the ledger again. If that frees nothing,
// it drops current entries with nothing in flight until a tenth of the
// room is free, so that the next requests do not each pay for a sweep.
// Called with b.mu held.
func (b *budget) evict(now time.Time) {
	for id, e := range b.subjects {
		p := PeriodMonth
		if id.rule >= 0 {
			p = b.rules[id.rule].Period
		}
		if e.mu.TryLock() {
			if e.reserved == 0 && !e.start.Equal(p.start(now)) {
				delete(b.subjects, id)
			}
			e.mu.Unlock()
		}
	}
	if len(b.subjects) < b.o.MaxSubjects {
		return
	}
	dropped := 0
	for id, e := range b.subjects {
		if len(b.subjects) <= b.o.MaxSubjects*9/10 {
			break
		}
		if e.mu.TryLock() {
			if e.reserved == 0 {
				delete(b.subjects, id)
				dropped++
			}
			e.mu.Unlock()
		}
	}
	if dropped > 0 && b.o.Evicted != nil {
		b.o.Evicted(dropped)
	}
}

// subjects returns the budgets that apply to req, the key's own first,
// then the rules in configuration order.
func (b *budget) subjectsOf(ctx context.Context, req *llm.Request, now time.Time) []*subject {
	var out []*subject
	k, _ := keys.FromContext(ctx)
	if k != nil && k.Limits.BudgetMonth > 0 {
		id := subjectID{rule: -1, value: k.ID}
		out = append(out, &subject{id: id, key: k, limit: k.Limits.BudgetMonth, period: PeriodMonth,
			thresh: b.o.Thresholds, e: b.entry(id, now)})
	}
	m := req.Meta
	if k != nil {
		// The key's attribution, in case the frontend did not copy it.
		if m.KeyID == "" {
			m.KeyID = k.ID
		}
		if m.Tenant == "" {
			m.Tenant = k.Tenant
		}
	}
	for _, r := range b.rules {
		v, ok := r.subject(&m)
		if !ok {
			continue
		}
		id := subjectID{rule: r.index, value: v}
		out = append(out, &subject{id: id, rule: r, key: k, limit: r.limit, period: r.Period,
			thresh: r.Thresholds, e: b.entry(id, now)})
	}
	return out
}

// reserve holds est against s's period. Unless force is set it fails with
// an *llm.Error of kind KindBudget when spend, reservations and est exceed
// the limit; a failed ledger read is KindUnavailable.
func (b *budget) reserve(ctx context.Context, s *subject, est llm.Money, force bool) (*reservation, error) {
	now := b.o.Now().UTC()
	start := s.period.start(now)
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.start.Equal(start) {
		spent, err := b.spent(ctx, s, start)
		if err != nil {
			return nil, llm.Errorf(llm.KindUnavailable, "cannot check the budget of %s: %w", s.name(), err)
		}
		// Reservations of the last period settle into nothing: their
		// records are the last period's.
		e.start, e.spent, e.reserved = start, spent, 0
		e.alerted = make([]bool, len(s.thresh))
		for i, t := range s.thresh {
			e.alerted[i] = reached(spent, s.limit, t)
		}
	}
	committed := e.spent + e.reserved
	if !force && (committed+est > s.limit || committed >= s.limit) {
		return nil, b.refusal(s, e, est, start, now)
	}
	e.reserved += est
	return &reservation{s: s, start: start, est: est}, nil
}

// refusal is the error of a request s cannot admit. When what is settled
// leaves room for it and only requests in flight hold the rest, it says to
// retry once they settle (their estimates usually exceed their costs);
// otherwise the budget is spent until it resets. Called with e.mu held.
func (b *budget) refusal(s *subject, e *spendEntry, est llm.Money, start, now time.Time) *llm.Error {
	reset := s.period.next(start)
	var msg string
	if s.rule == nil {
		msg = "monthly budget of $" + dollars(s.limit) + " for key " + s.id.value
	} else {
		msg = "budget " + strconv.Quote(s.rule.Name) + " (" + s.period.adjective() + " $" + dollars(s.limit) +
			" for " + string(s.rule.Scope) + " " + s.id.value + ")"
	}
	if e.reserved > 0 && e.spent+est <= s.limit {
		wait := b.stats.settleTime()
		msg += " is held by requests in flight ($" + dollars(e.spent) + " spent, $" + dollars(e.reserved) +
			" reserved): retry in " + strconv.Itoa(int(wait.Seconds())) + " s, when they have settled"
		return &llm.Error{Kind: llm.KindBudget, Message: msg, RetryAfter: wait}
	}
	msg += " is exhausted ($" + dollars(e.spent) + " spent"
	if e.reserved > 0 {
		msg += ", $" + dollars(e.reserved) + " in flight"
	}
	msg += "); it resets on " + reset.Format(time.RFC3339)
	return &llm.Error{Kind: llm.KindBudget, Message: msg, RetryAfter: reset.Sub(now)}
}

func (b *budget) spent(ctx context.Context, s *subject, start time.Time) (llm.Money, error) {
	switch {
	case s.rule == nil && b.o.Spent != nil:
		return b.o.Spent(ctx, s.id.value, start)
	case s.rule == nil && b.o.SpentBy != nil:
		return b.o.SpentBy(ctx, ScopeKey, s.id.value, start)
	case s.rule != nil && b.o.SpentBy != nil:
		return b.o.SpentBy(ctx, s.rule.Scope, s.id.value, start)
	}
	return 0, nil
}

// settle replaces r's estimate with the actual cost and alerts on the
// thresholds that the spend reached.
func (b *budget) settle(r *reservation, actual llm.Money) {
	s, e := r.s, r.s.e
	var alerts []Alert
	e.mu.Lock()
	if e.start.Equal(r.start) {
		e.reserved -= r.est
		e.spent += actual
		if actual > 0 && b.o.Alert != nil {
			for i, t := range s.thresh {
				if !e.alerted[i] && reached(e.spent, s.limit, t) {
					e.alerted[i] = true
					a := Alert{Threshold: t, Spent: e.spent, Budget: s.limit, At: b.o.Now().UTC(),
						Period: s.period, PeriodStart: r.start}
					if s.key != nil {
						a.KeyID, a.Tenant = s.key.ID, s.key.Tenant
					}
					if s.rule != nil {
						a.Rule, a.Scope, a.Value = s.rule.Name, s.rule.Scope, s.id.value
					}
					alerts = append(alerts, a)
				}
			}
		}
	}
	e.mu.Unlock()
	for _, a := range alerts {
		b.o.Alert(a)
	}
}

// reached reports whether spent is at least pct percent of limit.
func reached(spent, limit llm.Money, pct int) bool {
	return limit > 0 && int64(spent)*100 >= int64(limit)*int64(pct)
}

// priced is what the stage knows of a request's price before the call.
type priced struct {
	model *catalog.Model // nil when req.Model is unknown or a prompt router
	terms catalog.Terms  // the mode and tier asked for
	est   llm.Money
}

func (b *budget) estimate(req *llm.Request) priced {
	p := priced{terms: catalog.Terms{Mode: req.Meta.Mode, Tier: req.ServiceTier, Global: catalog.IsGlobalProfile(req.Model)}}
	t, err := b.o.Catalog.Resolve(req.Model)
	if err != nil {
		return p
	}
	in := b.o.Counter.CountRequest(req)
	if t.Kind == catalog.KindPromptRouter {
		// The model that answers is known only afterwards: hold the
		// dearest the router may choose.
		models, _ := b.o.Catalog.PromptRouterModels(t.UpstreamID)
		for _, m := range models {
			p.est = max(p.est, b.estimateOn(m, req, in, p.terms))
		}
		return p
	}
	if t.Model == nil {
		return p
	}
	p.model = t.Model
	p.est = b.estimateOn(t.Model, req, in, p.terms)
	return p
}

// estimateOn is req's worst likely cost on m: its input tokens and the
// output it will likely produce (see BudgetOptions.OutputQuantile), never
// more than max_tokens, the model's maximum or MaxOutputTokens.
func (b *budget) estimateOn(m *catalog.Model, req *llm.Request, in int, terms catalog.Terms) llm.Money {
	limit := b.o.MaxOutputTokens
	if m.MaxOutputTokens > 0 {
		limit = min(limit, m.MaxOutputTokens)
	}
	if mt := req.Config.MaxTokens; mt != nil && *mt > 0 {
		limit = min(limit, *mt)
	}
	out, ok := b.stats.outputEstimate(req.Meta.KeyID, req.Meta.Route, m.ID, b.o.OutputQuantile, b.o.OutputSamples)
	if !ok {
		out = b.o.ColdOutputTokens
	}
	if req.Embed != nil {
		out = 0
	}
	// An estimate is an estimate: a tier without a published price is
	// held at the default tier's rates.
	est, _ := m.Cost(llm.Usage{InputTokens: in, OutputTokens: min(out, limit)}, terms)
	return est
}

// cost prices the usage of an answer the way the gateway's account stage
// does: on the model a prompt router chose, if any, at the tier the
// upstream served; nothing for a cache hit.
func (b *budget) cost(req *llm.Request, p priced, u llm.Usage, invoked string, served llm.ServiceTier) llm.Money {
	if req.Meta.Cache == llm.CacheHit {
		return 0
	}
	// The model that answered: a fallback below may have changed it.
	m := p.model
	if req.Model != "" {
		if t, err := b.o.Catalog.Resolve(req.Model); err == nil && t.Model != nil {
			m = t.Model
		}
	}
	if invoked != "" {
		if t, err := b.o.Catalog.Resolve(invoked); err == nil && t.Model != nil {
			m = t.Model
		}
	}
	if m == nil {
		return 0
	}
	c, _ := m.Cost(u, catalog.TermsOf(req, served))
	return c
}

type budgetInvoker struct {
	b    *budget
	next llm.Invoker
}

// admit applies every budget of req: first the downgrade rules, which may
// rewrite req.Model, then the blocking ones. It returns the reservations to
// settle, none when no budget applies.
func (b *budget) admit(ctx context.Context, req *llm.Request) (priced, []*reservation, error) {
	subs := b.subjectsOf(ctx, req, b.o.Now())
	if len(subs) == 0 {
		return priced{}, nil, nil
	}
	p := b.estimate(req)
	var held []*reservation
	fail := func(err error) (priced, []*reservation, error) {
		for _, r := range held {
			b.settle(r, 0)
		}
		return priced{}, nil, err
	}
	// Downgrade rules: hold the estimate at the routed model where it fits;
	// where it does not, send the request to that rule's cheaper model and
	// hold its estimate everywhere (a downgraded request is not refused by a
	// downgrade rule).
	var over *subject
	for _, s := range subs {
		if s.rule == nil || s.rule.Action != ActionDowngrade {
			continue
		}
		r, err := b.reserve(ctx, s, p.est, false)
		if llm.KindOf(err) == llm.KindBudget {
			over = s
			break
		}
		if err != nil {
			return fail(err)
		}
		held = append(held, r)
	}
	if over != nil {
		for _, r := range held {
			b.settle(r, 0)
		}
		held = held[:0]
		to := over.rule.DowngradeTo
		t, err := b.o.Catalog.Resolve(to)
		within := err == nil && t.Model != nil && p.model != nil && catalog.Compare(p.model, t.Model, p.terms).NotDearer()
		if !within && (err != nil || t.Model == nil || p.model == nil || catalog.Compare(t.Model, p.model, p.terms) != catalog.PriceCheaper) {
			r, err := b.reserve(ctx, over, p.est, false) // the budget error, current
			if r != nil {
				b.settle(r, 0) // it fits again after all: still refuse, as decided
			}
			var e *llm.Error
			if errors.As(err, &e) && e.Kind == llm.KindBudget {
				e.Message += "; its downgrade model " + to + " is not cheaper than " + req.Model + " on input and output price"
				return fail(e)
			}
			return fail(llm.Errorf(llm.KindBudget, "budget %q is exhausted and its downgrade model %s is not cheaper than %s",
				over.rule.Name, to, req.Model))
		}
		if within {
			// Already on the downgrade model or one no dearer: it goes
			// through as it is, as a downgraded request would.
			b.o.Logger.Info("budget reached: request already within its downgrade model", "budget", over.rule.Name,
				"scope", string(over.rule.Scope), "value", over.id.value, "model", req.Model, "downgrade_to", to,
				"request_id", req.Meta.RequestID)
		} else {
			b.o.Logger.Info("budget reached: request downgraded", "budget", over.rule.Name,
				"scope", string(over.rule.Scope), "value", over.id.value, "from", req.Model, "to", to,
				"request_id", req.Meta.RequestID)
			req.Model = to
			p = b.estimate(req)
		}
		for _, s := range subs {
			if s.rule == nil || s.rule.Action != ActionDowngrade {
				continue
			}
			r, err := b.reserve(ctx, s, p.est, true)
			if err != nil {
				return fail(err)
			}
			held = append(held, r)
		}
	}
	for _, s := range subs {
		if s.rule != nil && s.rule.Action == ActionDowngrade {
			continue
		}
		r, err := b.reserve(ctx, s, p.est, false)
		if err != nil {
			return fail(err)
		}
		held = append(held, r)
	}
	return p, held, nil
}

func (b *budget) settleAll(rs []*reservation, actual llm.Money) {
	for _, r := range rs {
		b.settle(r, actual)
	}
}

// settleEstimate settles each reservation at its own estimate.
func (b *budget) settleEstimate(rs []*reservation) {
	for _, r := range rs {
		b.settle(r, r.est)
	}
}

func (bi *budgetInvoker) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	p, rs, err := bi.b.admit(ctx, req)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		return bi.next.Invoke(ctx, req)
	}
	start := bi.b.o.Now()
	resp, err := bi.next.Invoke(ctx, req)
	if err != nil {
		bi.b.settleAll(rs, 0)
		return nil, err
	}
	bi.b.settleAll(rs, bi.b.cost(req, p, resp.Usage, resp.InvokedModel, resp.ServiceTier))
	bi.b.observe(req, resp.Usage, start)
	return resp, nil
}

func (bi *budgetInvoker) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	p, rs, err := bi.b.admit(ctx, req)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		return bi.next.Stream(ctx, req)
	}
	start := bi.b.o.Now()
	s, err := bi.next.Stream(ctx, req)
	if err != nil {
		bi.b.settleAll(rs, 0)
		return nil, err
	}
	return &settleStream{Stream: s, settle: func(ev *llm.Event, started bool) {
		switch {
		case ev != nil:
			bi.b.settleAll(rs, bi.b.cost(req, p, *ev.Usage, ev.InvokedModel, ev.ServiceTier))
			bi.b.observe(req, *ev.Usage, start)
		case started:
			bi.b.settleEstimate(rs) // cut short: assume the worst we admitted
		default:
			bi.b.settleAll(rs, 0) // failed before any event: nothing generated
		}
	}}, nil
}

// observe learns from an answer: its output tokens for later estimates
// and how long it took.
func (b *budget) observe(req *llm.Request, u llm.Usage, start time.Time) {
	b.stats.observe(req.Meta.KeyID, req.Meta.Route, req.Model, u.OutputTokens, b.o.Now().Sub(start))
}

// dollars formats m with at least two decimals: "500.00", "0.000123".
func dollars(m llm.Money) string {
	s := m.String()
	whole, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return whole + "." + frac
}
