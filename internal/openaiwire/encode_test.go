package openaiwire_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// jsonEqual fails t unless got marshals to the same JSON value as want.
func jsonEqual(t *testing.T, got any, want string) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var gv, wv any
	if err := json.Unmarshal(g, &gv); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &wv); err != nil {
		t.Fatalf("bad want JSON: %v", err)
	}
	if !reflect.DeepEqual(gv, wv) {
		t.Errorf("JSON mismatch\n got: %s\nwant: %s", g, want)
	}
}

var (
	textAnswer = &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("Hello "), llm.TextBlock("there.")}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 12, OutputTokens: 3},
	}
	toolAnswer = &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_1", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)}},
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_2", Name: "time", Input: nil}},
		}},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 50, CacheWriteTokens: 30},
	}
)

func TestEncodeResponse(t *testing.T) {
	tests := []struct {
		name string
		resp *llm.Response
		want string
	}{{
		name: "text answer",
		resp: textAnswer,
		want: `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"haiku",
			"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there.","refusal":null},"finish_reason":"stop","logprobs":null}],
			"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0}}}`,
	}, {
		name: "tool-call answer with cached tokens",
		resp: toolAnswer,
		want: `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"haiku",
			"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[
				{"id":"tu_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
				{"id":"tu_2","type":"function","function":{"name":"time","arguments":"{}"}}]},
				"finish_reason":"tool_calls","logprobs":null}],
			"usage":{"prompt_tokens":180,"completion_tokens":20,"total_tokens":200,"prompt_tokens_details":{"cached_tokens":50,"cache_write_tokens":30}}}`,
	}, {
		name: "length and content filter",
		resp: &llm.Response{StopReason: llm.StopMaxTokens},
		want: `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"haiku",
			"choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":null},"finish_reason":"length","logprobs":null}],
			"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0}}}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jsonEqual(t, openaiwire.EncodeResponse(tt.resp, "chatcmpl-1", "haiku", 1700000000), tt.want)
		})
	}
}

func TestFinishReason(t *testing.T) {
	for stop, want := range map[llm.StopReason]string{
		llm.StopEndTurn: "stop", llm.StopSequence: "stop", llm.StopToolUse: "tool_calls",
		llm.StopMaxTokens: "length", llm.StopContextWindow: "length",
		llm.StopGuardrail: "content_filter", llm.StopContentFilter: "content_filter", "": "stop",
	} {
		if got := openaiwire.FinishReason(stop); got != want {
			t.Errorf("FinishReason(%q) = %q, want %q", stop, got, want)
		}
	}
}

// encodeStream runs events through a ChunkEncoder and returns the chunks as
// JSON, one string per chunk.
func encodeStream(enc *openaiwire.ChunkEncoder, evs []llm.Event) []string {
	var out []string
	for _, ev := range evs {
		for _, ch := range enc.Encode(ev) {
			b, _ := json.Marshal(ch)
			out = append(out, string(b))
		}
	}
	return out
}

func TestChunkEncoder(t *testing.T) {
	mixed := &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			llm.TextBlock("Let me check."),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_1", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)}},
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_2", Name: "time", Input: json.RawMessage(`{}`)}},
		}},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 4},
	}
	const head = `"id":"c","object":"chat.completion.chunk","created":7,"model":"m"`
	tests := []struct {
		name         string
		resp         *llm.Response
		includeUsage bool
		want         []string
	}{{
		name: "text without usage",
		resp: textAnswer,
		want: []string{
			`{` + head + `,"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null,"logprobs":null}]}`,
			`{` + head + `,"choices":[{"index":0,"delta":{"content":"Hello ","refusal":null},"finish_reason":null,"logprobs":null}]}`,
			`{` + head + `,"choices":[{"index":0,"delta":{"content":"there.","refusal":null},"finish_reason":null,"logprobs":null}]}`,
			`{` + head + `,"choices":[{"index":0,"delta":{"content":null,"refusal":null},"finish_reason":"stop","logprobs":null}]}`,
		},
	}, {
		name:         "text and tool calls with usage",
		resp:         mixed,
		includeUsage: true,
		want: []string{
			`{` + head + `,"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null,"logprobs":null}]}`,
			`{` + head + `,"choices":[{"index":0,"delta":{"content":"Let me check.","refusal":null},"finish_reason":null,"logprobs":null}]}`,
			`{` + head + `,"choices":[{"index":0,"delta":{"content":null,"refusal":null,"tool_calls":[{"index":0,"id":"tu_1","type":"function","function":{"name":"weather","arguments":""}}]},"finish_reason":null,"logprobs":null}]}`,
			`{` + head + `,"choices":[{"index":0,"delta":{"content":null,"refusal":null,"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":null,"logprobs":null}]}`,
			`{` + head + `,"choices":[{"index":0,"delta":{"content":null,"refusal":null,"tool_calls":[{"index":1,"id":"tu_2","type":"function","function":{"name":"time","arguments":""}}]},"finish_reason":null,"logprobs":null}]}`,
			`{` + head + `,"choices":[{"index":0,"delta":{"content":null,"refusal":null,"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]},"finish_reason":null,"logprobs":null}]}`,
			`{` + head + `,"choices":[{"index":0,"delta":{"content":null,"refusal":null},"finish_reason":"tool_calls","logprobs":null}]}`,
			`{` + head + `,"choices":[],"usage":{"prompt_tokens":14,"completion_tokens":5,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":4}}}`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := &openaiwire.ChunkEncoder{ID: "c", Model: "m", Created: 7, IncludeUsage: tt.includeUsage}
			got := encodeStream(enc, llm.EventsOf(tt.resp))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d chunks, want %d:\n%s", len(got), len(tt.want), got)
			}
			for i := range got {
				jsonEqual(t, json.RawMessage(got[i]), tt.want[i])
			}
		})
	}
}

