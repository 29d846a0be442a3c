// Package route picks the model for a request. A route is a name clients
// use as their model (or send in the x-penny-route header); it has a
// baseline model, used to measure savings, and tiers chosen by a strategy.
// Strategies: rules, learned, fixed, agent (a cheap model classifies the
// request, agent.go) and cascade (cheap tier first, escalate on failed
// checks, cascade.go).
package route

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/route/learned"
)

// Config is the routing part of one route as written in penny.yaml; the
// config layer (config.Route) adds the per-route overrides of other stages.
type Config struct {
	// Name is what clients send as their model, e.g. "support".
	Name string `yaml:"name"`
	// Baseline is the model the application would call without Penny;
	// savings are measured against it.
	Baseline string `yaml:"baseline"`
	// Strategy picks the tier: "rules" (the default), "learned" (a router
	// trained by `penny router train`), "fixed" (always the default tier),
	// "agent" (a cheap model classifies the request) or "cascade" (the
	// cheap tier answers first and the strong tier only if checks fail).
	Strategy string `yaml:"strategy"`
	// Learned configures the learned strategy.
	Learned *LearnedConfig `yaml:"learned"`
	// Agent configures the agent strategy.
	Agent *AgentConfig `yaml:"agent"`
	// Cascade configures the cascade strategy.
	Cascade *CascadeConfig `yaml:"cascade"`
	Tiers   []Tier         `yaml:"tiers"`
	// Rules are tried in order; the first that matches picks its tier.
	Rules []Rule `yaml:"rules"`
	// Default names the tier used when no rule matches (default: the first).
	Default string `yaml:"default"`
}

// LearnedConfig points a route at a trained router model: requests it
// predicts the cheap tier would fail go to Strong, the others to the
// route's default tier.
type LearnedConfig struct {
	// Model is the router file written by `penny router train`.
	Model string `yaml:"model"`
	// Strong names the tier for requests the router sends up.
	Strong string `yaml:"strong"`
	// Threshold, if set, overrides the threshold chosen at training time
	// (higher sends fewer requests to the strong tier).
	Threshold *float64 `yaml:"threshold"`
}

// Tier is a model a route may send requests to.
type Tier struct {
	Name  string `yaml:"name"`
	Model string `yaml:"model"`
	// System, if set, is prepended to the request's system prompt.
	System string `yaml:"system"`
	// MaxTokens caps the answer length for this tier; a smaller client value wins.
	MaxTokens int `yaml:"max_tokens"`
}

// Rule sends matching requests to Tier. Every condition that is set must
// hold (they are ANDed); within a list, any element may match.
type Rule struct {
	Tier string `yaml:"tier"`
	When Match  `yaml:"when"`
}

// Match lists a rule's conditions.
type Match struct {
	// MinChars and MaxChars bound the length of the last user message.
	MinChars int `yaml:"min_chars"`
	MaxChars int `yaml:"max_chars"`
	// Keywords match whole words of the last user message, case-insensitively.
	Keywords []string `yaml:"keywords"`
	// Regex is matched against the last user message.
	Regex     string            `yaml:"regex"`
	HasTools  *bool             `yaml:"has_tools"`
	HasImages *bool             `yaml:"has_images"`
	Tenants   []string          `yaml:"tenants"`
	Tags      map[string]string `yaml:"tags"`
	// Headers match request headers by exact value (names are case-insensitive).
	Headers map[string]string `yaml:"headers"`
}

// Route is a compiled route.
type Route struct {
	Config
	tiers    map[string]*Tier
	rules    []compiledRule
	fallback *Tier
	learned  *learned.Model
	strong   *Tier
	agent    *agent
	cascade  *cascade
}

type compiledRule struct {
	tier     *Tier
	m        Match
	keywords map[string]bool
	re       *regexp.Regexp
}

// Resolver checks a model name and returns its canonical catalog id.
type Resolver func(model string) (string, error)

