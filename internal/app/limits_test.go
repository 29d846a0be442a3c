package app

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/govern"
)

// TestDistinctTenantsAreBounded is finding 6 end to end: with auth off,
// every request may name a new tenant. Past limits.max_tenants the
// anomaly detector and the budgets keep no state of their own for them,
// and the admin listener's metrics count what overflowed.
func TestDistinctTenantsAreBounded(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Limits.MaxTenants = 50
	cfg.Budgets = []govern.BudgetRule{{Name: "per-tenant", Scope: govern.ScopeTenant, Match: "*", Period: "day", LimitUSD: "10"}}
	a := startApp(t, cfg)
	for i := range 200 {
		req, _ := http.NewRequest("POST", a.URL()+"/v1/chat/completions",
			strings.NewReader(`{"model":"nova-micro","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("X-Penny-Tenant", "tenant-"+strconv.Itoa(i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	if tenants, _ := a.Anomaly.Tracked(); tenants > 51 {
		t.Errorf("the anomaly detector tracks %d tenants, want at most 50 and its overflow series", tenants)
	}
	_, metrics := get(t, a.AdminURL()+"/metrics", "")
	for state, least := range map[string]float64{"anomaly": 150, "budget": 1} {
		m := regexp.MustCompile(`penny_tracked_overflow_total\{state="` + state + `"\} (\S+)`).FindStringSubmatch(metrics)
		if m == nil {
			t.Errorf("no penny_tracked_overflow_total for %s", state)
			continue
		}
		if v, _ := strconv.ParseFloat(m[1], 64); v < least {
			t.Errorf("penny_tracked_overflow_total{state=%q} = %v, want at least %v", state, v, least)
		}
	}
}
