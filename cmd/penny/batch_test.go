package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/config"
)

// TestBatchCommands submits a file with `penny batch submit --wait` to a
// simulated Penny, then lists it, reads its status and downloads its
// results.
func TestBatchCommands(t *testing.T) {
	t.Setenv("PENNY_API_KEY", "")
	cfg := config.Defaults()
	cfg.Listen, cfg.Simulate = "127.0.0.1:0", true
	cfg.Database = "sqlite://" + filepath.Join(t.TempDir(), "penny.db")
	zero := 0.0
	cfg.Simulator.TimeScale = &zero
	cfg.Batch.MinRecords, cfg.Batch.PollInterval, cfg.Batch.PollMax = 2, config.Duration(5*time.Millisecond), config.Duration(50*time.Millisecond)
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BatchTick: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { a.Shutdown(context.Background()) })

	dir := t.TempDir()
	in := filepath.Join(dir, "posts.jsonl")
	os.WriteFile(in, []byte(`{"messages":[{"role":"user","content":"Is this spam? Cheap watches!"}]}
{"custom_id":"two","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"And this one?"}]}}
`), 0o644)
	out := mustPenny(t, "batch", "submit", in, "--model", "nova-micro", "--wait", "--url", a.URL())
	if !strings.Contains(out, "completed, 2 of 2 done, 0 failed") {
		t.Fatalf("submit --wait: %s", out)
	}
	id := strings.Fields(out)[1]
	id = strings.TrimSuffix(id, ":")
	if list := mustPenny(t, "batch", "list", "--url", a.URL()); !strings.Contains(list, id) || !strings.Contains(list, "completed") {
		t.Errorf("list: %s", list)
	}
	if st := mustPenny(t, "batch", "status", id, "--url", a.URL()); !strings.Contains(st, "output file: file-") {
		t.Errorf("status: %s", st)
	}
	res := filepath.Join(dir, "results.jsonl")
	mustPenny(t, "batch", "results", id, "-o", res, "--url", a.URL())
	b, _ := os.ReadFile(res)
	if n := strings.Count(string(b), "\n"); n != 2 || !strings.Contains(string(b), `"custom_id":"two"`) || !strings.Contains(string(b), `"custom_id":"line-1"`) {
		t.Errorf("results: %s", b)
	}
	if _, err := penny(t, "batch", "submit", in, "--url", a.URL()); err == nil || !strings.Contains(err.Error(), "--model") {
		t.Errorf("a file naming no model: %v", err)
	}
}
