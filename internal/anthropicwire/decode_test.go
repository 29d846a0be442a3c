package anthropicwire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

const png1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

func TestDecodeRequest(t *testing.T) {
	req, err := DecodeRequest([]byte(`{
		"model": "claude-sonnet-4-5",
		"max_tokens": 1024,
		"stream": true,
		"system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
		"tools": [{"name": "get_order", "description": "Look up an order", "input_schema": {"type": "object"},
		           "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
		"tool_choice": {"type": "auto"},
		"temperature": 0.2, "top_p": 0.9, "top_k": 40,
		"stop_sequences": ["END"],
		"thinking": {"type": "enabled", "budget_tokens": 2048},
		"metadata": {"user_id": "u-42"},
		"service_tier": "standard_only",
		"messages": [
			{"role": "user", "content": "Where is order 42?"},
			{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "`+png1x1+`"}}]},
			{"role": "assistant", "content": [
				{"type": "thinking", "thinking": "Look it up.", "signature": "sig"},
				{"type": "tool_use", "id": "tu_1", "name": "get_order", "input": {"id": "42"}}]},
			{"role": "user", "content": [
				{"type": "tool_result", "tool_use_id": "tu_1", "content": "shipped", "cache_control": {"type": "ephemeral"}},
				{"type": "document", "title": "Invoice #42", "source": {"type": "text", "media_type": "text/plain", "data": "total 10"}}]}
		]}`), Options{Dialect: API, Betas: []string{"interleaved-thinking-2025-05-14, claude-code-20250219"}})
	if err != nil {
		t.Fatal(err)
	}
	if req.Model != "claude-sonnet-4-5" || !req.Meta.Stream || *req.Config.MaxTokens != 1024 || *req.Config.Temperature != 0.2 ||
		*req.Config.TopP != 0.9 || req.Config.StopSequences[0] != "END" || req.Meta.Tags["user"] != "u-42" || req.ServiceTier != llm.TierDefault {
		t.Errorf("settings: %+v %+v", req, req.Config)
	}
	if len(req.System) != 2 || req.System[0].Text != "You are terse." || req.System[1].CachePoint.TTL != "1h" {
		t.Errorf("system %+v", req.System)
	}
	if tc := req.Tools; len(tc.Tools) != 2 || tc.Tools[0].Name != "get_order" || tc.Tools[1].CachePoint.TTL != "1h" || tc.Choice.Mode != llm.ToolChoiceAuto {
		t.Errorf("tools %+v", req.Tools)
	}
	// Two user turns merged; the tool result's cache point follows it.
	if len(req.Messages) != 3 || len(req.Messages[0].Content) != 2 || req.Messages[0].Content[1].Image.Format != "png" {
		t.Fatalf("messages %+v", req.Messages)
	}
	a := req.Messages[1].Content
	if a[0].Type != llm.BlockReasoning || a[0].Signature != "sig" || string(a[1].ToolUse.Input) != `{"id": "42"}` {
		t.Errorf("assistant %+v", a)
	}
	u := req.Messages[2].Content
	if u[0].ToolResult.Content[0].Text != "shipped" || u[1].Type != llm.BlockCachePoint || u[1].CachePoint.TTL != "" ||
		u[2].Document.Name != "Invoice 42" || u[2].Document.Format != "txt" {
		t.Errorf("user %+v", u)
	}
	var add map[string]json.RawMessage
	if err := json.Unmarshal(req.Additional, &add); err != nil {
		t.Fatal(err)
	}
	if string(add["top_k"]) != "40" || !strings.Contains(string(add["thinking"]), "2048") ||
		string(add["anthropic_beta"]) != `["interleaved-thinking-2025-05-14"]` || len(add) != 3 {
		t.Errorf("additional %s", req.Additional)
	}
}

func TestDecodeBedrockDialect(t *testing.T) {
	req, err := DecodeRequest([]byte(`{"anthropic_version": "bedrock-2023-05-31", "anthropic_beta": ["context-1m-2025-08-07"],
		"max_tokens": 10, "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}],
		"cache_control": {"type": "ephemeral"}}`), Options{Dialect: Bedrock})
	if err != nil {
		t.Fatal(err)
	}
	if req.Model != "" || req.System[0].Text != "Be brief." || string(req.Additional) != `{"anthropic_beta":["context-1m-2025-08-07"]}` {
		t.Errorf("%+v additional %s", req, req.Additional)
	}
	if c := req.Messages[0].Content; len(c) != 2 || c[1].Type != llm.BlockCachePoint {
		t.Errorf("automatic cache point: %+v", c)
	}
}

