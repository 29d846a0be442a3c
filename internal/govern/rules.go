package govern

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// Scope is what a BudgetRule budgets: the requests of a tenant, of an API
// key, carrying a tag, or resolved through a route.
type Scope string

const (
	ScopeTenant Scope = "tenant"
	ScopeKey    Scope = "key"
	ScopeTag    Scope = "tag"
	ScopeRoute  Scope = "route"
)

// Period is the UTC calendar period a budget covers.
type Period string

const (
	PeriodDay   Period = "day"
	PeriodMonth Period = "month"
)

// Action is what happens to a request that would exceed a budget.
type Action string

const (
	// ActionBlock refuses the request (KindBudget) until the period resets.
	ActionBlock Action = "block"
	// ActionDowngrade sends the request to the rule's DowngradeTo model.
	ActionDowngrade Action = "downgrade"
)

// MatchEach as a BudgetRule's Match (or as a tag's value, "team=*") gives
// each distinct value its own budget of the rule's limit.
const MatchEach = "*"

// BudgetRule is a configured budget, enforced besides each key's own monthly
// budget. In penny.yaml:
//
//	budgets:
//	  - name: support-daily
//	    scope: tag            # tenant | key | tag | route
//	    match: team=support   # tenant name, key id, KEY=VALUE, route name; "*" (tag: "KEY=*") = one budget per value
//	    period: day           # day | month (UTC); default month
//	    limit_usd: "50"       # exact decimal dollars
//	    thresholds: [50, 80, 100]  # alert levels in percent; this is the default
//	    action: downgrade     # block (default) | downgrade
//	    downgrade_to: nova-micro
//
// Call Validate before use.
type BudgetRule struct {
	// Name names the budget in errors and alerts; unique among rules.
	Name   string `yaml:"name"`
	Scope  Scope  `yaml:"scope"`
	Match  string `yaml:"match"`
	Period Period `yaml:"period"`
	// LimitUSD is the budget in US dollars, an exact decimal string.
	LimitUSD string `yaml:"limit_usd"`
	// Thresholds are alert levels in percent of the limit (default 50, 80,
	// 100); each alerts once per value and period.
	Thresholds []int  `yaml:"thresholds"`
	Action     Action `yaml:"action"`
	// DowngradeTo is the catalog model that requests are sent to, instead
	// of being refused, once the budget is reached (Action downgrade). A
	// request whose routed model is already no dearer than it goes through
	// as it is; one whose routed model it is not cheaper than (catalog.Compare
	// under the request's terms) is refused instead.
	DowngradeTo string `yaml:"downgrade_to"`
}

// Validate checks r against the catalog: a known scope, period and action, a
// positive limit, thresholds between 1 and 1000, and for downgrade a priced
// catalog model. Because the routed model is only known per request,
// whether DowngradeTo is cheaper is checked then: where it is not, the
// request is refused as if the action were block.
func (r BudgetRule) Validate(cat *catalog.Catalog) error {
	if err := r.validate(cat); err != nil {
		if r.Name == "" {
			return fmt.Errorf("budget: %w", err)
		}
		return fmt.Errorf("budget %q: %w", r.Name, err)
	}
	return nil
}

func (r BudgetRule) validate(cat *catalog.Catalog) error {
	if strings.TrimSpace(r.Name) == "" {
		return errors.New("name is required")
	}
	switch r.Scope {
	case ScopeTenant, ScopeKey, ScopeRoute:
		if r.Match == "" {
			return fmt.Errorf("match is required: the %s's name, or %q for each %s", r.Scope, MatchEach, r.Scope)
		}
	case ScopeTag:
		k, v, ok := strings.Cut(r.Match, "=")
		if !ok || k == "" || v == "" {
			return fmt.Errorf("match %q: a tag budget matches KEY=VALUE, or KEY=* for each value of KEY", r.Match)
		}
	case "":
		return errors.New("scope is required: tenant, key, tag or route")
	default:
		return fmt.Errorf("unknown scope %q: want tenant, key, tag or route", r.Scope)
	}
	switch r.Period {
	case "", PeriodDay, PeriodMonth:
	default:
		return fmt.Errorf("unknown period %q: want day or month", r.Period)
	}
	limit, err := catalog.ParseDollars(r.LimitUSD)
	if err != nil {
		return fmt.Errorf("limit_usd: %w", err)
	}
	if limit <= 0 {
		return fmt.Errorf("limit_usd %q must be positive", r.LimitUSD)
	}
	for _, t := range r.Thresholds {
		if t < 1 || t > 1000 {
			return fmt.Errorf("threshold %d%%: want 1 to 1000", t)
		}
	}
	switch r.Action {
	case "", ActionBlock:
		if r.DowngradeTo != "" {
			return errors.New("downgrade_to is set but action is not downgrade")
		}
	case ActionDowngrade:
		if r.DowngradeTo == "" {
			return errors.New("action downgrade needs downgrade_to, a catalog model cheaper than the models it replaces")
		}
		if cat == nil {
			return errors.New("no catalog to check downgrade_to against")
		}
		t, err := cat.Resolve(r.DowngradeTo)
		if err != nil {
			return fmt.Errorf("downgrade_to: %w", err)
		}
		if t.Model == nil || free(t.Model) {
			return fmt.Errorf("downgrade_to %q is not a priced catalog model", r.DowngradeTo)
		}
	default:
		return fmt.Errorf("unknown action %q: want block or downgrade", r.Action)
	}
	return nil
}

