package govern

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

// metaRequest is the fixture request with attribution.
func metaRequest(model string, m llm.Meta) *llm.Request {
	r := request(model, prompt, 1000)
	r.Meta = m
	return r
}

var supportMeta = llm.Meta{Tenant: "acme", KeyID: "PNYTEST", Route: "chat", Tags: map[string]string{"team": "support", "app": "bot"}}

func TestBudgetRuleValidate(t *testing.T) {
	cat := catalog.MustBuiltin()
	ok := BudgetRule{Name: "n", Scope: ScopeTenant, Match: "acme", LimitUSD: "10"}
	tests := []struct {
		name string
		edit func(*BudgetRule)
		want string // substring of the error; "" for valid
	}{
		{"valid", func(*BudgetRule) {}, ""},
		{"tag each", func(r *BudgetRule) { r.Scope, r.Match = ScopeTag, "team=*" }, ""},
		{"downgrade", func(r *BudgetRule) { r.Action, r.DowngradeTo = ActionDowngrade, "nova-micro" }, ""},
		{"no name", func(r *BudgetRule) { r.Name = "" }, "name is required"},
		{"bad scope", func(r *BudgetRule) { r.Scope = "team" }, `unknown scope "team"`},
		{"no match", func(r *BudgetRule) { r.Match = "" }, "match is required"},
		{"tag without key", func(r *BudgetRule) { r.Scope, r.Match = ScopeTag, "*" }, "KEY=VALUE"},
		{"bad period", func(r *BudgetRule) { r.Period = "week" }, `unknown period "week"`},
		{"float limit", func(r *BudgetRule) { r.LimitUSD = "1e3" }, "limit_usd"},
		{"zero limit", func(r *BudgetRule) { r.LimitUSD = "0" }, "must be positive"},
		{"bad threshold", func(r *BudgetRule) { r.Thresholds = []int{0} }, "threshold 0%"},
		{"downgrade without model", func(r *BudgetRule) { r.Action = ActionDowngrade }, "needs downgrade_to"},
		{"unknown downgrade model", func(r *BudgetRule) { r.Action, r.DowngradeTo = ActionDowngrade, "gpt-9" }, "downgrade_to"},
		{"downgrade_to with block", func(r *BudgetRule) { r.DowngradeTo = "nova-micro" }, "action is not downgrade"},
		{"bad action", func(r *BudgetRule) { r.Action = "warn" }, `unknown action "warn"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.edit(&r)
			err := r.Validate(cat)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
	if err := ValidateRules([]BudgetRule{ok, ok}, cat); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate names: %v", err)
	}
	if _, err := NewBudget(BudgetOptions{Catalog: cat, Rules: []BudgetRule{{Name: "x"}}}); err == nil {
		t.Error("NewBudget accepted an invalid rule")
	}
}

func TestBudgetRuleMatch(t *testing.T) {
	tests := []struct {
		scope Scope
		match string
		meta  llm.Meta
		want  string // the subject, "" for no match
	}{
		{ScopeTenant, "acme", supportMeta, "acme"},
		{ScopeTenant, "globex", supportMeta, ""},
		{ScopeTenant, "*", supportMeta, "acme"},
		{ScopeTenant, "*", llm.Meta{}, ""},
		{ScopeKey, "PNYTEST", supportMeta, "PNYTEST"},
		{ScopeKey, "*", supportMeta, "PNYTEST"},
		{ScopeKey, "PNYOTHER", supportMeta, ""},
		{ScopeRoute, "chat", supportMeta, "chat"},
		{ScopeRoute, "*", llm.Meta{Route: "summarize"}, "summarize"},
		{ScopeRoute, "chat", llm.Meta{}, ""},
		{ScopeTag, "team=support", supportMeta, "team=support"},
		{ScopeTag, "team=sales", supportMeta, ""},
		{ScopeTag, "team=*", supportMeta, "team=support"},
		{ScopeTag, "env=*", supportMeta, ""},
	}
	for _, tt := range tests {
		rules, err := compileRules([]BudgetRule{{Name: "r", Scope: tt.scope, Match: tt.match, LimitUSD: "1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := rules[0].subject(&tt.meta)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("%s %q on %+v: got %q, %v; want %q", tt.scope, tt.match, tt.meta, got, ok, tt.want)
		}
	}
	for _, tt := range []struct {
		scope       Scope
		value       string
		by, wantKey string
	}{
		{ScopeTenant, "acme", "tenant", "acme"},
		{ScopeKey, "PNYTEST", "key", "PNYTEST"},
		{ScopeRoute, "chat", "route", "chat"},
		{ScopeTag, "team=support", "tag:team", "support"},
	} {
		if by, key := SpentQuery(tt.scope, tt.value); by != tt.by || key != tt.wantKey {
			t.Errorf("SpentQuery(%s, %s) = %s, %s", tt.scope, tt.value, by, key)
		}
	}
}

// ledgerFake answers SpentBy from a fixed spend and records its calls.
type ledgerFake struct {
	mu    sync.Mutex
	spent llm.Money
	calls []string
}

func (l *ledgerFake) SpentBy(_ context.Context, scope Scope, value string, since time.Time) (llm.Money, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, string(scope)+" "+value+" "+since.Format(time.DateOnly))
	return l.spent, nil
}

// Each value of a "*" rule has its own budget; counters reset when the day
// or month turns, reading the new period's spend from the ledger once.
func TestBudgetRulePeriods(t *testing.T) {
	cat, full, est := fixture(t)
	tests := []struct {
		name      string
		period    Period
		advance   time.Duration
		wantCalls []string
	}{
		{"day rolls over at midnight", PeriodDay, 2 * time.Minute,
			[]string{"tag team=support 2026-11-30", "tag team=sales 2026-11-30", "tag team=support 2026-12-01"}},
		{"month rolls over on the 1st", PeriodMonth, 2 * time.Minute,
			[]string{"tag team=support 2026-11-01", "tag team=sales 2026-11-01", "tag team=support 2026-12-01"}},
		{"day within the day", PeriodDay, time.Hour - 2*time.Minute, // still the 30th after -1h below
			[]string{"tag team=support 2026-11-30", "tag team=sales 2026-11-30"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)
			if tt.name == "day within the day" {
				start = start.Add(-time.Hour)
			}
			clk := newClock(start)
			lf := &ledgerFake{}
			inv, err := NewBudget(BudgetOptions{Catalog: cat, Now: clk.Now, SpentBy: lf.SpentBy,
				Rules: []BudgetRule{{Name: "per-team", Scope: ScopeTag, Match: "team=*", Period: tt.period,
					LimitUSD: dollars(2 * est)}}})
			if err != nil {
				t.Fatal(err)
			}
			up := &upstream{usage: full}
			stage := inv(up)
			send := func(team string) error {
				_, err := stage.Invoke(t.Context(), metaRequest("nova-micro", llm.Meta{Tags: map[string]string{"team": team}}))
				return err
			}
			for i, want := range []llm.ErrorKind{"", "", llm.KindBudget} {
				if err := send("support"); llm.KindOf(err) != want {
					t.Fatalf("support request %d: %v", i, err)
				}
			}
			if err := send("sales"); err != nil {
				t.Fatalf("sales has its own budget: %v", err)
			}
			clk.Advance(tt.advance)
			err = send("support")
			rolled := len(tt.wantCalls) == 3
			if rolled && err != nil || !rolled && llm.KindOf(err) != llm.KindBudget {
				t.Errorf("after %v: %v", tt.advance, err)
			}
			lf.mu.Lock()
			defer lf.mu.Unlock()
			if strings.Join(lf.calls, "|") != strings.Join(tt.wantCalls, "|") {
				t.Errorf("SpentBy calls\n got %q\nwant %q", lf.calls, tt.wantCalls)
			}
		})
	}
}

func TestBudgetRuleBlockError(t *testing.T) {
	cat, full, _ := fixture(t)
	clk := newClock(time.Date(2026, 11, 20, 21, 30, 0, 0, time.UTC))
	lf := &ledgerFake{spent: 49_990_000_000}
	inv, err := NewBudget(BudgetOptions{Catalog: cat, Now: clk.Now, SpentBy: lf.SpentBy,
		Rules: []BudgetRule{
			{Name: "tenant-month", Scope: ScopeTenant, Match: "acme", LimitUSD: "1000"},
			{Name: "support-daily", Scope: ScopeTag, Match: "team=support", Period: PeriodDay, LimitUSD: "50"}}})
	if err != nil {
		t.Fatal(err)
	}
	up := &upstream{usage: full}
	req := request("nova-micro", strings.Repeat("many words ", 200_000), 1000)
	req.Meta = supportMeta
	_, err = inv(up).Invoke(t.Context(), req)
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindBudget {
		t.Fatalf("got %v, want a budget error", err)
	}
	want := `budget "support-daily" (daily $50.00 for tag team=support) is exhausted ($49.99 spent); it resets on 2026-11-21T00:00:00Z`
	if e.Message != want {
		t.Errorf("message\n got %q\nwant %q", e.Message, want)
	}
	if e.RetryAfter != 150*time.Minute {
		t.Errorf("RetryAfter %v, want 2h30m", e.RetryAfter)
	}
	if up.calls.Load() != 0 {
		t.Error("upstream called")
	}
}

func TestBudgetRuleDowngrade(t *testing.T) {
	cat, full, est := fixture(t)
	tests := []struct {
		name      string
		routed    string
		to        string
		wantModel []string // model sent upstream per request; "" refused
	}{
		// Two nova-lite requests fit; then each is sent to nova-micro.
		{"to a cheaper model", "nova-lite", "nova-micro", []string{"nova-lite", "nova-lite", "nova-micro", "nova-micro"}},
		// Already on the downgrade model, or one no dearer: passes as it is.
		{"already there", "nova-micro", "nova-micro", []string{"nova-micro", "nova-micro", "nova-micro", "nova-micro"}},
		{"already cheaper", "nova-micro", "nova-lite", []string{"nova-micro", "nova-micro", "nova-micro", "nova-micro"}},
		// Neither is cheaper on both prices (Llama 3.1 8B: $0.22/$0.22;
		// Nova Lite: $0.06/$0.24): refused.
		{"not cheaper is refused", "llama3-1-8b", "nova-lite", []string{"llama3-1-8b", "llama3-1-8b", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routedEst := est
			if tt.routed != "nova-micro" {
				r, _ := cat.Resolve(tt.routed)
				routedEst, _ = r.Model.Cost(full, catalog.Terms{})
			}
			var got []string
			rec := &recorder{upstream: upstream{usage: full}, models: &got}
			inv, err := NewBudget(BudgetOptions{Catalog: cat, Logger: slog.New(slog.DiscardHandler), Rules: []BudgetRule{{Name: "chat", Scope: ScopeRoute, Match: "chat",
				LimitUSD: dollars(2*routedEst + routedEst/2), Action: ActionDowngrade, DowngradeTo: tt.to}}})
			if err != nil {
				t.Fatal(err)
			}
			stage := inv(rec)
			for i := range tt.wantModel {
				req := metaRequest(tt.routed, supportMeta)
				_, err := stage.Invoke(t.Context(), req)
				if tt.wantModel[i] == "" {
					if llm.KindOf(err) != llm.KindBudget || !strings.Contains(err.Error(), "is not cheaper than") {
						t.Errorf("request %d: %v, want a budget error about the downgrade", i, err)
					}
					got = append(got, "")
				} else if err != nil {
					t.Errorf("request %d: %v", i, err)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantModel, ",") {
				t.Errorf("models %v, want %v", got, tt.wantModel)
			}
		})
	}
}

// recorder is an upstream that records req.Model.
type recorder struct {
	upstream
	mu     sync.Mutex
	models *[]string
}

func (r *recorder) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	r.mu.Lock()
	*r.models = append(*r.models, req.Model)
	r.mu.Unlock()
	return r.upstream.Invoke(ctx, req)
}

// The requirement for configured budgets: a daily tag budget is not
// overshot by more than one request's estimate under 100 parallel requests,
// also when a key budget and a tenant rule apply too.
func TestBudgetRuleConcurrent(t *testing.T) {
	cat, full, est := fixture(t)
	for _, stream := range []bool{false, true} {
		clk := newClock(t0)
		up := &upstream{usage: full, delay: 2 * time.Millisecond}
		limit := est*10 + est/2
		inv, err := NewBudget(BudgetOptions{Catalog: cat, Now: clk.Now, Rules: []BudgetRule{
			{Name: "acme", Scope: ScopeTenant, Match: "*", LimitUSD: "1000"},
			{Name: "support-daily", Scope: ScopeTag, Match: "team=support", Period: PeriodDay, LimitUSD: dollars(limit)}}})
		if err != nil {
			t.Fatal(err)
		}
		stage := inv(up)
		ctx := withKey(&keys.Key{ID: "PNYTEST", Tenant: "acme", Limits: keys.Limits{BudgetMonth: 1000 * llm.Dollar}})
		var wg sync.WaitGroup
		var ok, refused atomic.Int64
		for range 100 {
			wg.Go(func() {
				req := metaRequest("nova-micro", supportMeta)
				var err error
				if stream {
					var s llm.Stream
					if s, err = stage.Stream(ctx, req); err == nil {
						_, err = llm.Collect(s)
					}
				} else {
					_, err = stage.Invoke(ctx, req)
				}
				switch llm.KindOf(err) {
				case "":
					ok.Add(1)
				case llm.KindBudget:
					refused.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if spent := llm.Money(ok.Load()) * est; spent > limit+est {
			t.Errorf("stream %v: spent %v of %v: overshoot beyond one estimate", stream, spent, limit)
		}
		if ok.Load() != 10 || up.calls.Load() != 10 {
			t.Errorf("stream %v: %d admitted, %d calls; want 10", stream, ok.Load(), up.calls.Load())
		}
	}
}

// Thresholds alert once per rule, value and period.
func TestBudgetRuleAlerts(t *testing.T) {
	cat, full, est := fixture(t)
	clk := newClock(t0)
	var mu sync.Mutex
	var got []string
	inv, err := NewBudget(BudgetOptions{Catalog: cat, Now: clk.Now,
		Alert: func(a Alert) {
			mu.Lock()
			got = append(got, a.Rule+" "+a.Value+" "+string(a.Period)+" "+strconv.Itoa(a.Threshold))
			mu.Unlock()
		},
		Rules: []BudgetRule{
			{Name: "daily", Scope: ScopeTag, Match: "team=support", Period: PeriodDay, LimitUSD: dollars(4 * est), Thresholds: []int{50, 100}},
			{Name: "monthly", Scope: ScopeTenant, Match: "acme", LimitUSD: dollars(100 * est)}}})
	if err != nil {
		t.Fatal(err)
	}
	stage := inv(&upstream{usage: full})
	for day := range 2 {
		for range 6 {
			stage.Invoke(t.Context(), metaRequest("nova-micro", supportMeta))
		}
		if day == 0 {
			clk.Advance(24 * time.Hour)
		}
	}
	want := []string{"daily team=support day 50", "daily team=support day 100", "daily team=support day 50", "daily team=support day 100"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("alerts\n got %q\nwant %q", got, want)
	}
}

func TestPenalize(t *testing.T) {
	clk := newClock(t0)
	l := NewLimiter(RateOptions{Now: clk.Now})
	up := &upstream{}
	inv := l.Stage()(up)
	loop := withKey(&keys.Key{ID: "PNYLOOP"})
	other := withKey(&keys.Key{ID: "PNYOK", Limits: keys.Limits{RPM: 100}})
	l.Penalize("PNYLOOP", 5*time.Minute)
	clk.Advance(500 * time.Millisecond)
	steps := []struct {
		advance time.Duration
		ctx     context.Context
		wantErr string
		retry   time.Duration
	}{
		{0, loop, "key PNYLOOP is throttled for 5m0s after a runaway loop was detected", 5 * time.Minute},
		{time.Second, loop, "key PNYLOOP is throttled for 4m59s after a runaway loop was detected", 299 * time.Second},
		{0, other, "", 0},
		{4*time.Minute + 58*time.Second, loop, "throttled for 1s", time.Second},
		{500 * time.Millisecond, loop, "", 0},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		_, err := inv.Invoke(s.ctx, request("nova-micro", "hi", 0))
		var e *llm.Error
		if s.wantErr == "" {
			if err != nil {
				t.Errorf("step %d: %v", i, err)
			}
			continue
		}
		if !errors.As(err, &e) || e.Kind != llm.KindThrottled || !strings.Contains(e.Message, s.wantErr) || e.RetryAfter != s.retry {
			t.Errorf("step %d: got %v (retry %v), want %q retry %v", i, err, e, s.wantErr, s.retry)
		}
	}
	// Lifting a penalty.
	l.Penalize("PNYLOOP", time.Hour)
	l.Penalize("PNYLOOP", 0)
	if _, err := inv.Invoke(loop, request("nova-micro", "hi", 0)); err != nil {
		t.Errorf("after lifting: %v", err)
	}
	if up.calls.Load() != 3 {
		t.Errorf("upstream called %d times, want 3", up.calls.Load())
	}
}

// TestBudgetCountersAreBounded is finding 6 for budgets: a rule with "*"
// over tenants, with auth off, gets one counter per name a client makes up.
// Past MaxSubjects the idle ones are dropped (and counted), and a dropped
// tenant's spend is read from the ledger again, so its budget still holds.
func TestBudgetCountersAreBounded(t *testing.T) {
	cat, full, est := fixture(t)
	var reads, evicted atomic.Int64
	spent := func(ctx context.Context, scope Scope, value string, since time.Time) (llm.Money, error) {
		reads.Add(1)
		if value == "big-spender" {
			return llm.Dollar / 100, nil // its whole budget, in the ledger
		}
		return 0, nil
	}
	stage, err := NewBudget(BudgetOptions{Catalog: cat, MaxSubjects: 1000, SpentBy: spent,
		Evicted: func(n int) { evicted.Add(int64(n)) },
		Rules:   []BudgetRule{{Name: "per-tenant", Scope: ScopeTenant, Match: "*", LimitUSD: "0.01"}}})
	if err != nil {
		t.Fatal(err)
	}
	up := &upstream{usage: full}
	inv := stage(up)
	if est >= llm.Dollar/100 {
		t.Fatalf("fixture: one request (%v) exhausts the budget", est)
	}
	if _, err := inv.Invoke(context.Background(), metaRequest("nova-micro", llm.Meta{Tenant: "big-spender"})); llm.KindOf(err) != llm.KindBudget {
		t.Fatalf("big-spender: %v, want its budget refused", err)
	}
	for i := range 40_000 {
		if _, err := inv.Invoke(context.Background(), metaRequest("nova-micro", llm.Meta{Tenant: "t-" + strconv.Itoa(i)})); err != nil {
			t.Fatal(err)
		}
	}
	b := stage(up).(*budgetInvoker).b
	b.mu.Lock()
	n := len(b.subjects)
	b.mu.Unlock()
	if n > 1000 {
		t.Errorf("%d budget counters kept for 40,000 tenants, want at most 1,000", n)
	}
	if evicted.Load() < 39_000 {
		t.Errorf("%d counters reported evicted", evicted.Load())
	}
	// big-spender's counter is long gone; its spend is read again.
	before := reads.Load()
	if _, err := inv.Invoke(context.Background(), metaRequest("nova-micro", llm.Meta{Tenant: "big-spender"})); llm.KindOf(err) != llm.KindBudget {
		t.Errorf("big-spender after eviction: %v, want its budget still refused", err)
	}
	if reads.Load() == before {
		t.Error("the evicted tenant's spend was not read from the ledger again")
	}
}
