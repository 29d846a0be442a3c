package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"regexp"
	"runtime/debug"
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

func TestVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-11-20T10:00:00Z"}, {Key: "vcs.modified", Value: modified}}
	}
	const mod = "github.com/penny-gateway/penny"
	for _, tc := range []struct {
		name   string
		linked string
		bi     *debug.BuildInfo
		short  string
		lines  []string
	}{
		{"go run: no VCS stamp", "", &debug.BuildInfo{Main: debug.Module{Path: mod, Version: "(devel)"}},
			"dev", []string{"penny dev\n", "module:   " + mod + "\n", "revision: unknown (built without VCS information"}},
		{"go build of a checkout", "", &debug.BuildInfo{
			Main:     debug.Module{Path: mod, Version: "v0.0.0-20261120100000-0123456789ab+dirty"},
			Settings: vcs("0123456789abcdef0123456789abcdef01234567", "true")},
			"v0.0.0-20261120100000-0123456789ab+dirty",
			[]string{"revision: 0123456789abcdef0123456789abcdef01234567 (2026-11-20T10:00:00Z), with uncommitted changes"}},
		{"go build, VCS stamp without a module version", "", &debug.BuildInfo{
			Main: debug.Module{Path: mod, Version: "(devel)"}, Settings: vcs("0123456789abcdef", "false")},
			"dev (0123456789ab)", []string{"penny dev\n", "revision: 0123456789abcdef (2026-11-20T10:00:00Z)\n"}},
		{"go install at a tag", "", &debug.BuildInfo{Main: debug.Module{Path: mod, Version: "v1.2.0"}},
			"v1.2.0", []string{"penny v1.2.0\n"}},
		{"-X main.version wins", "1.3.0-rc1", &debug.BuildInfo{Main: debug.Module{Path: mod, Version: "(devel)"},
			Settings: vcs("0123456789abcdef", "false")}, "1.3.0-rc1", []string{"penny 1.3.0-rc1\n"}},
		{"no build information", "", nil, "dev", []string{"penny dev\n", "go:       go"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := buildOf(tc.linked, tc.bi)
			if b.String() != tc.short {
				t.Errorf("short version %q, want %q", b.String(), tc.short)
			}
			var out bytes.Buffer
			b.write(&out)
			for _, l := range tc.lines {
				if !strings.Contains(out.String(), l) {
					t.Errorf("penny version:\n%s\nlacks %q", out.String(), l)
				}
			}
		})
	}

	// The command itself, as a test binary (built without VCS stamps) runs it.
	out := mustPenny(t, "version")
	if !regexp.MustCompile(`^penny \S+\n  module:   ` + regexp.QuoteMeta(mod) + `\n  revision: .+\n  go:       go1\.\S+ \S+/\S+\n$`).MatchString(out) {
		t.Errorf("penny version:\n%s", out)
	}
	if out := mustPenny(t, "--version"); !strings.HasPrefix(out, "penny version ") {
		t.Errorf("penny --version: %q", out)
	}
}
