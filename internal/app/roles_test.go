package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
)

// startWithKeys starts Penny with auth required on the simulator, with
// the given keys in its database, after edit has adjusted the config.
func startWithKeys(t *testing.T, edit func(*config.Config), ks ...keys.Key) (*App, []keys.Secret) {
	t.Helper()
	cfg := simConfig(t, 0)
	cfg.Auth = "required"
	if edit != nil {
		edit(&cfg)
	}
	db, store := openKeys(t, cfg.Database)
	var secrets []keys.Secret
	for _, k := range ks {
		rec, s, err := keys.New(k, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Create(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	db.Close()
	return startApp(t, cfg), secrets
}

// get sends GET url with token (if any) and returns the status and body.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type usageDoc struct {
	Tenant string             `json:"tenant"`
	By     string             `json:"by"`
	Rows   []ledger.ReportRow `json:"rows"`
	Total  ledger.ReportRow   `json:"total"`
}

// TestTenantKeySeesOnlyItsTenant is finding 5: two tenants call models,
// with tags of their own; the usage endpoint answers each tenant key about
// its own tenant only, whatever grouping or tenant it asks for, while an
// admin key sees both, and every tenant's data (metrics, alerts, usage)
// is on the admin listener only.
func TestTenantKeySeesOnlyItsTenant(t *testing.T) {
	a, s := startWithKeys(t, nil,
		keys.Key{Tenant: "acme", Tags: map[string]string{"team": "acme-support"}},
		keys.Key{Tenant: "globex", Tags: map[string]string{"team": "globex-secret-team"}},
		keys.Key{Tenant: "ops", Role: keys.RoleAdmin},
	)
	acme, globex, admin := s[0], s[1], s[2]
	ctx := context.Background()
	call := func(token, tags string, n int) {
		oc := openai.NewClient(option.WithBaseURL(a.URL()+"/v1"), option.WithAPIKey(token), option.WithMaxRetries(0),
			option.WithHeader("X-Penny-Tags", tags))
		for i := range n {
			if _, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nova-micro",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("question " + string(rune('a'+i)))}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	call(acme.Token, "project=acme-chat", 2)
	call(globex.Token, "project=globex-merger", 3)
	if err := a.Ledger.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Whatever it groups by, acme's key sees acme's 2 requests and no
	// trace of globex: not its name, key id, tags or spend.
	secretsOfGlobex := []string{"globex", globex.AccessKeyID}
	for _, by := range append(append([]string{}, ledger.Groupings[:len(ledger.Groupings)-1]...), "tag:team", "tag:project") {
		for _, query := range []string{"?since=&by=" + by, "?since=&by=" + by + "&tenant=acme"} {
			status, body := get(t, a.URL()+"/v1/penny/usage"+query, acme.Token)
			var doc usageDoc
			if status != http.StatusOK || json.Unmarshal([]byte(body), &doc) != nil {
				t.Fatalf("acme's usage%s: %d %s", query, status, body)
			}
			if doc.Tenant != "acme" || doc.Total.Requests != 2 {
				t.Errorf("acme's usage%s: tenant %q, %d requests; want acme's 2", query, doc.Tenant, doc.Total.Requests)
			}
			for _, secret := range secretsOfGlobex {
				if strings.Contains(body, secret) {
					t.Errorf("acme's usage%s shows %q:\n%s", query, secret, body)
				}
			}
		}
	}
	status, body := get(t, a.URL()+"/v1/penny/usage?since=&by=tag", acme.Token)
	if status != http.StatusOK || !strings.Contains(body, "project=acme-chat") || !strings.Contains(body, "team=acme-support") {
		t.Errorf("acme's own tags are missing: %s", body)
	}
	// Asking for another tenant is refused, and says why.
	for _, q := range []string{"?tenant=globex", "?tenant=globex&by=tenant"} {
		status, body := get(t, a.URL()+"/v1/penny/usage"+q, acme.Token)
		if status != http.StatusForbidden || !strings.Contains(body, "admin key") || strings.Contains(body, "merger") {
			t.Errorf("acme asking for %s: %d %s", q, status, body)
		}
	}
	if status, body := get(t, a.URL()+"/v1/penny/usage?tenant=&tenant=globex", acme.Token); status != http.StatusBadRequest || strings.Contains(body, "merger") {
		t.Errorf("acme giving tenant= twice: %d %s", status, body)
	}
	// globex sees its own 3.
	var doc usageDoc
	_, body = get(t, a.URL()+"/v1/penny/usage?since=&by=key", globex.Token)
	if json.Unmarshal([]byte(body), &doc); doc.Total.Requests != 3 || len(doc.Rows) != 1 || doc.Rows[0].Key != globex.AccessKeyID {
		t.Errorf("globex's usage by key: %s", body)
	}
	// No key, or a wrong one: refused.
	if status, _ := get(t, a.URL()+"/v1/penny/usage", ""); status != http.StatusUnauthorized {
		t.Errorf("usage without a key: %d", status)
	}

	// An admin key sees every tenant, or the one it names.
	_, body = get(t, a.URL()+"/v1/penny/usage?since=&by=tenant", admin.Token)
	if json.Unmarshal([]byte(body), &doc); doc.Total.Requests != 5 || doc.Tenant != "" || !strings.Contains(body, `"globex"`) {
		t.Errorf("admin's usage by tenant: %s", body)
	}
	_, body = get(t, a.URL()+"/v1/penny/usage?since=&tenant=globex", admin.Token)
	if json.Unmarshal([]byte(body), &doc); doc.Total.Requests != 3 || doc.Tenant != "globex" {
		t.Errorf("admin's usage of globex: %s", body)
	}
	// Bad queries are 400s that name the parameter.
	if status, body := get(t, a.URL()+"/v1/penny/usage?by=colour", acme.Token); status != http.StatusBadRequest || !strings.Contains(body, `by \"colour\"`) {
		t.Errorf("by=colour: %d %s", status, body)
	}
	if status, body := get(t, a.URL()+"/v1/penny/usage?since=yesterday", acme.Token); status != http.StatusBadRequest || !strings.Contains(body, "since:") {
		t.Errorf("since=yesterday: %d %s", status, body)
	}

	// Every tenant's data is not on the API listener, whatever the key.
	for _, path := range []string{"/metrics", "/admin/alerts", "/admin/usage"} {
		status, body := get(t, a.URL()+path, admin.Token)
		if status != http.StatusNotFound || !strings.Contains(body, "admin listener") {
			t.Errorf("GET %s on the API: %d %s", path, status, body)
		}
	}
	// The loopback admin listener: Prometheus scrapes without a key.
	status, body = get(t, a.AdminURL()+"/metrics", "")
	if status != http.StatusOK || !strings.Contains(body, `tenant="globex"`) {
		t.Errorf("GET /metrics on the admin listener: %d", status)
	}
	_, body = get(t, a.AdminURL()+"/admin/usage?since=&by=tenant", "")
	if json.Unmarshal([]byte(body), &doc); doc.Total.Requests != 5 {
		t.Errorf("admin usage: %s", body)
	}
	_, body = get(t, a.AdminURL()+"/admin/usage?since=&tenant=acme", "")
	if json.Unmarshal([]byte(body), &doc); doc.Total.Requests != 2 || doc.Tenant != "acme" {
		t.Errorf("admin usage of acme: %s", body)
	}
}

// TestAdminListenerRequiresAdminKey: with admin_auth: required (and on any
// non-loopback address), the admin endpoints take admin keys only.
func TestAdminListenerRequiresAdminKey(t *testing.T) {
	a, s := startWithKeys(t, func(c *config.Config) { c.AdminAuth = "required" },
		keys.Key{Tenant: "acme"}, keys.Key{Tenant: "ops", Role: keys.RoleAdmin})
	tenant, admin := s[0], s[1]
	for _, path := range []string{"/metrics", "/admin/alerts", "/admin/usage"} {
		if status, _ := get(t, a.AdminURL()+path, ""); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a key: %d, want 401", path, status)
		}
		if status, body := get(t, a.AdminURL()+path, tenant.Token); status != http.StatusForbidden || !strings.Contains(body, "--role admin") {
			t.Errorf("GET %s with a tenant key: %d %s, want 403 naming admin keys", path, status, body)
		}
		if status, _ := get(t, a.AdminURL()+path, admin.Token); status != http.StatusOK {
			t.Errorf("GET %s with an admin key: %d", path, status)
		}
	}
}

func TestAdminListenConfig(t *testing.T) {
	// A non-loopback admin listener asks for admin keys; with auth off
	// (no keys) it must be opened explicitly.
	cfg := simConfig(t, 0)
	cfg.AdminListen = "0.0.0.0:0"
	if _, err := New(context.Background(), cfg, Options{Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "admin_auth: off") {
		t.Errorf("non-loopback admin listener with auth off: %v", err)
	}
	cfg.AdminAuth = "off"
	a, err := New(context.Background(), cfg, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if !a.AdminOpen() {
		t.Error("admin_auth: off is not open")
	}
	a.Shutdown(context.Background())
	for addr, want := range map[string]bool{"127.0.0.1:8485": true, "[::1]:1": true, "localhost:8485": true,
		":8485": false, "0.0.0.0:8485": false, "10.1.2.3:8485": false, "penny.internal:8485": false} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}

	// Off: no admin listener; the API says so.
	cfg = simConfig(t, 0)
	cfg.AdminListen = "off"
	a = startApp(t, cfg)
	if a.AdminURL() != "" {
		t.Errorf("AdminURL = %q with admin_listen off", a.AdminURL())
	}
	if status, body := get(t, a.URL()+"/metrics", ""); status != http.StatusNotFound || !strings.Contains(body, "which is off") {
		t.Errorf("GET /metrics with the admin listener off: %d %s", status, body)
	}
	// With auth off, the usage endpoint works for the local user.
	if status, body := get(t, a.URL()+"/v1/penny/usage?by=tenant", ""); status != http.StatusOK || !strings.Contains(body, `"total"`) {
		t.Errorf("usage with auth off: %d %s", status, body)
	}
}

// TestShutdownStopsBothListeners: one Shutdown stops the API and the admin
// listener; Serve returns once both are closed.
func TestShutdownStopsBothListeners(t *testing.T) {
	cfg := simConfig(t, 0)
	a, err := New(context.Background(), cfg, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve() }()
	if status, _ := get(t, a.AdminURL()+"/healthz", ""); status != http.StatusOK {
		t.Fatalf("admin /healthz: %d", status)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	for _, u := range []string{a.URL(), a.AdminURL()} {
		if resp, err := http.Get(u + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Shutdown", u)
		}
	}
}