// Compile validates c and rewrites its baseline and tier models to the
// canonical ids resolve returns, so the ledger compares like with like.
func Compile(c Config, resolve Resolver) (*Route, error) {
	if c.Name == "" {
		return nil, fmt.Errorf("route: name is required")
	}
	if len(c.Tiers) == 0 {
		return nil, fmt.Errorf("route %s: at least one tier is required", c.Name)
	}
	switch c.Strategy {
	case "", "rules", "fixed", "learned", "agent", "cascade":
	default:
		return nil, fmt.Errorf("route %s: strategy %q is not one of rules, learned, fixed, agent, cascade", c.Name, c.Strategy)
	}
	r := &Route{Config: c, tiers: map[string]*Tier{}}
	r.Config.Tiers = append([]Tier(nil), c.Tiers...)
	for i := range c.Tiers {
		t := &r.Config.Tiers[i]
		if t.Name == "" {
			t.Name = t.Model
		}
		if t.Model == "" {
			return nil, fmt.Errorf("route %s: tier %s: model is required", c.Name, t.Name)
		}
		id, err := resolve(t.Model)
		if err != nil {
			return nil, fmt.Errorf("route %s: tier %s: %w", c.Name, t.Name, err)
		}
		t.Model = id
		if _, dup := r.tiers[t.Name]; dup {
			return nil, fmt.Errorf("route %s: duplicate tier %s", c.Name, t.Name)
		}
		if t.MaxTokens < 0 {
			return nil, fmt.Errorf("route %s: tier %s: max_tokens must not be negative", c.Name, t.Name)
		}
		r.tiers[t.Name] = t
	}
	if r.Baseline == "" {
		return nil, fmt.Errorf("route %s: baseline is required (the model the application would call without Penny)", c.Name)
	}
	base, err := resolve(r.Baseline)
	if err != nil {
		return nil, fmt.Errorf("route %s: baseline: %w", c.Name, err)
	}
	r.Baseline = base
	r.fallback = &r.Config.Tiers[0]
	if c.Default != "" {
		t, ok := r.tiers[c.Default]
		if !ok {
			return nil, fmt.Errorf("route %s: default tier %q is not a tier", c.Name, c.Default)
		}
		r.fallback = t
	}
	switch c.Strategy {
	case "learned":
		if err := r.loadLearned(); err != nil {
			return nil, err
		}
	case "agent":
		if err := r.compileAgent(resolve); err != nil {
			return nil, err
		}
	case "cascade":
		if err := r.compileCascade(resolve); err != nil {
			return nil, err
		}
	}
	for i, rule := range c.Rules {
		t, ok := r.tiers[rule.Tier]
		if !ok {
			return nil, fmt.Errorf("route %s: rules[%d]: tier %q is not a tier", c.Name, i, rule.Tier)
		}
		cr := compiledRule{tier: t, m: rule.When}
		if len(rule.When.Keywords) > 0 {
			cr.keywords = map[string]bool{}
			for _, k := range rule.When.Keywords {
				cr.keywords[strings.ToLower(k)] = true
			}
		}
		if rule.When.Regex != "" {
			re, err := regexp.Compile(rule.When.Regex)
			if err != nil {
				return nil, fmt.Errorf("route %s: rules[%d]: regex: %w", c.Name, i, err)
			}
			cr.re = re
		}
		r.rules = append(r.rules, cr)
	}
	return r, nil
}

func (r *Route) loadLearned() error {
	lc := r.Learned
	if lc == nil || lc.Model == "" {
		return fmt.Errorf("route %s: strategy learned needs learned.model (a file from penny router train)", r.Name)
	}
	t, ok := r.tiers[lc.Strong]
	if !ok {
		return fmt.Errorf("route %s: learned.strong %q is not a tier", r.Name, lc.Strong)
	}
	if t == r.fallback {
		return fmt.Errorf("route %s: learned.strong is the default tier; name the cheap tier as default", r.Name)
	}
	f, err := os.Open(lc.Model)
	if err != nil {
		return fmt.Errorf("route %s: learned.model: %w", r.Name, err)
	}
	defer f.Close()
	m, err := learned.Load(f)
	if err != nil {
		return fmt.Errorf("route %s: learned.model %s: %w", r.Name, lc.Model, err)
	}
	if lc.Threshold != nil {
		m.Threshold = *lc.Threshold
	}
	r.learned, r.strong = m, t
	return nil
}

// Input is what rules look at besides the request itself.
type Input struct {
	Header func(name string) string
}

// Pick returns the tier for req. The agent strategy needs a model call to
// choose, so Pick returns its default tier (the stage asks the agent); the
// cascade strategy returns its cheap tier, the one tried first.
func (r *Route) Pick(req *llm.Request, in Input) *Tier {
	switch r.Strategy {
	case "fixed", "agent":
		return r.fallback
	case "cascade":
		return r.cascade.cheap
	case "learned":
		if r.learned.ScoreTags(req.LastUserText(), req.Meta.Tags) >= r.learned.Threshold {
			return r.strong
		}
		return r.fallback
	}
	text := req.LastUserText()
	var words map[string]bool
	for _, cr := range r.rules {
		if cr.keywords != nil && words == nil {
			words = wordSet(text)
		}
		if cr.matches(req, text, words, in) {
			return cr.tier
		}
	}
	return r.fallback
}

