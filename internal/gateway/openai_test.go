package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/route"
)

func openaiClient(e *env) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.URL+"/v1"), option.WithAPIKey("test"), option.WithMaxRetries(0))
}

func TestOpenAIChat(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := openaiClient(e)
	var httpResp *http.Response
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "nova-micro",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are terse."),
			openai.UserMessage("How do I reset my password?"),
		},
		MaxTokens: openai.Int(200),
	}, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || !strings.HasPrefix(resp.Choices[0].Message.Content, "[simulated amazon.nova-micro-v1:0]") {
		t.Fatalf("answer: %+v", resp.Choices)
	}
	if resp.Choices[0].FinishReason != "stop" && resp.Choices[0].FinishReason != "length" {
		t.Errorf("finish reason %q", resp.Choices[0].FinishReason)
	}
	if resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Errorf("usage: %+v", resp.Usage)
	}
	h := httpResp.Header
	id := h.Get(HeaderRequestID)
	if id == "" || h.Get(HeaderModel) != "nova-micro" || h.Get(HeaderCache) != "miss" || h.Get(HeaderCost) == "" || h.Get(HeaderProvider) != "sim" {
		t.Errorf("penny headers: %v", h)
	}
	rec := e.record(id)
	if rec.Status != ledger.StatusOK || rec.Model != "nova-micro" || rec.ModelRequested != "nova-micro" || rec.API != "openai" ||
		rec.InputTokens != int(resp.Usage.PromptTokens) || rec.OutputTokens != int(resp.Usage.CompletionTokens) || rec.Cost <= 0 ||
		rec.Cost.Exact() != h.Get(HeaderCost) || rec.BaselineCost != rec.Cost || rec.Tenant != "default" {
		t.Errorf("ledger record: %+v (header cost %s)", rec, h.Get(HeaderCost))
	}
}

func TestOpenAIStreamWithUsage(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := openaiClient(e)
	var httpResp *http.Response
	st := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "us.amazon.nova-lite-v1:0",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Explain step by step how to debug a crash loop.")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}, option.WithResponseInto(&httpResp))
	var text strings.Builder
	var usage openai.CompletionUsage
	chunks, finish := 0, ""
	for st.Next() {
		ch := st.Current()
		chunks++
		if len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
			if ch.Choices[0].FinishReason != "" {
				finish = ch.Choices[0].FinishReason
			}
		}
		if ch.Usage.TotalTokens > 0 {
			usage = ch.Usage
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks < 4 || !strings.HasPrefix(text.String(), "[simulated amazon.nova-lite-v1:0]") || finish == "" {
		t.Errorf("stream: %d chunks, finish %q, text %q", chunks, finish, text.String())
	}
	if usage.CompletionTokens == 0 {
		t.Fatalf("no usage chunk")
	}
	if httpResp.Header.Get("Content-Type") != "text/event-stream" || httpResp.Header.Get(HeaderModel) != "nova-lite" {
		t.Errorf("headers: %v", httpResp.Header)
	}
	if got := httpResp.Trailer.Get(HeaderCost); got == "" || got == "0.000000000" {
		t.Errorf("cost trailer %q", got)
	}
	rec := e.record(httpResp.Header.Get(HeaderRequestID))
	if !rec.Stream || rec.OutputTokens != int(usage.CompletionTokens) || rec.TTFT <= 0 || rec.TTFT > rec.Latency || rec.Cost.Exact() != httpResp.Trailer.Get(HeaderCost) {
		t.Errorf("ledger: %+v", rec)
	}
}

func TestOpenAIToolCalls(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := openaiClient(e)
	params := openai.ChatCompletionNewParams{
		Model:    "nova-pro",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the status of order 42?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        "get_order_status",
			Description: openai.String("Look up an order's status"),
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"order_id": map[string]any{"type": "string"}},
				"required": []string{"order_id"}},
		})},
		ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
	}
	resp, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	msg := resp.Choices[0].Message
	if resp.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_order_status" {
		t.Fatalf("expected a tool call: %+v", resp.Choices[0])
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(msg.ToolCalls[0].Function.Arguments), &args); err != nil || args["order_id"] == nil {
		t.Fatalf("tool arguments %q: %v", msg.ToolCalls[0].Function.Arguments, err)
	}
	// Send the tool result back: the conversation must translate to Converse.
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(`{"status":"shipped"}`, msg.ToolCalls[0].ID))
	params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("auto")}
	resp, err = c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content == "" {
		t.Errorf("no answer after the tool result: %+v", resp.Choices[0])
	}
}

