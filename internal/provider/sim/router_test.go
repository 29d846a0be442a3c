package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestPromptRouter(t *testing.T) {
	p := newSim(t, Options{})
	const arn = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/"
	for _, tc := range []struct {
		router, prompt, want string
	}{
		{"anthropic.claude:1", "Hi there!", "anthropic.claude-3-5-haiku-20241022-v1:0"},
		{"anthropic.claude:1", "Explain step by step how to design a multi-region failover.", "anthropic.claude-3-7-sonnet-20250219-v1:0"},
		{"meta.llama:1", "What is 2+2?", "meta.llama3-1-8b-instruct-v1:0"},
		{"meta.llama:1", "Analyze this code for race conditions.", "meta.llama3-1-70b-instruct-v1:0"},
		{"amazon.nova:1", "Thanks!", "amazon.nova-lite-v1:0"},
		{"amazon.nova:1", "Compare three caching strategies in detail.", "amazon.nova-pro-v1:0"},
	} {
		t.Run(tc.router+" "+tc.prompt, func(t *testing.T) {
			resp := invoke(t, p, ask(arn+tc.router, tc.prompt))
			if resp.InvokedModel != tc.want || !strings.HasPrefix(resp.Text(), "[simulated "+tc.want+"] ") {
				t.Errorf("routed to %q: %.60q", resp.InvokedModel, resp.Text())
			}
		})
	}
	if resp := invoke(t, p, ask("nova-pro", "hi")); resp.InvokedModel != "" {
		t.Errorf("InvokedModel %q set without a router", resp.InvokedModel)
	}
	_, err := p.Invoke(context.Background(), ask("arn:aws:bedrock:us-east-1:123456789012:prompt-router/abc123xyz", "hi"))
	wantErr(t, err, llm.KindNotFound, "ResourceNotFoundException")
}