func TestErrorFor(t *testing.T) {
	tests := []struct {
		err    error
		status int
		typ    string
		code   string
	}{
		{llm.Errorf(llm.KindValidation, "bad"), 400, "invalid_request_error", "invalid_request"},
		{llm.Errorf(llm.KindUnsupported, "no"), 400, "invalid_request_error", "unsupported_parameter"},
		{llm.Errorf(llm.KindUnauthorized, "who"), 401, "authentication_error", "invalid_api_key"},
		{llm.Errorf(llm.KindForbidden, "no"), 403, "permission_error", "permission_denied"},
		{llm.Errorf(llm.KindNotFound, "?"), 404, "invalid_request_error", "model_not_found"},
		{llm.Errorf(llm.KindTooLarge, "big"), 413, "invalid_request_error", "request_too_large"},
		{llm.Errorf(llm.KindThrottled, "slow"), 429, "rate_limit_error", "rate_limit_exceeded"},
		{llm.Errorf(llm.KindBudget, "spent"), 429, "insufficient_quota", "budget_exceeded"},
		{llm.Errorf(llm.KindModelNotReady, "wait"), 503, "server_error", "model_not_ready"},
		{llm.Errorf(llm.KindUnavailable, "down"), 503, "server_error", "upstream_unavailable"},
		{llm.Errorf(llm.KindTimeout, "late"), 504, "timeout_error", "upstream_timeout"},
		{llm.Errorf(llm.KindModelError, "oops"), 502, "server_error", "model_error"},
		{llm.Errorf(llm.KindCanceled, "gone"), 499, "invalid_request_error", "client_closed_request"},
		{llm.Errorf(llm.KindInternal, "bug"), 500, "server_error", "internal_error"},
		{errors.New("plain"), 500, "server_error", "internal_error"},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), 504, "timeout_error", "upstream_timeout"},
		{fmt.Errorf("call: %w", context.Canceled), 499, "invalid_request_error", "client_closed_request"},
		{&llm.Error{Kind: "made_up", Message: "x"}, 500, "server_error", "internal_error"},
		{nil, 500, "server_error", "internal_error"},
	}
	for _, tt := range tests {
		name := "nil"
		if tt.err != nil {
			name = tt.err.Error()
		}
		t.Run(name, func(t *testing.T) {
			status, body := openaiwire.ErrorFor(tt.err)
			if status != tt.status || body.Error.Type != tt.typ || body.Error.Code == nil || *body.Error.Code != tt.code {
				t.Errorf("ErrorFor = %d %s %v, want %d %s %s", status, body.Error.Type, body.Error.Code, tt.status, tt.typ, tt.code)
			}
			if tt.err != nil && body.Error.Message != tt.err.Error() {
				t.Errorf("message = %q", body.Error.Message)
			}
			if got := openaiwire.StatusFor(llm.KindOf(tt.err)); tt.err != nil && got != status {
				t.Errorf("StatusFor = %d, ErrorFor %d", got, status)
			}
		})
	}
	t.Run("upstream named", func(t *testing.T) {
		_, body := openaiwire.ErrorFor(&llm.Error{Kind: llm.KindThrottled, Message: "slow down", Upstream: "ThrottlingException"})
		if want := "slow down (upstream: ThrottlingException)"; body.Error.Message != want {
			t.Errorf("message = %q, want %q", body.Error.Message, want)
		}
		b, _ := json.Marshal(body)
		jsonEqual(t, json.RawMessage(b), `{"error":{"message":"slow down (upstream: ThrottlingException)","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`)
	})
	t.Run("parameter named", func(t *testing.T) {
		_, _, err := openaiwire.DecodeRequest([]byte(`{"model":"m","seed":7,"messages":[{"role":"user","content":"x"}]}`))
		_, body := openaiwire.ErrorFor(err)
		if body.Error.Param == nil || *body.Error.Param != "seed" || *body.Error.Code != "unsupported_parameter" {
			t.Errorf("error = %+v, want param seed", body.Error)
		}
	})
}

func TestKindForStatus(t *testing.T) {
	for status, want := range map[int]llm.ErrorKind{
		400: llm.KindValidation, 422: llm.KindValidation, 401: llm.KindUnauthorized, 403: llm.KindForbidden,
		404: llm.KindNotFound, 413: llm.KindTooLarge, 429: llm.KindThrottled, 408: llm.KindTimeout, 504: llm.KindTimeout,
		500: llm.KindUnavailable, 502: llm.KindUnavailable, 503: llm.KindUnavailable, 409: llm.KindInternal, 302: llm.KindInternal,
	} {
		if got := openaiwire.KindForStatus(status); got != want {
			t.Errorf("KindForStatus(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", 300 * time.Millisecond: "1", time.Second: "1", 1500 * time.Millisecond: "2", 30 * time.Second: "30"} {
		if got := openaiwire.RetryAfterHeader(&llm.Error{RetryAfter: d}); got != want {
			t.Errorf("RetryAfterHeader(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestModelListJSON(t *testing.T) {
	list := openaiwire.ModelList{Object: "list", Data: []openaiwire.ModelEntry{{ID: "haiku", Object: "model", Created: 1, OwnedBy: "anthropic"}}}
	jsonEqual(t, list, `{"object":"list","data":[{"id":"haiku","object":"model","created":1,"owned_by":"anthropic"}]}`)
}