func TestOpenAIRoute(t *testing.T) {
	e := newEnv(t, envOptions{routes: []route.Config{{
		Name: "support", Baseline: "nova-pro",
		Tiers: []route.Tier{{Name: "simple", Model: "nova-micro"}, {Name: "complex", Model: "nova-lite"}},
		Rules: []route.Rule{{Tier: "complex", When: route.Match{Keywords: []string{"error"}}}},
	}}})
	c := openaiClient(e)
	for _, tc := range []struct{ prompt, model string }{{"hi, what are your hours?", "nova-micro"}, {"I get an error on deploy", "nova-lite"}} {
		var httpResp *http.Response
		_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "support", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(tc.prompt)},
		}, option.WithResponseInto(&httpResp), option.WithHeader("X-Penny-Tags", "team=support"), option.WithHeader("X-Penny-Tenant", "acme"))
		if err != nil {
			t.Fatal(err)
		}
		if httpResp.Header.Get(HeaderModel) != tc.model || httpResp.Header.Get(HeaderRoute) != "support" {
			t.Errorf("%q: routed to %s via %q", tc.prompt, httpResp.Header.Get(HeaderModel), httpResp.Header.Get(HeaderRoute))
		}
		rec := e.record(httpResp.Header.Get(HeaderRequestID))
		if rec.Route != "support" || rec.BaselineModel != "nova-pro" || rec.Model != tc.model || rec.Strategy != "routing" ||
			rec.BaselineCost <= rec.Cost || rec.Tenant != "acme" || rec.Tags["team"] != "support" || rec.ModelRequested != "support" {
			t.Errorf("ledger: %+v", rec)
		}
	}
}

func TestOpenAIModels(t *testing.T) {
	e := newEnv(t, envOptions{routes: []route.Config{{Name: "support", Baseline: "nova-pro", Tiers: []route.Tier{{Model: "nova-micro"}}}}})
	c := openaiClient(e)
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range page.Data {
		ids[m.ID] = true
	}
	if !ids["nova-micro"] || !ids["claude-sonnet-4"] || !ids["support"] || ids["titan-embed-text-v2"] {
		t.Errorf("models: %v", ids)
	}
}

// TestOpenAIErrors sends bad input and upstream faults and checks each gets
// a precise OpenAI error with the right status, and a ledger record.
func TestOpenAIErrors(t *testing.T) {
	e := newEnv(t, envOptions{maxBody: 4096, simOpts: sim.Options{Faults: sim.Faults{Models: map[string]sim.FaultRates{"nova-pro": {Throttle: 1}}}}})
	cases := []struct {
		name, body string
		status     int
		kind       llm.ErrorKind
		msg        string
	}{
		{"malformed JSON", `{"model": "nova-micro", "messages": [`, 400, llm.KindValidation, "not valid JSON"},
		{"wrong type", `{"model": "nova-micro", "max_tokens": "ten", "messages": [{"role":"user","content":"hi"}]}`, 400, llm.KindValidation, "max_tokens"},
		{"missing messages", `{"model": "nova-micro"}`, 400, llm.KindValidation, "messages"},
		{"unknown field", `{"model": "nova-micro", "messages": [{"role":"user","content":"hi"}], "temprature": 1}`, 400, llm.KindValidation, "temprature"},
		{"unsupported n", `{"model": "nova-micro", "n": 3, "messages": [{"role":"user","content":"hi"}]}`, 400, llm.KindUnsupported, "n:"},
		{"unknown model", `{"model": "gpt-9", "messages": [{"role":"user","content":"hi"}]}`, 404, llm.KindNotFound, "gpt-9"},
		{"embedding model", `{"model": "titan-embed-text-v2", "messages": [{"role":"user","content":"hi"}]}`, 400, llm.KindValidation, "does not support chat"},
		{"image to text-only model", `{"model": "nova-micro", "messages": [{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`, 400, llm.KindUnsupported, "images"},
		{"max_tokens over model limit", `{"model": "nova-micro", "max_tokens": 50000, "messages": [{"role":"user","content":"hi"}]}`, 400, llm.KindValidation, "10000"},
		{"oversized body", `{"model": "nova-micro", "messages": [{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`, 413, llm.KindTooLarge, "4096"},
		{"throttled upstream", `{"model": "nova-pro", "messages": [{"role":"user","content":"hi"}]}`, 429, llm.KindThrottled, "Too many tokens"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.URL+"/v1/chat/completions", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(HeaderTenant, "acme")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct {
					Message, Type string
					Code          *string
				}
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("not an OpenAI error body: %s", raw)
			}
			if resp.StatusCode != tc.status || !strings.Contains(body.Error.Message, tc.msg) || body.Error.Type == "" {
				t.Errorf("got %d %+v, want %d mentioning %q", resp.StatusCode, body.Error, tc.status, tc.msg)
			}
			if tc.status == 429 && resp.Header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
			}
			rec := e.record(resp.Header.Get(HeaderRequestID))
			if rec.Status != ledger.StatusError || rec.ErrorKind != string(tc.kind) || rec.HTTPStatus != tc.status {
				t.Errorf("ledger: status %s kind %s http %d, want kind %s", rec.Status, rec.ErrorKind, rec.HTTPStatus, tc.kind)
			}
			// Attributed even when the body could not be decoded, and
			// refusals name the model asked for.
			undecodable := tc.name == "malformed JSON" || tc.name == "oversized body"
			if rec.Tenant != "acme" || (!undecodable && (rec.ModelRequested == "" || rec.Model == "")) {
				t.Errorf("ledger attribution: tenant %q model requested %q recorded %q", rec.Tenant, rec.ModelRequested, rec.Model)
			}
		})
	}
	// The SDK surfaces the status.
	client := openaiClient(e)
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-9", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("SDK error: %v", err)
	}
}

