package govern

import (
	"context"
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
	// MaxOutputTokens caps the output estimate of a request without
	// max_tokens: the model's MaxOutputTokens, at most this (default 4096).
	MaxOutputTokens int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Alert says that a key's spend this month reached Threshold percent of its
// monthly budget.
type Alert struct {
	KeyID     string
	Tenant    string
	Threshold int
	Spent     llm.Money
	Budget    llm.Money
	At        time.Time
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
	if o.Catalog == nil {
		panic("govern: Budget needs a catalog")
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
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &budget{o: o, keys: make(map[string]*spendEntry)}
	return func(next llm.Invoker) llm.Invoker { return &budgetInvoker{b: b, next: next} }
}

type budget struct {
	o  BudgetOptions
	mu sync.Mutex
	// keys holds one entry per budgeted key that made a request. Keys are
	// created by operators, so the map is bounded by the key store.
	keys map[string]*spendEntry
}

// spendEntry is one key's month. Its mutex is held while the month's spend
// is read from the ledger, so that concurrent first requests wait for one
// read instead of each making one.
type spendEntry struct {
	mu       sync.Mutex
	month    time.Time // start of the month spent and reserved are for; zero until read
	spent    llm.Money // settled cost this month
	reserved llm.Money // estimates of requests in flight
	alerted  []bool    // per threshold
}

// reservation is one admitted request's hold on its key's month.
type reservation struct {
	e     *spendEntry
	month time.Time
	est   llm.Money
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func (b *budget) entry(id string) *spendEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.keys[id]
	if e == nil {
		e = &spendEntry{}
		b.keys[id] = e
	}
	return e
}

// reserve holds est against k's month, or fails with KindBudget.
func (b *budget) reserve(ctx context.Context, k *keys.Key, est llm.Money) (*reservation, error) {
	now := b.o.Now().UTC()
	month := monthStart(now)
	e := b.entry(k.ID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.month.Equal(month) {
		var spent llm.Money
		if b.o.Spent != nil {
			var err error
			if spent, err = b.o.Spent(ctx, k.ID, month); err != nil {
				return nil, llm.Errorf(llm.KindUnavailable, "cannot check the budget of key %s: %w", k.ID, err)
			}
		}
		// Reservations of last month settle into nothing: their records
		// are last month's.
		e.month, e.spent, e.reserved = month, spent, 0
		e.alerted = make([]bool, len(b.o.Thresholds))
		for i, t := range b.o.Thresholds {
			e.alerted[i] = reached(spent, k.Limits.BudgetMonth, t)
		}
	}
	limit := k.Limits.BudgetMonth
	committed := e.spent + e.reserved
	if committed+est > limit || committed >= limit {
		reset := month.AddDate(0, 1, 0)
		msg := "monthly budget of $" + dollars(limit) + " for key " + k.ID + " is exhausted ($" + dollars(e.spent) + " spent"
		if e.reserved > 0 {
			msg += ", $" + dollars(e.reserved) + " in flight"
		}
		msg += "); it resets on " + reset.Format(time.RFC3339)
		return nil, &llm.Error{Kind: llm.KindBudget, Message: msg, RetryAfter: reset.Sub(now)}
	}
	e.reserved += est
	return &reservation{e: e, month: month, est: est}, nil
}

// settle replaces r's estimate with the actual cost and alerts on the
// thresholds that the spend reached.
func (b *budget) settle(r *reservation, k *keys.Key, actual llm.Money) {
	e := r.e
	var alerts []Alert
	e.mu.Lock()
	if e.month.Equal(r.month) {
		e.reserved -= r.est
		e.spent += actual
		if actual > 0 && b.o.Alert != nil {
			for i, t := range b.o.Thresholds {
				if !e.alerted[i] && reached(e.spent, k.Limits.BudgetMonth, t) {
					e.alerted[i] = true
					alerts = append(alerts, Alert{KeyID: k.ID, Tenant: k.Tenant, Threshold: t,
						Spent: e.spent, Budget: k.Limits.BudgetMonth, At: b.o.Now().UTC()})
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
	mode  llm.Mode
	est   llm.Money
}

func (b *budget) estimate(req *llm.Request) priced {
	p := priced{mode: req.Meta.Mode}
	if p.mode == "" {
		p.mode = llm.ModeOnDemand
	}
	t, err := b.o.Catalog.Resolve(req.Model)
	if err != nil || t.Model == nil {
		return p
	}
	p.model = t.Model
	out := b.o.MaxOutputTokens
	if m := t.Model.MaxOutputTokens; m > 0 {
		out = min(out, m)
	}
	if req.Config.MaxTokens != nil && *req.Config.MaxTokens > 0 {
		out = *req.Config.MaxTokens
	}
	p.est = t.Model.Cost(llm.Usage{InputTokens: b.o.Counter.CountRequest(req), OutputTokens: out}, p.mode)
	return p
}

// cost prices the usage of an answer the way the gateway's account stage
// does: on the model a prompt router chose, if any; nothing for a cache hit.
func (b *budget) cost(req *llm.Request, p priced, u llm.Usage, invoked string) llm.Money {
	if req.Meta.Cache == llm.CacheHit {
		return 0
	}
	m := p.model
	if invoked != "" {
		if t, err := b.o.Catalog.Resolve(invoked); err == nil && t.Model != nil {
			m = t.Model
		}
	}
	if m == nil {
		return 0
	}
	return m.Cost(u, p.mode)
}

type budgetInvoker struct {
	b    *budget
	next llm.Invoker
}

func budgeted(ctx context.Context) (*keys.Key, bool) {
	k, ok := keys.FromContext(ctx)
	return k, ok && k != nil && k.Limits.BudgetMonth > 0
}

func (bi *budgetInvoker) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	k, ok := budgeted(ctx)
	if !ok {
		return bi.next.Invoke(ctx, req)
	}
	p := bi.b.estimate(req)
	r, err := bi.b.reserve(ctx, k, p.est)
	if err != nil {
		return nil, err
	}
	resp, err := bi.next.Invoke(ctx, req)
	if err != nil {
		bi.b.settle(r, k, 0)
		return nil, err
	}
	bi.b.settle(r, k, bi.b.cost(req, p, resp.Usage, resp.InvokedModel))
	return resp, nil
}

func (bi *budgetInvoker) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	k, ok := budgeted(ctx)
	if !ok {
		return bi.next.Stream(ctx, req)
	}
	p := bi.b.estimate(req)
	r, err := bi.b.reserve(ctx, k, p.est)
	if err != nil {
		return nil, err
	}
	s, err := bi.next.Stream(ctx, req)
	if err != nil {
		bi.b.settle(r, k, 0)
		return nil, err
	}
	return &settleStream{Stream: s, settle: func(ev *llm.Event, started bool) {
		switch {
		case ev != nil:
			bi.b.settle(r, k, bi.b.cost(req, p, *ev.Usage, ev.InvokedModel))
		case started:
			bi.b.settle(r, k, r.est) // cut short: assume the worst we admitted
		default:
			bi.b.settle(r, k, 0) // failed before any event: nothing generated
		}
	}}, nil
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
