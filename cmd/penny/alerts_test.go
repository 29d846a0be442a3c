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
)

// TestRunawayLoopAlert sends the same prompt again and again, as a stuck
// agent would, and finds the alert with `penny alerts`.
func TestRunawayLoopAlert(t *testing.T) {
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.Simulate = true
	cfg.Database = "sqlite://" + filepath.Join(t.TempDir(), "penny.db")
	zero := 0.0
	cfg.Simulator.TimeScale = &zero
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	defer a.Shutdown(context.Background())

	if out := mustPenny(t, "alerts", "--url", a.URL()); !strings.Contains(out, "No alerts") {
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
	out := mustPenny(t, "alerts", "--url", a.URL())
	if !strings.Contains(out, "runaway_loop") || !strings.Contains(out, "acme") {
		t.Errorf("penny alerts after a loop:\n%s", out)
	}
	if _, err := penny(t, "alerts", "--url", "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "no Penny answering") {
		t.Errorf("nothing listening: %v", err)
	}
}