func TestDecodeErrors(t *testing.T) {
	msgs := `"messages": [{"role": "user", "content": "hi"}]`
	cases := []struct {
		name    string
		dialect Dialect
		body    string
		kind    llm.ErrorKind
		want    string
	}{
		{"empty", API, ``, llm.KindValidation, "request body: is empty"},
		{"not json", API, `{"model":`, llm.KindValidation, "not valid JSON"},
		{"array", API, `[]`, llm.KindValidation, "expected an object"},
		{"no model", API, `{"max_tokens": 5, ` + msgs + `}`, llm.KindValidation, "model: field required"},
		{"no max_tokens", API, `{"model": "m", ` + msgs + `}`, llm.KindValidation, "max_tokens: field required"},
		{"zero max_tokens", API, `{"model": "m", "max_tokens": 0, ` + msgs + `}`, llm.KindValidation, "max_tokens: must be at least 1"},
		{"max_tokens type", API, `{"model": "m", "max_tokens": "5", ` + msgs + `}`, llm.KindValidation, "max_tokens: expected an integer"},
		{"unknown field", API, `{"model": "m", "max_tokens": 5, "foo": 1, ` + msgs + `}`, llm.KindValidation, "foo: extra inputs are not permitted"},
		{"no messages", API, `{"model": "m", "max_tokens": 5}`, llm.KindValidation, "messages: field required"},
		{"empty messages", API, `{"model": "m", "max_tokens": 5, "messages": []}`, llm.KindValidation, "at least one message"},
		{"assistant first", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]}`, llm.KindValidation, "messages[0].role"},
		{"bad role", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}`, llm.KindValidation, "messages[0].role"},
		{"empty text", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}`, llm.KindValidation, "messages[0].content[0].text: text content blocks must be non-empty"},
		{"block field", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "bogus": 1}]}]}`, llm.KindValidation, "messages[0].content[0].bogus: extra inputs"},
		{"temperature", API, `{"model": "m", "max_tokens": 5, "temperature": 1.5, ` + msgs + `}`, llm.KindValidation, "temperature: must be between 0 and 1"},
		{"top_k", API, `{"model": "m", "max_tokens": 5, "top_k": -1, ` + msgs + `}`, llm.KindValidation, "top_k: must be at least 0"},
		{"thinking budget", API, `{"model": "m", "max_tokens": 5, "thinking": {"type": "enabled", "budget_tokens": 10}, ` + msgs + `}`, llm.KindValidation, "thinking.budget_tokens"},
		{"url image", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]}`, llm.KindUnsupported, "messages[0].content[0].source.type: URL sources"},
		{"image media type", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}]}]}`, llm.KindValidation, "source.media_type"},
		{"bad base64", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "***"}}]}]}`, llm.KindValidation, "source.data: invalid base64"},
		{"server tool", API, `{"model": "m", "max_tokens": 5, "tools": [{"type": "web_search_20250305", "name": "web_search"}], ` + msgs + `}`, llm.KindUnsupported, "tools[0].type"},
		{"tool no schema", API, `{"model": "m", "max_tokens": 5, "tools": [{"name": "t"}], ` + msgs + `}`, llm.KindValidation, "tools[0].input_schema: field required"},
		{"tool name", API, `{"model": "m", "max_tokens": 5, "tools": [{"name": "a b", "input_schema": {}}], ` + msgs + `}`, llm.KindValidation, "tools[0].name"},
		{"long tool name", API, `{"model": "m", "max_tokens": 5, "tools": [{"name": "` + strings.Repeat("a", 65) + `", "input_schema": {}}], ` + msgs + `}`, llm.KindUnsupported, "at most 64"},
		{"duplicate tool", API, `{"model": "m", "max_tokens": 5, "tools": [{"name": "t", "input_schema": {}}, {"name": "t", "input_schema": {}}], ` + msgs + `}`, llm.KindValidation, "unique"},
		{"tool choice name", API, `{"model": "m", "max_tokens": 5, "tools": [{"name": "t", "input_schema": {}}], "tool_choice": {"type": "tool", "name": "u"}, ` + msgs + `}`, llm.KindValidation, "tool_choice.name"},
		{"parallel", API, `{"model": "m", "max_tokens": 5, "tools": [{"name": "t", "input_schema": {}}], "tool_choice": {"type": "auto", "disable_parallel_tool_use": true}, ` + msgs + `}`, llm.KindUnsupported, "disable_parallel_tool_use"},
		{"choice without tools", API, `{"model": "m", "max_tokens": 5, "tool_choice": {"type": "any"}, ` + msgs + `}`, llm.KindValidation, "tool_choice: requires tools"},
		{"cache type", API, `{"model": "m", "max_tokens": 5, "system": [{"type": "text", "text": "s", "cache_control": {"type": "persistent"}}], ` + msgs + `}`, llm.KindValidation, "system[0].cache_control.type"},
		{"cache ttl", API, `{"model": "m", "max_tokens": 5, "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "2h"}}], ` + msgs + `}`, llm.KindValidation, "cache_control.ttl"},
		{"ttl order", API, `{"model": "m", "max_tokens": 5, "tools": [{"name": "t", "input_schema": {}, "cache_control": {"type": "ephemeral"}}],
			"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}], ` + msgs + `}`, llm.KindValidation, `system[0].cache_control.ttl: a cache_control block with ttl "1h" must not come after one with ttl "5m" (tools[0].cache_control)`},
		{"five cache points", API, `{"model": "m", "max_tokens": 5, "system": [` + strings.Repeat(`{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}},`, 4) +
			`{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}], ` + msgs + `}`, llm.KindValidation, "a maximum of 4 blocks"},
		{"redacted thinking", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}]}]}`, llm.KindUnsupported, "redacted"},
		{"unknown block", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "video"}]}]}`, llm.KindValidation, `unknown content block type "video"`},
		{"citations", API, `{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document", "citations": {"enabled": true}, "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]}]}`, llm.KindUnsupported, "citations"},
		{"mcp servers", API, `{"model": "m", "max_tokens": 5, "mcp_servers": [], ` + msgs + `}`, llm.KindUnsupported, "mcp_servers"},
		{"service tier", API, `{"model": "m", "max_tokens": 5, "service_tier": "gold", ` + msgs + `}`, llm.KindValidation, "service_tier"},
		{"version in api", API, `{"model": "m", "anthropic_version": "x", "max_tokens": 5, ` + msgs + `}`, llm.KindValidation, "anthropic_version"},
		{"bedrock no version", Bedrock, `{"max_tokens": 5, ` + msgs + `}`, llm.KindValidation, "anthropic_version: field required"},
		{"bedrock model", Bedrock, `{"anthropic_version": "bedrock-2023-05-31", "model": "m", "max_tokens": 5, ` + msgs + `}`, llm.KindValidation, "model: extra inputs"},
		{"bedrock stream", Bedrock, `{"anthropic_version": "bedrock-2023-05-31", "stream": true, "max_tokens": 5, ` + msgs + `}`, llm.KindValidation, "stream: extra inputs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tc.body), Options{Dialect: tc.dialect})
			if err == nil {
				t.Fatal("no error")
			}
			if llm.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %s %q, want %s containing %q", llm.KindOf(err), err, tc.kind, tc.want)
			}
		})
	}
}