func (cr *compiledRule) matches(req *llm.Request, text string, words map[string]bool, in Input) bool {
	m := cr.m
	n := len([]rune(text))
	if m.MinChars > 0 && n < m.MinChars {
		return false
	}
	if m.MaxChars > 0 && n > m.MaxChars {
		return false
	}
	if cr.keywords != nil {
		hit := false
		for k := range cr.keywords {
			if words[k] || (strings.Contains(k, " ") && strings.Contains(strings.ToLower(text), k)) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if cr.re != nil && !cr.re.MatchString(text) {
		return false
	}
	if m.HasTools != nil && *m.HasTools != (req.Tools != nil && len(req.Tools.Tools) > 0) {
		return false
	}
	if m.HasImages != nil && *m.HasImages != req.HasImages() {
		return false
	}
	if len(m.Tenants) > 0 && !contains(m.Tenants, req.Meta.Tenant) {
		return false
	}
	for k, v := range m.Tags {
		if req.Meta.Tags[k] != v {
			return false
		}
	}
	for k, v := range m.Headers {
		if in.Header == nil || in.Header(k) != v {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func wordSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r == '\'' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	}) {
		out[w] = true
	}
	return out
}

// Table holds the compiled routes by name.
type Table struct {
	routes map[string]*Route
}

// NewTable compiles every route. Route names must not shadow each other.
func NewTable(cfgs []Config, resolve Resolver) (*Table, error) {
	t := &Table{routes: map[string]*Route{}}
	for _, c := range cfgs {
		r, err := Compile(c, resolve)
		if err != nil {
			return nil, err
		}
		if _, dup := t.routes[strings.ToLower(c.Name)]; dup {
			return nil, fmt.Errorf("route %s is defined twice", c.Name)
		}
		t.routes[strings.ToLower(c.Name)] = r
	}
	return t, nil
}

// Get returns the route named name, case-insensitively.
func (t *Table) Get(name string) (*Route, bool) {
	if t == nil {
		return nil, false
	}
	r, ok := t.routes[strings.ToLower(name)]
	return r, ok
}

// Names lists the route names.
func (t *Table) Names() []string {
	if t == nil {
		return nil
	}
	out := make([]string, 0, len(t.routes))
	for _, r := range t.routes {
		out = append(out, r.Name)
	}
	return out
}

// Stage returns the routing stage: when the requested model or
// req.Meta.Route names a route, it picks a tier and rewrites req.Model, the
// system prompt and max_tokens; it sets Meta.Route and Meta.BaselineModel.
// Requests for a plain model pass through untouched. The agent and cascade
// strategies make extra calls through next and list them in Meta.Extra.
func Stage(t *Table, opts ...Option) llm.Stage {
	return func(next llm.Invoker) llm.Invoker {
		s := &stage{t: t, next: next, log: slog.New(slog.DiscardHandler)}
		for _, o := range opts {
			o(s)
		}
		return s
	}
}

// Option configures the routing stage.
type Option func(*stage)

// WithLogger sets where the stage logs routing-agent and cascade decisions
// (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(s *stage) {
		if l != nil {
			s.log = l
		}
	}
}

type stage struct {
	t    *Table
	next llm.Invoker
	log  *slog.Logger
}

// resolve finds the route req asks for and records it in req.Meta; it
// returns nil for requests of a plain model.
func (s *stage) resolve(req *llm.Request) (*Route, error) {
	name := req.Meta.Route
	if name == "" {
		name = req.Model
	}
	r, ok := s.t.Get(name)
	if !ok {
		if asked := req.Meta.Route; asked != "" {
			// Only configured routes are recorded, so that callers cannot
			// fill the ledger and metrics with route names of their own.
			req.Meta.Route = ""
			return nil, llm.Errorf(llm.KindNotFound, "route %q is not configured", asked)
		}
		return nil, nil
	}
	req.Meta.Route = r.Name
	req.Meta.BaselineModel = r.Baseline
	return r, nil
}

// pick chooses the tier of a route that is not a cascade.
func (s *stage) pick(ctx context.Context, r *Route, req *llm.Request) *Tier {
	if r.Strategy == "agent" {
		return s.classify(ctx, r, req)
	}
	return r.Pick(req, Input{Header: llm.HeaderFrom(ctx)})
}

// applyTier rewrites req for tier: its model, system prompt and max_tokens.
func applyTier(req *llm.Request, tier *Tier) {
	req.Model = tier.Model
	if tier.System != "" {
		req.System = append([]llm.SystemBlock{{Text: tier.System}}, req.System...)
	}
	if tier.MaxTokens > 0 && (req.Config.MaxTokens == nil || *req.Config.MaxTokens > tier.MaxTokens) {
		mt := tier.MaxTokens
		req.Config.MaxTokens = &mt
	}
}

func (s *stage) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	r, err := s.resolve(req)
	if err != nil {
		return nil, err
	}
	if r != nil {
		if r.Strategy == "cascade" {
			return s.cascadeInvoke(ctx, r, req)
		}
		applyTier(req, s.pick(ctx, r, req))
	}
	return s.next.Invoke(ctx, req)
}

func (s *stage) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	r, err := s.resolve(req)
	if err != nil {
		return nil, err
	}
	if r != nil {
		if r.Strategy == "cascade" {
			return s.cascadeStream(ctx, r, req)
		}
		applyTier(req, s.pick(ctx, r, req))
	}
	return s.next.Stream(ctx, req)
}
