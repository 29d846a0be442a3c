package cache_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/llm"
)

// fullRequest uses every part of a request that is in the key.
func fullRequest() *llm.Request {
	return &llm.Request{
		Model: "nova-micro",
		System: []llm.SystemBlock{
			{Text: "You are a support agent for Acme."},
			{CachePoint: &llm.CachePoint{}},
		},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{
				llm.TextBlock("What is in this picture?"),
				{Type: llm.BlockImage, Image: &llm.Image{Format: "png", Bytes: []byte{0x89, 'P', 'N', 'G', 1, 2, 3}}},
				{Type: llm.BlockDocument, Document: &llm.Document{Format: "txt", Name: "notes", Bytes: []byte("notes")}},
			}},
			{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockReasoning, Text: "think", Signature: "sig"},
				{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "t1", Name: "lookup", Input: json.RawMessage(`{"q":"cat","n":3}`)}},
			}},
			{Role: llm.RoleUser, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "t1", Status: "success", Content: []llm.ToolResultContent{
					{Text: "a cat"}, {JSON: json.RawMessage(`{"score":0.9,"tags":["cat","pet"]}`)},
					{Image: &llm.Image{Format: "jpeg", Bytes: []byte{1, 2}}},
				}}},
				{Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{TTL: "5m"}},
			}},
		},
		Config: llm.InferenceConfig{MaxTokens: ptr(200), Temperature: ptr(0.0), TopP: ptr(0.9), StopSequences: []string{"END"}},
		Tools: &llm.ToolConfig{
			Tools: []llm.Tool{
				{Name: "lookup", Description: "Looks things up.", InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"integer"}},"required":["q"]}`)},
				{CachePoint: &llm.CachePoint{}},
			},
			Choice: llm.ToolChoice{Mode: llm.ToolChoiceAuto},
		},
		Additional: json.RawMessage(`{"top_k":50,"reasoning_config":{"type":"enabled","budget_tokens":1024}}`),
		Meta:       llm.Meta{Tenant: "acme", RequestID: "r1", Route: "support", Tags: map[string]string{"team": "a"}},
	}
}

func TestKeyShape(t *testing.T) {
	k := cache.Key(fullRequest(), "nova-micro", false)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(k) {
		t.Fatalf("key %q is not 64 hex digits", k)
	}
	if k != cache.Key(fullRequest(), "nova-micro", false) {
		t.Fatal("the same request gave two keys")
	}
}

// TestKeyDiffers: a change to any part of the request that can change
// the answer changes the key.
func TestKeyDiffers(t *testing.T) {
	msg := func(r *llm.Request, i, j int) *llm.Block { return &r.Messages[i].Content[j] }
	tests := []struct {
		name string
		edit func(r *llm.Request)
	}{
		{"tenant", func(r *llm.Request) { r.Meta.Tenant = "globex" }},
		{"system text", func(r *llm.Request) { r.System[0].Text += " " }},
		{"system cache point ttl", func(r *llm.Request) { r.System[1].CachePoint.TTL = "1h" }},
		{"system cache point removed", func(r *llm.Request) { r.System = r.System[:1] }},
		{"system split differently", func(r *llm.Request) {
			r.System = []llm.SystemBlock{{Text: "You are a support"}, {Text: " agent for Acme."}, {CachePoint: &llm.CachePoint{}}}
		}},
		{"role", func(r *llm.Request) { r.Messages[0].Role = llm.RoleAssistant }},
		{"text", func(r *llm.Request) { msg(r, 0, 0).Text = "What is in this photo?" }},
		{"text moved between messages", func(r *llm.Request) {
			r.Messages[0].Content = r.Messages[0].Content[1:]
			r.Messages[1].Content = append([]llm.Block{llm.TextBlock("What is in this picture?")}, r.Messages[1].Content...)
		}},
		{"image bytes", func(r *llm.Request) { msg(r, 0, 1).Image.Bytes = []byte{0x89, 'P', 'N', 'G', 1, 2, 4} }},
		{"image format", func(r *llm.Request) { msg(r, 0, 1).Image.Format = "gif" }},
		{"document bytes", func(r *llm.Request) { msg(r, 0, 2).Document.Bytes = []byte("Notes") }},
		{"document name", func(r *llm.Request) { msg(r, 0, 2).Document.Name = "notes2" }},
		{"reasoning", func(r *llm.Request) { msg(r, 1, 0).Text = "thought" }},
		{"reasoning signature", func(r *llm.Request) { msg(r, 1, 0).Signature = "sig2" }},
		{"tool use id", func(r *llm.Request) { msg(r, 1, 1).ToolUse.ID = "t2" }},
		{"tool use input", func(r *llm.Request) { msg(r, 1, 1).ToolUse.Input = json.RawMessage(`{"q":"cat","n":4}`) }},
		{"tool use input number spelling", func(r *llm.Request) { msg(r, 1, 1).ToolUse.Input = json.RawMessage(`{"q":"cat","n":3.0}`) }},
		{"tool result text", func(r *llm.Request) { msg(r, 2, 0).ToolResult.Content[0].Text = "a dog" }},
		{"tool result json", func(r *llm.Request) {
			msg(r, 2, 0).ToolResult.Content[1].JSON = json.RawMessage(`{"score":0.9,"tags":["pet","cat"]}`)
		}},
		{"tool result image", func(r *llm.Request) { msg(r, 2, 0).ToolResult.Content[2].Image.Bytes = []byte{1, 3} }},
		{"tool result status", func(r *llm.Request) { msg(r, 2, 0).ToolResult.Status = "error" }},
		{"cache point block", func(r *llm.Request) { msg(r, 2, 1).CachePoint.TTL = "1h" }},
		{"block type", func(r *llm.Request) { msg(r, 0, 0).Type = llm.BlockReasoning }},
		{"tool name", func(r *llm.Request) { r.Tools.Tools[0].Name = "search" }},
		{"tool description", func(r *llm.Request) { r.Tools.Tools[0].Description = "Looks things up!" }},
		{"tool schema", func(r *llm.Request) {
			r.Tools.Tools[0].InputSchema = json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"number"}},"required":["q"]}`)
		}},
		{"tool cache point", func(r *llm.Request) { r.Tools.Tools = r.Tools.Tools[:1] }},
		{"no tools", func(r *llm.Request) { r.Tools = nil }},
		{"tool choice", func(r *llm.Request) { r.Tools.Choice = llm.ToolChoice{Mode: llm.ToolChoiceAny} }},
		{"tool choice name", func(r *llm.Request) { r.Tools.Choice = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "lookup"} }},
		{"max tokens", func(r *llm.Request) { r.Config.MaxTokens = ptr(201) }},
		{"max tokens unset", func(r *llm.Request) { r.Config.MaxTokens = nil }},
		{"temperature", func(r *llm.Request) { r.Config.Temperature = ptr(0.5) }},
		{"temperature unset", func(r *llm.Request) { r.Config.Temperature = nil }},
		{"top p", func(r *llm.Request) { r.Config.TopP = ptr(0.95) }},
		{"stop sequences", func(r *llm.Request) { r.Config.StopSequences = []string{"END", "STOP"} }},
		{"stop sequences joined", func(r *llm.Request) { r.Config.StopSequences = []string{"EN", "D"} }},
		{"additional fields", func(r *llm.Request) {
			r.Additional = json.RawMessage(`{"top_k":40,"reasoning_config":{"type":"enabled","budget_tokens":1024}}`)
		}},
		{"additional fields unset", func(r *llm.Request) { r.Additional = nil }},
		{"additional fields not JSON", func(r *llm.Request) { r.Additional = json.RawMessage(`{"top_k":50`) }},
		{"messages dropped", func(r *llm.Request) { r.Messages = r.Messages[:2] }},
	}
	base := cache.Key(fullRequest(), "nova-micro", false)
	seen := map[string]string{base: "base"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fullRequest()
			tt.edit(r)
			k := cache.Key(r, "nova-micro", false)
			if prev, dup := seen[k]; dup {
				t.Fatalf("key equals the key of %q", prev)
			}
			seen[k] = tt.name
		})
	}
	if cache.Key(fullRequest(), "nova-lite", false) == base {
		t.Error("another model has the same key")
	}
	if cache.Key(fullRequest(), "nova-micro", true) == base {
		t.Error("a shared key equals a tenant's key")
	}
}

