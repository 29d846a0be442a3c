package main

import (
	"bytes"
	"path/filepath"
	"testing"
)

func TestInvocation(t *testing.T) {
	goRun := filepath.Join("/tmp", "go-build123456", "b001", "exe", "penny")
	cached := filepath.Join("/root/.cache/go-build/0d", "0dc8001916802228d7af7ac6021befe665e62da85136afaa8ccf4df22f6e82e9-d", "penny")
	for _, tc := range []struct {
		arg0, exe string
		inRepo    bool
		want      string
	}{
		{goRun, goRun, true, "go run ./cmd/penny"},
		{goRun, goRun, false, "go run github.com/penny-gateway/penny/cmd/penny"},
		{cached, cached, true, "go run ./cmd/penny"}, // a binary go run reuses from its cache
		{"./penny", "/home/me/0d/not-a-hash-d/penny", true, "./penny"},
		{"./penny", "/home/me/penny/penny", true, "./penny"},
		{"/opt/bin/penny", "/opt/bin/penny", false, "/opt/bin/penny"},
		{"penny", "/usr/local/bin/penny", false, "penny"},
		{"penny", "/home/me/exe/penny", false, "penny"}, // an exe folder outside go's build cache
	} {
		if got := invocation(tc.arg0, tc.exe, tc.inRepo); got != tc.want {
			t.Errorf("invocation(%q, %q, %v) = %q, want %q", tc.arg0, tc.exe, tc.inRepo, got, tc.want)
		}
	}
}

// TestDemoNoBarsOffTerminal: without --quiet, a demo whose standard error
// is not a terminal writes nothing there.
func TestDemoNoBarsOffTerminal(t *testing.T) {
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetArgs([]string{"demo", "--requests", "2", "--concurrency", "2", "--time-scale", "0", "--db", filepath.Join(t.TempDir(), "d.db")})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("demo wrote to a standard error that is not a terminal: %q", stderr.String())
	}
	if !bytes.Contains(stdout.Bytes(), []byte("Explore the ledger:  ")) {
		t.Errorf("demo printed no hint:\n%s", stdout.String())
	}
}