func TestOpenAIMidStreamError(t *testing.T) {
	e := newEnv(t, envOptions{simOpts: sim.Options{Faults: sim.Faults{FaultRates: sim.FaultRates{MidStream: 1}}}})
	client := openaiClient(e)
	st := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "nova-micro", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Write a long story about a cat.")},
	})
	for st.Next() {
	}
	if st.Err() == nil {
		t.Fatal("expected the stream to fail")
	}
	recs := e.waitRecords(1)
	if len(recs) != 1 || recs[0].Status != ledger.StatusError || recs[0].ErrorKind != string(llm.KindModelError) {
		t.Fatalf("ledger: %+v", recs)
	}
	if r := recs[0]; !r.UsageEstimated || r.InputTokens == 0 || r.OutputTokens == 0 || r.Cost <= 0 || r.HTTPStatus != 200 {
		t.Errorf("cut-short stream not priced: %+v", r)
	}
}

func TestOpenAIUnknownEndpoints(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{{"GET", "/v1/chat/completions", 405, "method_not_allowed"}, {"POST", "/v1/nope", 404, "unknown_endpoint"}, {"DELETE", "/v1/models", 405, "method_not_allowed"}} {
		req, _ := http.NewRequest(tc.method, e.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Message, Type, Code string }
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || err != nil || body.Error.Message == "" || body.Error.Code != tc.code || resp.Header.Get(HeaderRequestID) == "" {
			t.Errorf("%s %s: %d %+v %v", tc.method, tc.path, resp.StatusCode, body, err)
		}
	}
}

// TestClientDisconnectIsRecorded drops a stream mid-way: the record must
// still land, priced on what was sent.
func TestClientDisconnectIsRecorded(t *testing.T) {
	e := newEnv(t, envOptions{simOpts: sim.Options{TimeScale: 0.2}})
	ctx, cancel := context.WithCancel(context.Background())
	body := `{"model":"nova-micro","stream":true,"messages":[{"role":"user","content":"Explain step by step how DNS resolution works."}]}`
	req, _ := http.NewRequestWithContext(ctx, "POST", e.URL+"/v1/chat/completions", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	if _, err := io.ReadAtLeast(resp.Body, buf, 100); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	recs := e.waitRecords(1)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.ErrorKind != string(llm.KindCanceled) || !r.UsageEstimated || r.InputTokens == 0 || r.Cost <= 0 {
		t.Errorf("disconnect record: %+v", r)
	}
}
