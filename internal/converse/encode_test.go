package converse

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

func sampleResponse() *llm.Response {
	return &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockReasoning, Text: "thinking", Signature: "c2ln"},
			llm.TextBlock("Let me check."),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_9", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)}},
		}},
		StopReason:   llm.StopToolUse,
		Usage:        llm.Usage{InputTokens: 12, OutputTokens: 34, CacheReadTokens: 1000, CacheWriteTokens: 200},
		Latency:      321 * time.Millisecond,
		InvokedModel: "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
	}
}

func TestResponseRoundTrip(t *testing.T) {
	want := sampleResponse()
	body, err := EncodeResponse(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`"output":{"message":{"role":"assistant","content":[`,
		`"stopReason":"tool_use"`,
		// totalTokens counts cached input too, as Bedrock reports it.
		`"usage":{"inputTokens":12,"outputTokens":34,"totalTokens":1246,"cacheReadInputTokens":1000,"cacheWriteInputTokens":200}`,
		`"metrics":{"latencyMs":321}`,
		`"trace":{"promptRouter":{"invokedModelId":"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"}}`,
	} {
		if !strings.Contains(string(body), s) {
			t.Errorf("body lacks %s\n%s", s, body)
		}
	}
	got, err := DecodeResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip mismatch\n got: %+v\nwant: %+v", got, want)
	}
}

func TestEncodeResponseWithoutCache(t *testing.T) {
	body, err := EncodeResponse(&llm.Response{
		Message:    llm.Message{Content: []llm.Block{llm.TextBlock("hi")}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 3, OutputTokens: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4},"metrics":{"latencyMs":0}}`
	if string(body) != want {
		t.Fatalf("got  %s\nwant %s", body, want)
	}
}

func TestDecodeResponseLenient(t *testing.T) {
	// Bedrock's answers may carry fields Penny ignores, empty content, and
	// empty text blocks.
	body := `{"output":{"message":{"role":"assistant","content":[{"text":""}]}},"stopReason":"content_filtered",
		"usage":{"inputTokens":1,"outputTokens":0,"totalTokens":1,"cacheDetails":[]},"metrics":{"latencyMs":5},
		"additionalModelResponseFields":{"x":1},"serviceTier":{"type":"default"}}`
	got, err := DecodeResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got.StopReason != llm.StopContentFilter || got.Latency != 5*time.Millisecond || len(got.Message.Content) != 1 {
		t.Fatalf("got %+v", got)
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	for _, tc := range []struct{ body, msg string }{
		{`nope`, "converse response: malformed JSON"},
		{`{"output":{},"stopReason":"end_turn","usage":{},"metrics":{}}`, "converse response: output: output must set exactly one"},
		{`{"stopReason":"end_turn","usage":{},"metrics":{}}`, "converse response: output: is required"},
		{`{"output":{"message":{"role":"assistant","content":[{"citationsContent":{}}]}},"stopReason":"end_turn","usage":{},"metrics":{}}`,
			"converse response: output.message.content[0].citationsContent"},
	} {
		_, err := DecodeResponse([]byte(tc.body))
		var e *llm.Error
		if !errors.As(err, &e) || e.Kind != llm.KindInternal || !strings.HasPrefix(e.Message, tc.msg) {
			t.Errorf("DecodeResponse(%s) = %v, want internal error %q", tc.body, err, tc.msg)
		}
	}
}
