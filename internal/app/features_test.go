package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/fallback"
	"github.com/penny-gateway/penny/internal/govern"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/promptpolicy"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/route"
)

func post(t *testing.T, a *App, body string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", a.URL()+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

func record(t *testing.T, a *App, id string) ledger.Record {
	t.Helper()
	a.Ledger.Flush(context.Background())
	recs, err := a.Store.Records(context.Background(), ledger.RecordQuery{RequestID: id})
	if err != nil || len(recs) != 1 {
		t.Fatalf("record %s: %v %v", id, recs, err)
	}
	return recs[0]
}

// TestTemplatesAndPromptPolicy: a request names a managed template in its
// metadata; the route's policy caps max_tokens and normalises whitespace,
// and the ledger shows the template version and the tokens saved.
func TestTemplatesAndPromptPolicy(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.TemplatesDir = "../templates/testdata/ok"
	cfg.Routes = []config.Route{{Config: route.Config{Name: "support", Baseline: "nova-pro", Tiers: []route.Tier{{Model: "nova-lite"}}},
		PromptPolicy: &promptpolicy.Policy{MaxMaxTokens: 100, NormalizeWhitespace: true}}}
	a := startApp(t, cfg)

	resp, body := post(t, a, `{"model":"support","messages":[],"metadata":{"penny_template":"support-answer@2","product":"headphones","question":"How do I pair them?"}}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("templated request: %d %s", resp.StatusCode, body)
	}
	rec := record(t, a, resp.Header.Get("X-Penny-Request-Id"))
	if rec.Tags["penny_template"] != "support-answer@2" || rec.Tags["product"] != "" {
		t.Errorf("template tags in the ledger: %v", rec.Tags)
	}
	if resp, body := post(t, a, `{"model":"support","messages":[],"metadata":{"penny_template":"support-answer","product":"x"}}`, nil); resp.StatusCode != 400 || !strings.Contains(string(body), "question") {
		t.Errorf("missing variable: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, a, `{"model":"support","messages":[],"metadata":{"penny_template":"nope"}}`, nil); resp.StatusCode != 404 || !strings.Contains(string(body), `"code":"template_not_found"`) {
		t.Errorf("unknown template: %d %s", resp.StatusCode, body)
	}

	// Whitespace the policy removes shows as tokens saved.
	padded := `{"model":"support","max_tokens":500,"messages":[{"role":"user","content":"Where   is    my order?      \n\n\n\n\n   It was due     yesterday.     "}]}`
	resp, body = post(t, a, padded, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("padded request: %d %s", resp.StatusCode, body)
	}
	rec = record(t, a, resp.Header.Get("X-Penny-Request-Id"))
	if rec.PromptTokensSaved <= 0 || !strings.Contains(rec.Strategy, "prompt_trimming") || rec.OutputTokens > 100 {
		t.Errorf("policy: saved %d, strategy %q, output %d (cap 100)", rec.PromptTokensSaved, rec.Strategy, rec.OutputTokens)
	}
}

// TestConfiguredBudgetDowngrades: a daily tag budget with action
// downgrade sends requests to the cheaper model once it is reached.
func TestConfiguredBudgetDowngrades(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Auth = "off"
	cfg.Budgets = []govern.BudgetRule{{Name: "support-daily", Scope: "tag", Match: "team=support", Period: "day",
		LimitUSD: "0.00002", Action: "downgrade", DowngradeTo: "nova-micro"}}
	a := startApp(t, cfg)
	models := map[string]int{}
	for i := 0; i < 6; i++ {
		resp, body := post(t, a, `{"model":"nova-pro","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"X-Penny-Tags": "team=support"})
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		models[resp.Header.Get("X-Penny-Model")]++
	}
	if models["nova-pro"] == 0 || models["nova-micro"] == 0 {
		t.Errorf("models used: %v; want nova-pro until the budget, then nova-micro", models)
	}
}

// TestTracingExports: with an OTLP endpoint, request spans reach it.
func TestTracingExports(t *testing.T) {
	var posts atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	cfg := simConfig(t, 0)
	cfg.Tracing.Endpoint = collector.URL
	a := serving(t, cfg)
	if resp, body := post(t, a, `{"model":"nova-micro","messages":[{"role":"user","content":"hi"}]}`, nil); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if posts.Load() == 0 {
		t.Error("no trace export reached the collector")
	}
}

// TestFallback: the routed model is throttled; the route's fallback list
// answers, and the ledger shows the failed attempt.
func TestFallback(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Simulator.Faults.Models = map[string]sim.FaultRates{"nova-pro": {Throttle: 1}}
	cfg.Routes = []config.Route{{Config: route.Config{Name: "support", Baseline: "nova-pro", Tiers: []route.Tier{{Model: "nova-pro"}}},
		Fallbacks: &fallback.List{Models: []string{"nova-lite"}}}}
	a := startApp(t, cfg)
	resp, body := post(t, a, `{"model":"support","messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Penny-Model") != "nova-lite" {
		t.Fatalf("%d %s model %q", resp.StatusCode, body, resp.Header.Get("X-Penny-Model"))
	}
	rec := record(t, a, resp.Header.Get("X-Penny-Request-Id"))
	if !strings.Contains(rec.Attempts, "throttled") || !strings.Contains(rec.Strategy, "fallback") || rec.Model != "nova-lite" {
		t.Errorf("ledger: attempts %q strategy %q model %q", rec.Attempts, rec.Strategy, rec.Model)
	}
}

// TestAgentAndCascade: a routing agent's classification and a cascade's
// rejected cheap answer are charged to the request and named in the ledger.
func TestAgentAndCascade(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Routes = []config.Route{
		{Config: route.Config{Name: "triage", Baseline: "nova-pro", Strategy: "agent", Default: "cheap",
			Tiers: []route.Tier{{Name: "cheap", Model: "nova-micro"}, {Name: "strong", Model: "nova-pro"}},
			Agent: &route.AgentConfig{Model: "nova-micro", Labels: map[string]string{"simple": "cheap", "complex": "strong"}}}},
		{Config: route.Config{Name: "extract", Baseline: "nova-pro", Strategy: "cascade",
			Tiers: []route.Tier{{Name: "cheap", Model: "nova-micro"}, {Name: "strong", Model: "nova-pro"}},
			Cascade: &route.CascadeConfig{Cheap: "cheap", Strong: "strong",
				Checks: route.Checks{JSONSchema: `{"type":"object","required":["name"]}`}}}},
	}
	a := startApp(t, cfg)

	resp, body := post(t, a, `{"model":"triage","messages":[{"role":"user","content":"What are your opening hours?"}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("agent: %d %s", resp.StatusCode, body)
	}
	rec := record(t, a, resp.Header.Get("X-Penny-Request-Id"))
	if !strings.Contains(rec.Strategy, "routing_agent") || rec.Model != "nova-micro" {
		t.Errorf("agent record: strategy %q model %q", rec.Strategy, rec.Model)
	}

	resp, body = post(t, a, `{"model":"extract","messages":[{"role":"user","content":"Extract the customer's name from: Hi, I am Ada."}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("cascade: %d %s", resp.StatusCode, body)
	}
	rec = record(t, a, resp.Header.Get("X-Penny-Request-Id"))
	if !strings.Contains(rec.Strategy, "cascade") || rec.Model != "nova-pro" || !strings.Contains(rec.Attempts, "cascade_rejected") {
		t.Errorf("cascade record: strategy %q model %q attempts %q", rec.Strategy, rec.Model, rec.Attempts)
	}
	tg, _ := a.Catalog.Resolve("nova-pro")
	if strongOnly, _ := tg.Model.Cost(rec.Usage(), catalog.Terms{}); rec.Cost <= strongOnly {
		t.Errorf("cascade cost %s does not include the rejected cheap attempt (strong alone %s)", rec.Cost, strongOnly)
	}
}

// TestLatencyTolerantRoute: a tolerant route's requests go to Flex and
// are priced and recorded at it; when Flex is throttled the request is
// answered at the default tier, and the ledger shows the fallback.
func TestLatencyTolerantRoute(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Routes = []config.Route{{Config: route.Config{Name: "digest", Baseline: "nova-pro", Tiers: []route.Tier{{Model: "nova-pro"}}},
		Latency: "tolerant"}}
	a := startApp(t, cfg)
	resp, body := post(t, a, `{"model":"digest","messages":[{"role":"user","content":"Summarise yesterday's tickets."}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := record(t, a, resp.Header.Get("X-Penny-Request-Id"))
	if rec.ServiceTier != "flex" || !strings.Contains(rec.Strategy, "flex") || !rec.PriceEstimated {
		t.Errorf("tolerant route: tier %q strategy %q estimated %v", rec.ServiceTier, rec.Strategy, rec.PriceEstimated)
	}

	cfg = simConfig(t, 0)
	cfg.Routes = []config.Route{{Config: route.Config{Name: "digest", Baseline: "nova-pro", Tiers: []route.Tier{{Model: "nova-pro"}}},
		Latency: "tolerant"}}
	cfg.Simulator.Faults.FlexThrottle = 1
	a = startApp(t, cfg)
	resp, body = post(t, a, `{"model":"digest","messages":[{"role":"user","content":"Summarise yesterday's tickets."}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("flex throttled: %d %s", resp.StatusCode, body)
	}
	rec = record(t, a, resp.Header.Get("X-Penny-Request-Id"))
	if rec.ServiceTier != "default" || !strings.Contains(rec.Strategy, "fallback") || !strings.Contains(rec.Attempts, "(flex) throttled") {
		t.Errorf("flex throttled: tier %q strategy %q attempts %q", rec.ServiceTier, rec.Strategy, rec.Attempts)
	}
	// A client's own header picks the tier (and is not second-guessed).
	resp, _ = post(t, a, `{"model":"nova-pro","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Penny-Service-Tier": "priority"})
	if rec := record(t, a, resp.Header.Get("X-Penny-Request-Id")); resp.StatusCode != 200 || rec.ServiceTier != "priority" {
		t.Errorf("x-penny-service-tier priority: %d tier %q", resp.StatusCode, rec.ServiceTier)
	}
	if resp, body := post(t, a, `{"model":"nova-pro","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Penny-Service-Tier": "turbo"}); resp.StatusCode != 400 || !strings.Contains(string(body), "X-Penny-Service-Tier") {
		t.Errorf("bad tier header: %d %s", resp.StatusCode, body)
	}
}
