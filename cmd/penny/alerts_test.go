package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/keys"
)

// startSimulated serves a Penny on the simulator, with no simulated
// latency and a ledger in a temporary folder, until the test ends; auth is
// "off" or "required".
func startSimulated(t *testing.T, auth string, edit ...func(*config.Config)) (a *app.App, db string) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "127.0.0.1:0"
	cfg.Simulate = true
	cfg.Auth = auth
	db = "sqlite://" + filepath.Join(t.TempDir(), "penny.db")
	cfg.Database = db
	zero := 0.0
	cfg.Simulator.TimeScale = &zero
	for _, e := range edit {
		e(&cfg)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	return a, db
}

// TestRunawayLoopAlert sends the same prompt again and again, as a stuck
// agent would, and finds the alert with `penny alerts`.
func TestRunawayLoopAlert(t *testing.T) {
	t.Setenv("PENNY_API_KEY", "")
	a, _ := startSimulated(t, "off")
	if out := mustPenny(t, "alerts", "--url", a.AdminURL()); !strings.Contains(out, "No alerts") {
		t.Errorf("before the loop: %s", out)
	}
	for i := 0; i < 25; i++ {
		req, _ := http.NewRequest("POST", a.URL()+"/v1/chat/completions",
			strings.NewReader(`{"model":"nova-micro","messages":[{"role":"user","content":"call the search tool again"}]}`))
		req.Header.Set("X-Penny-Tenant", "acme")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// --url defaults to the config's admin listener.
	t.Setenv("PENNY_ADMIN_LISTEN", strings.TrimPrefix(a.AdminURL(), "http://"))
	out := mustPenny(t, "alerts")
	if !strings.Contains(out, "runaway_loop") || !strings.Contains(out, "acme") {
		t.Errorf("penny alerts after a loop:\n%s", out)
	}
	// Every column starts where its heading does: words are left-aligned.
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, col := range []string{"KIND", "TENANT", "KEY", "MESSAGE"} {
		at := strings.Index(lines[0], col) // the heading is ASCII: bytes are runes
		for _, line := range lines[1:] {
			l := []rune(line)
			if at < 1 || at >= len(l) || l[at-1] != ' ' || l[at] == ' ' {
				t.Errorf("column %s (at %d) is not left-aligned:\n%s", col, at, out)
			}
		}
	}
	if !strings.Contains(lines[1], "  —  ") {
		t.Errorf("a request without a key shows no — in KEY: %q", lines[1])
	}
	if _, err := penny(t, "alerts", "--url", "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "no Penny admin listener answering") {
		t.Errorf("nothing listening: %v", err)
	}
	// The API listener no longer serves them, and says where they are.
	resp, err := http.Get(a.URL() + "/admin/alerts")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "admin listener") {
		t.Errorf("GET /admin/alerts on the API: %d %s", resp.StatusCode, body)
	}
}

// TestAlertsKey: with an admin listener that asks for keys, alerts says how
// to pass an admin key, reads it from PENNY_API_KEY, and says when the key
// is refused, a tenant key included.
func TestAlertsKey(t *testing.T) {
	t.Setenv(keys.SecretEnv, "")
	t.Setenv("PENNY_API_KEY", "")
	a, db := startSimulated(t, "required", func(c *config.Config) { c.AdminAuth = "required" })
	_, err := penny(t, "alerts", "--url", a.AdminURL())
	if err == nil || !strings.Contains(err.Error(), "needs an admin key") || !strings.Contains(err.Error(), "--key") ||
		!strings.Contains(err.Error(), "PENNY_API_KEY") || !strings.Contains(err.Error(), "--role admin") {
		t.Errorf("no key: err = %v; want it to say to pass an admin key with --key or PENNY_API_KEY", err)
	}
	if _, err := penny(t, "alerts", "--url", a.AdminURL(), "--key", "pk-wrong"); err == nil || !strings.Contains(err.Error(), "refused the key") {
		t.Errorf("a wrong key: err = %v", err)
	}
	tenant := printed(t, mustKeys(t, "create", "--tenant", "acme", "--db", db))
	if _, err := penny(t, "alerts", "--url", a.AdminURL(), "--key", tenant.Token); err == nil ||
		!strings.Contains(err.Error(), "refused the key") || !strings.Contains(err.Error(), "needs an admin key") {
		t.Errorf("a tenant key: err = %v", err)
	}
	admin := printed(t, mustKeys(t, "create", "--role", "admin", "--db", db))
	t.Setenv("PENNY_API_KEY", admin.Token)
	if out := mustPenny(t, "alerts", "--url", a.AdminURL()); !strings.Contains(out, "No alerts") {
		t.Errorf("with an admin key in PENNY_API_KEY: %s", out)
	}
}
