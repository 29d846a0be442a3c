package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestExposed(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8484": false,
		"127.0.0.2:8484": false,
		"[::1]:8484":     false,
		"0.0.0.0:8484":   true,
		"[::]:8484":      true,
		"10.0.0.5:8484":  true,
		"[fe80::1]:8484": true,
		"example.com:80": true, // not an IP: cannot be shown to be loopback
	} {
		if got := exposed(addr); got != want {
			t.Errorf("exposed(%q) = %v, want %v", addr, got, want)
		}
	}
}

// serveOnce runs `penny serve args…` with a context that is already done:
// it starts, prints what it prints at start-up, and shuts down.
func serveOnce(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(append([]string{"serve", "--simulate", "--admin-addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "penny.db")}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("penny serve %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

func TestServeWarnsWhenExposedWithoutAuth(t *testing.T) {
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"--addr", "0.0.0.0:0"}, true},
		{[]string{"--addr", ":0"}, true},
		{[]string{"--addr", "127.0.0.1:0"}, false},
		{[]string{"--addr", "0.0.0.0:0", "--auth", "required"}, false},
	} {
		out, stderr := serveOnce(t, tc.args...)
		if !strings.Contains(out, "listening on") {
			t.Fatalf("serve %v printed no start-up line:\n%s", tc.args, out)
		}
		warned := strings.Contains(stderr, "auth is off and Penny listens on a non-loopback address")
		if warned != tc.warn {
			t.Errorf("serve %v: warned %v, want %v; stderr:\n%s", tc.args, warned, tc.warn, stderr)
		}
		if warned && (!strings.Contains(stderr, "--auth required") || !strings.Contains(stderr, "--addr")) {
			t.Errorf("the warning does not say what to do: %s", stderr)
		}
	}
}