// TestKeySame: what cannot change the answer does not change the key.
func TestKeySame(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(r *llm.Request)
		shared bool
	}{
		{"request id, route, tags, stream, api", func(r *llm.Request) {
			r.Meta.RequestID, r.Meta.Route, r.Meta.Tags = "r2", "other", map[string]string{"team": "b"}
			r.Meta.Stream, r.Meta.API, r.Meta.Cache, r.Meta.KeyID = true, "openai", llm.CacheBypass, "k9"
		}, false},
		{"requested model alias", func(r *llm.Request) { r.Model = "micro"; r.Meta.RequestedModel = "micro" }, false},
		{"tenant when shared", func(r *llm.Request) { r.Meta.Tenant = "globex" }, true},
		{"schema key order and whitespace", func(r *llm.Request) {
			r.Tools.Tools[0].InputSchema = json.RawMessage("{\n  \"required\": [\"q\"],\n  \"properties\": {\"n\": {\"type\": \"integer\"}, \"q\": {\"type\": \"string\"}},\n  \"type\": \"object\"\n}")
		}, false},
		{"tool input key order", func(r *llm.Request) {
			r.Messages[1].Content[1].ToolUse.Input = json.RawMessage(`{ "n": 3, "q": "cat" }`)
		}, false},
		{"tool result json key order", func(r *llm.Request) {
			r.Messages[2].Content[0].ToolResult.Content[1].JSON = json.RawMessage(`{"tags":["cat","pet"],"score":0.9}`)
		}, false},
		{"additional fields key order", func(r *llm.Request) {
			r.Additional = json.RawMessage(`{"reasoning_config":{"budget_tokens":1024,"type":"enabled"},"top_k":50}`)
		}, false},
		{"negative zero temperature", func(r *llm.Request) { r.Config.Temperature = ptr(-0.0) }, false},
		{"copied image bytes", func(r *llm.Request) {
			img := r.Messages[0].Content[1].Image
			img.Bytes = append([]byte(nil), img.Bytes...)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fullRequest()
			tt.edit(r)
			if cache.Key(r, "nova-micro", tt.shared) != cache.Key(fullRequest(), "nova-micro", tt.shared) {
				t.Fatal("key changed")
			}
		})
	}
}