// ValidateRules validates each rule and that their names are unique.
func ValidateRules(rules []BudgetRule, cat *catalog.Catalog) error {
	seen := make(map[string]bool, len(rules))
	for _, r := range rules {
		if err := r.Validate(cat); err != nil {
			return err
		}
		if seen[r.Name] {
			return fmt.Errorf("budget %q: defined twice", r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

// SpentQuery maps a budget subject, as passed to BudgetOptions.SpentBy, to
// the ledger summary that holds its spend: group by `by` (a
// ledger.SummaryQuery.By) and take the summary whose Key is group. For
// scope tag and value "team=support" that is by "tag:team", group "support".
func SpentQuery(scope Scope, value string) (by, group string) {
	switch scope {
	case ScopeTag:
		k, v, _ := strings.Cut(value, "=")
		return "tag:" + k, v
	case ScopeKey:
		return "key", value
	default:
		return string(scope), value
	}
}

// rule is a validated BudgetRule, parsed.
type rule struct {
	BudgetRule
	index  int
	limit  llm.Money
	tagKey string // scope tag: the tag's key
}

func compileRules(rules []BudgetRule, cat *catalog.Catalog) ([]*rule, error) {
	if err := ValidateRules(rules, cat); err != nil {
		return nil, err
	}
	out := make([]*rule, len(rules))
	for i, r := range rules {
		c := &rule{BudgetRule: r, index: i}
		c.limit, _ = catalog.ParseDollars(r.LimitUSD)
		if c.Period == "" {
			c.Period = PeriodMonth
		}
		if c.Action == "" {
			c.Action = ActionBlock
		}
		if c.Thresholds == nil {
			c.Thresholds = DefaultThresholds
		}
		if c.Scope == ScopeTag {
			c.tagKey, _, _ = strings.Cut(r.Match, "=")
		}
		out[i] = c
	}
	return out, nil
}

// subject returns the value of req that r budgets, and whether r applies.
func (r *rule) subject(m *llm.Meta) (string, bool) {
	var v string
	switch r.Scope {
	case ScopeTenant:
		v = m.Tenant
	case ScopeKey:
		v = m.KeyID
	case ScopeRoute:
		v = m.Route
	case ScopeTag:
		tv, ok := m.Tags[r.tagKey]
		if !ok || tv == "" {
			return "", false
		}
		_, want, _ := strings.Cut(r.Match, "=")
		if want != MatchEach && want != tv {
			return "", false
		}
		return r.tagKey + "=" + tv, true
	}
	if v == "" || r.Match != MatchEach && r.Match != v {
		return "", false
	}
	return v, true
}

// start returns the start of p's period containing t (UTC).
func (p Period) start(t time.Time) time.Time {
	t = t.UTC()
	if p == PeriodDay {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// next returns the start of the period after the one starting at start.
func (p Period) next(start time.Time) time.Time {
	if p == PeriodDay {
		return start.AddDate(0, 0, 1)
	}
	return start.AddDate(0, 1, 0)
}

func (p Period) adjective() string {
	if p == PeriodDay {
		return "daily"
	}
	return "monthly"
}

// free reports whether m has no per-token price at all on demand.
func free(m *catalog.Model) bool {
	r := m.Rates(catalog.Terms{})
	return r.Input.Rate <= 0 && r.Output.Rate <= 0
}
