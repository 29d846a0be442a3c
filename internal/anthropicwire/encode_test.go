package anthropicwire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestEncodeResponse(t *testing.T) {
	resp := &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockReasoning, Text: "hmm", Signature: "s1"},
			llm.TextBlock("Order 42 shipped."),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_1", Name: "track", Input: json.RawMessage(`{"id":"42"}`)}},
		}},
		StopReason:  llm.StopSequence,
		Usage:       llm.Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 100, CacheWriteTokens: 30, CacheWrite1hTokens: 20},
		ServiceTier: llm.TierPriority,
	}
	b, _ := json.Marshal(EncodeResponse(resp, "msg_1", "claude-sonnet-4-5", []string{"END"}))
	want := `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[` +
		`{"type":"thinking","thinking":"hmm","signature":"s1"},{"type":"text","text":"Order 42 shipped."},` +
		`{"type":"tool_use","id":"tu_1","name":"track","input":{"id":"42"}}],"stop_reason":"stop_sequence","stop_sequence":"END",` +
		`"usage":{"input_tokens":10,"cache_creation_input_tokens":30,"cache_read_input_tokens":100,` +
		`"cache_creation":{"ephemeral_5m_input_tokens":10,"ephemeral_1h_input_tokens":20},"output_tokens":5,"service_tier":"priority"}}`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}

func TestStopReason(t *testing.T) {
	for in, want := range map[llm.StopReason]string{
		llm.StopEndTurn: "end_turn", llm.StopToolUse: "tool_use", llm.StopMaxTokens: "max_tokens",
		llm.StopContextWindow: "model_context_window_exceeded", llm.StopGuardrail: "refusal",
		llm.StopContentFilter: "refusal", llm.StopMalformedTool: "end_turn", "": "end_turn",
	} {
		if got := StopReason(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestErrorFor(t *testing.T) {
	cases := []struct {
		kind   llm.ErrorKind
		status int
		typ    string
	}{
		{llm.KindValidation, 400, "invalid_request_error"},
		{llm.KindUnsupported, 400, "invalid_request_error"},
		{llm.KindUnauthorized, 401, "authentication_error"},
		{llm.KindForbidden, 403, "permission_error"},
		{llm.KindNotFound, 404, "not_found_error"},
		{llm.KindTooLarge, 413, "request_too_large"},
		{llm.KindThrottled, 429, "rate_limit_error"},
		{llm.KindBudget, 402, "billing_error"},
		{llm.KindTimeout, 504, "timeout_error"},
		{llm.KindUnavailable, 529, "overloaded_error"},
		{llm.KindInternal, 500, "api_error"},
	}
	for _, tc := range cases {
		status, body := ErrorFor(llm.Errorf(tc.kind, "went wrong"))
		if status != tc.status || body.Type != "error" || body.Error.Type != tc.typ || body.Error.Message != "went wrong" {
			t.Errorf("%s: %d %+v", tc.kind, status, body)
		}
	}
	if status, body := ErrorFor(errors.New("plain")); status != 500 || body.Error.Type != "api_error" {
		t.Errorf("plain error: %d %+v", status, body)
	}
}

func TestStreamEncoder(t *testing.T) {
	enc := &StreamEncoder{ID: "msg_1", Model: "m", InputTokens: 7}
	u := llm.Usage{InputTokens: 7, OutputTokens: 9, CacheReadTokens: 3}
	evs := []llm.Event{
		{Type: llm.EventMessageStart, Role: llm.RoleAssistant},
		{Type: llm.EventBlockDelta, Index: 0, Delta: llm.Delta{Reasoning: "think"}},
		{Type: llm.EventBlockDelta, Index: 0, Delta: llm.Delta{Signature: "sig"}},
		{Type: llm.EventBlockStop, Index: 0},
		{Type: llm.EventBlockDelta, Index: 1, Delta: llm.Delta{Text: "Hi"}},
		{Type: llm.EventBlockStop, Index: 1},
		{Type: llm.EventBlockStart, Index: 2, ToolUse: &llm.ToolUse{ID: "tu", Name: "f"}},
		{Type: llm.EventBlockDelta, Index: 2, Delta: llm.Delta{ToolInput: `{"a":`}},
		{Type: llm.EventBlockDelta, Index: 2, Delta: llm.Delta{ToolInput: `1}`}},
		{Type: llm.EventMessageStop, StopReason: llm.StopToolUse},
		{Type: llm.EventMetadata, Usage: &u},
	}
	var got []string
	for _, ev := range evs {
		for _, e := range enc.Encode(ev) {
			var v struct{ Type string }
			if err := json.Unmarshal(e.Data, &v); err != nil || v.Type != e.Type {
				t.Fatalf("event %s: %s (%v)", e.Type, e.Data, err)
			}
			got = append(got, string(e.Data))
		}
	}
	if enc.Finish() != nil {
		t.Error("Finish after the end wrote more")
	}
	want := []string{
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"tu","name":"f","input":{}}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"1}"}}`,
		`{"type":"content_block_stop","index":2}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":3,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":9,"service_tier":"standard"}}`,
		`{"type":"message_stop"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStreamEncoderFinishWithoutMetadata(t *testing.T) {
	enc := &StreamEncoder{ID: "msg_1", Model: "m"}
	enc.Encode(llm.Event{Type: llm.EventBlockDelta, Delta: llm.Delta{Text: "x"}})
	evs := enc.Finish()
	if len(evs) != 3 || evs[0].Type != "content_block_stop" || evs[1].Type != "message_delta" || evs[2].Type != "message_stop" {
		t.Errorf("%+v", evs)
	}
	if e := ErrorEvent(llm.Errorf(llm.KindThrottled, "slow down")); e.Type != "error" ||
		string(e.Data) != `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}` {
		t.Errorf("%s", e.Data)
	}
}