// TestKeyMapOrder: JSON objects with many keys hash the same whatever
// their order, every time (Go randomises map iteration).
func TestKeyMapOrder(t *testing.T) {
	a := fullRequest()
	a.Tools.Tools[0].InputSchema = json.RawMessage(`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":{"x":1,"y":2,"z":3},"h":[{"p":1,"q":2}]}`)
	b := fullRequest()
	b.Tools.Tools[0].InputSchema = json.RawMessage(`{"h":[{"q":2,"p":1}],"g":{"z":3,"y":2,"x":1},"f":6,"e":5,"d":4,"c":3,"b":2,"a":1}`)
	want := cache.Key(a, "m", false)
	for range 50 {
		if cache.Key(b, "m", false) != want || cache.Key(a, "m", false) != want {
			t.Fatal("key depends on JSON key order")
		}
	}
}

// TestKeyOfLongPrompts: a prompt of megabytes is hashed without a copy of
// it.
func TestKeyOfLongPrompts(t *testing.T) {
	req := &llm.Request{Model: "nova-micro", Messages: []llm.Message{{Role: llm.RoleUser,
		Content: []llm.Block{llm.TextBlock(strings.Repeat("a long prompt ", 1<<16))}}}}
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cache.Key(req, "nova-micro", false)
		}
	}).AllocedBytesPerOp()
	if allocs > 64<<10 {
		t.Errorf("the key of an 896 KiB prompt allocated %d KiB", allocs>>10)
	}
}
