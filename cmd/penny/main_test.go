package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/config"
)

func TestJSONLogDurations(t *testing.T) {
	cfg := config.Defaults()
	cfg.Log.Format = "json"
	var b bytes.Buffer
	log := newLogger(&b, cfg)
	log.Info("request", "latency", 1500*time.Microsecond, slog.Duration("ttft_ms", 2*time.Millisecond),
		slog.Group("upstream", slog.Any("wait", 3*time.Second)), "count", 4)
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	if got["latency_ms"] != 1.5 || got["ttft_ms"] != 2.0 || got["count"] != 4.0 {
		t.Errorf("log line %s: want latency_ms 1.5, ttft_ms 2 (not ttft_ms_ms), count 4", b.String())
	}
	if up, _ := got["upstream"].(map[string]any); up["wait_ms"] != 3000.0 {
		t.Errorf("log line %s: want upstream.wait_ms 3000", b.String())
	}
	if _, ok := got["latency"]; ok {
		t.Errorf("log line %s keeps the bare key", b.String())
	}

	// Text logs keep Go's durations, which say their unit.
	cfg.Log.Format = "text"
	b.Reset()
	newLogger(&b, cfg).Info("request", "latency", 1500*time.Microsecond)
	if !strings.Contains(b.String(), "latency=1.5ms") {
		t.Errorf("text log line %q", b.String())
	}
}
