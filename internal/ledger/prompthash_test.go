package ledger_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

func TestPromptHash(t *testing.T) {
	req := func(model, text string) *llm.Request {
		return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(text)}}}}
	}
	tool := func(id, out string) *llm.Request {
		return &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult,
			ToolResult: &llm.ToolResult{ToolUseID: id, Content: []llm.ToolResultContent{{Text: out}}}}}}}}
	}
	a := ledger.PromptHash(req("m", "hi"))
	switch {
	case a == "" || a != ledger.PromptHash(req("m", "hi")):
		t.Error("same request, different hash")
	case a == ledger.PromptHash(req("n", "hi")), a == ledger.PromptHash(req("m", "ho")):
		t.Error("different request, same hash")
	case ledger.PromptHash(tool("1", "x")) != ledger.PromptHash(tool("2", "x")):
		t.Error("tool results differing only in id hash differently")
	case ledger.PromptHash(tool("1", "x")) == ledger.PromptHash(tool("1", "y")):
		t.Error("different tool results hash the same")
	case ledger.PromptHash(&llm.Request{}) != "":
		t.Error("empty request hashed")
	}
}

// TestPromptHashOfLongPrompts: a prompt of megabytes is hashed without a
// copy of it, to the same hash as ever (the bytes hashed are unchanged).
func TestPromptHashOfLongPrompts(t *testing.T) {
	text := strings.Repeat("a long prompt ", 1<<16) // 896 KiB
	req := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(text)}}}}
	h := sha256.New()
	for _, s := range []string{"m", "\x01", "user", "text", text} {
		h.Write(append([]byte(s), 0))
	}
	if got, want := ledger.PromptHash(req), hex.EncodeToString(h.Sum(nil)[:16]); got != want {
		t.Errorf("PromptHash = %s, want %s", got, want)
	}
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ledger.PromptHash(req)
		}
	}).AllocedBytesPerOp()
	if allocs > 64<<10 {
		t.Errorf("hashing a %d KiB prompt allocated %d KiB", len(text)>>10, allocs>>10)
	}
}
