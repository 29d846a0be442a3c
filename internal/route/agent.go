package route

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"unicode"

	"github.com/penny-gateway/penny/internal/llm"
)

// AgentConfig configures the agent strategy: a cheap model reads the
// request and answers with one of Labels, which names the tier to use.
//
//	strategy: agent
//	agent:
//	  model: nova-micro
//	  labels: {simple: cheap, complex: strong}
//	  default: cheap
type AgentConfig struct {
	// Model is the classifier, e.g. nova-micro.
	Model string `yaml:"model"`
	// Labels maps each label the classifier may answer to a tier name.
	// Labels are matched case-insensitively and must be single words.
	Labels map[string]string `yaml:"labels"`
	// Default names the tier used when the classifier fails or answers
	// anything but a label (default: the route's default tier).
	Default string `yaml:"default"`
	// Prompt, if set, replaces the built-in classification prompt. The text
	// {labels} in it is replaced by the comma-separated labels.
	Prompt string `yaml:"prompt"`
}

// agentPrompt is the built-in classification prompt. It is fixed (and the
// labels are sorted) so that identical requests make identical
// classification calls, which Penny's response cache then answers.
const agentPrompt = `You are a request router. Classify the user's message into exactly one of these labels: {labels}.
Reply with the label only: one word, no punctuation, no explanation.`

// agentMaxChars bounds how much of the user's message the classifier reads,
// so that a huge prompt does not make routing cost as much as answering.
const agentMaxChars = 4000

// agent is a compiled AgentConfig.
type agent struct {
	model     string
	labels    map[string]*Tier
	def       *Tier
	system    string
	maxTokens int
}

func (r *Route) compileAgent(resolve Resolver) error {
	ac := r.Agent
	if ac == nil || ac.Model == "" {
		return fmt.Errorf("route %s: strategy agent needs agent.model (the classifier, e.g. nova-micro)", r.Name)
	}
	model, err := resolve(ac.Model)
	if err != nil {
		return fmt.Errorf("route %s: agent.model: %w", r.Name, err)
	}
	if len(ac.Labels) == 0 {
		return fmt.Errorf("route %s: agent.labels is required (label: tier)", r.Name)
	}
	a := &agent{model: model, labels: map[string]*Tier{}, def: r.fallback}
	var names []string
	longest := 0
	for label, tierName := range ac.Labels {
		l := strings.ToLower(strings.TrimSpace(label))
		if l == "" || strings.IndexFunc(l, unicode.IsSpace) >= 0 {
			return fmt.Errorf("route %s: agent.labels: %q is not a single word", r.Name, label)
		}
		if _, dup := a.labels[l]; dup {
			return fmt.Errorf("route %s: agent.labels: %q is given twice", r.Name, l)
		}
		t, ok := r.tiers[tierName]
		if !ok {
			return fmt.Errorf("route %s: agent.labels: %s: tier %q is not a tier", r.Name, label, tierName)
		}
		a.labels[l] = t
		names = append(names, l)
		longest = max(longest, len(l))
	}
	if ac.Default != "" {
		t, ok := r.tiers[ac.Default]
		if !ok {
			return fmt.Errorf("route %s: agent.default %q is not a tier", r.Name, ac.Default)
		}
		a.def = t
		// Pick (without a classifier) and the stage's fallback agree.
		r.fallback = t
	}
	sort.Strings(names)
	prompt := agentPrompt
	if ac.Prompt != "" {
		prompt = ac.Prompt
	}
	a.system = strings.ReplaceAll(prompt, "{labels}", strings.Join(names, ", "))
	// About four characters a token; a few spare for whitespace.
	a.maxTokens = max(5, longest/3+3)
	r.agent = a
	return nil
}

// parse returns the tier for the classifier's answer, strictly: the
// answer, trimmed and lower-cased, must be a label.
func (a *agent) parse(answer string) (*Tier, bool) {
	t, ok := a.labels[strings.ToLower(strings.TrimSpace(answer))]
	return t, ok
}

// classify asks the route's agent for req's tier. It never fails: any
// error or unparseable answer gives the default tier. The classifier's
// usage is appended to req.Meta.Extra unless the response cache answered.
func (s *stage) classify(ctx context.Context, r *Route, req *llm.Request) *Tier {
	a := r.agent
	text := truncate(req.LastUserText(), agentMaxChars)
	if strings.TrimSpace(text) == "" {
		s.log.Info("routing agent: no user text, using the default tier",
			slog.String("route", r.Name), slog.String("tier", a.def.Name))
		return a.def
	}
	sub := subRequest(req, a.model, a.system, text, a.maxTokens)
	resp, err := s.next.Invoke(ctx, sub)
	if resp != nil && sub.Meta.Cache != llm.CacheHit && resp.Usage.Total() > 0 {
		req.Meta.Extra = append(req.Meta.Extra, llm.Charge{Model: sub.Model, Usage: resp.Usage, Why: llm.ChargeRoutingAgent})
	}
	if err != nil {
		s.log.Warn("routing agent: classification failed, using the default tier",
			slog.String("route", r.Name), slog.String("request_id", req.Meta.RequestID),
			slog.String("tier", a.def.Name), slog.Any("error", err))
		return a.def
	}
	t, ok := a.parse(resp.Text())
	if !ok {
		s.log.Warn("routing agent: unparseable answer, using the default tier",
			slog.String("route", r.Name), slog.String("request_id", req.Meta.RequestID),
			slog.String("tier", a.def.Name), slog.String("answer", truncate(resp.Text(), 80)))
		return a.def
	}
	return t
}

// subRequest builds a deterministic single-turn call (temperature 0) made
// on req's behalf, so that the response cache can reuse its answer for
// identical requests. It carries req's tenant, key and tags, so budgets
// and the cache see whom it is for, but not its route: the route's
// fallbacks, prompt policy and route budgets are for the answer. The
// caller charges its usage.
func subRequest(req *llm.Request, model, system, user string, maxTokens int) *llm.Request {
	zero := 0.0
	return &llm.Request{
		Model:    model,
		System:   []llm.SystemBlock{{Text: system}},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(user)}}},
		Config:   llm.InferenceConfig{MaxTokens: &maxTokens, Temperature: &zero},
		Meta: llm.Meta{
			RequestID: req.Meta.RequestID,
			Tenant:    req.Meta.Tenant,
			KeyID:     req.Meta.KeyID,
			// No route: the route's fallbacks, prompt policy and route
			// budgets are for the answer, not for this side call.
			RequestedModel: model,
			BaselineModel:  model,
			Tags:           req.Meta.Tags,
			Mode:           req.Meta.Mode,
			API:            req.Meta.API,
			Received:       req.Meta.Received,
		},
	}
}

// truncate returns at most n runes of s.
func truncate(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
