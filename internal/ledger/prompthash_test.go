package ledger_test

import (
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