func TestToolChoiceNoneOffersNoTools(t *testing.T) {
	req, err := DecodeRequest([]byte(`{"model": "m", "max_tokens": 5, "tools": [{"name": "t", "input_schema": {}}],
		"tool_choice": {"type": "none"}, "messages": [{"role": "user", "content": "hi"}]}`), Options{})
	if err != nil || req.Tools != nil {
		t.Fatalf("%v %+v", err, req.Tools)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`), false)
	f.Add([]byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"text","text":"x"}]}]}]}`), true)
	f.Add([]byte(`{"model":"m","max_tokens":5,"tools":[{"name":"t","input_schema":{}}],"tool_choice":{"type":"tool","name":"t"},"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}`), false)
	f.Fuzz(func(t *testing.T, body []byte, bedrock bool) {
		o := Options{}
		if bedrock {
			o.Dialect = Bedrock
		}
		req, err := DecodeRequest(body, o)
		if err != nil {
			if llm.KindOf(err) != llm.KindValidation && llm.KindOf(err) != llm.KindUnsupported {
				t.Fatalf("error of kind %s: %v", llm.KindOf(err), err)
			}
			return
		}
		if len(req.Messages) == 0 || req.Messages[0].Role != llm.RoleUser || req.Config.MaxTokens == nil {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
		for i := 1; i < len(req.Messages); i++ {
			if req.Messages[i].Role == req.Messages[i-1].Role {
				t.Fatalf("roles do not alternate: %+v", req.Messages)
			}
		}
		if len(req.Additional) > 0 && !json.Valid(req.Additional) {
			t.Fatalf("additional fields are not JSON: %s", req.Additional)
		}
	})
}
