package cache_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/cache/memory"
	"github.com/penny-gateway/penny/internal/llm"
)

// typicalRequest is a support chatbot turn: a 1 KB system prompt, a short
// conversation and two tools.
func typicalRequest() *llm.Request {
	user := func(s string) llm.Message {
		return llm.Message{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(s)}}
	}
	asst := func(s string) llm.Message {
		return llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock(s)}}
	}
	return &llm.Request{
		Model:  "nova-micro",
		System: []llm.SystemBlock{{Text: strings.Repeat("You are Acme's support assistant. Answer briefly and cite the help centre. ", 14)}},
		Messages: []llm.Message{
			user("Hi, I can't log in to my account since this morning."),
			asst("Sorry to hear that. Did you change your password recently, or do you see an error message?"),
			user("It says 'invalid credentials' but I'm sure the password is right. How do I reset it?"),
		},
		Config: llm.InferenceConfig{MaxTokens: ptr(512), Temperature: ptr(0.0)},
		Tools: &llm.ToolConfig{Tools: []llm.Tool{
			{Name: "lookup_account", Description: "Finds a customer's account by email.", InputSchema: json.RawMessage(`{"type":"object","properties":{"email":{"type":"string","format":"email"}},"required":["email"]}`)},
			{Name: "send_reset_link", Description: "Emails a password reset link.", InputSchema: json.RawMessage(`{"type":"object","properties":{"account_id":{"type":"string"},"locale":{"type":"string","enum":["en","fr","de"]}},"required":["account_id"]}`)},
		}},
		Meta: llm.Meta{Tenant: "acme", Cache: llm.CacheMiss},
	}
}

func BenchmarkKey(b *testing.B) {
	req := typicalRequest()
	b.ReportAllocs()
	for b.Loop() {
		cache.Key(req, "nova-micro", false)
	}
}

func BenchmarkKeyNoTools(b *testing.B) {
	req := typicalRequest()
	req.Tools = nil
	b.ReportAllocs()
	for b.Loop() {
		cache.Key(req, "nova-micro", false)
	}
}

// BenchmarkStageHit is the whole hit path on the in-process backend: plan,
// key, Get, decode.
func BenchmarkStageHit(b *testing.B) {
	backend := memory.New(64 << 20)
	defer backend.Close()
	up := &upstream{answer: func(*llm.Request) *llm.Response {
		return textAnswer(strings.Repeat("To reset your password, open the sign-in page and choose 'Forgot password'. ", 8))
	}}
	inv := llm.Chain(up, cache.Stage(cache.Options{Backend: backend, Default: cache.Policy{Enabled: true}}))
	ctx := context.Background()
	if _, err := inv.Invoke(ctx, typicalRequest()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req := typicalRequest()
		if _, err := inv.Invoke(ctx, req); err != nil || req.Meta.Cache != llm.CacheHit {
			b.Fatal(err, req.Meta.Cache)
		}
	}
}
