package openaiwire_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

func TestEncodeRequest(t *testing.T) {
	full := &llm.Request{
		Model:  "llama-3.1-8b",
		System: []llm.SystemBlock{{Text: "You are terse."}, {CachePoint: &llm.CachePoint{}}, {Text: "Use metric units."}},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{
				llm.TextBlock("Weather here?"),
				{Type: llm.BlockImage, Image: &llm.Image{Format: "png", Bytes: pngBytes}},
				{Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{TTL: "1h"}},
			}},
			{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockReasoning, Text: "The user wants weather.", Signature: "sig"},
				llm.TextBlock("Checking."),
				{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_1", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)}},
				{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_2", Name: "radar", Input: nil}},
			}},
			{Role: llm.RoleUser, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "tu_1", Content: []llm.ToolResultContent{{Text: "18C"}, {JSON: json.RawMessage(`{ "wind": 3 }`)}}}},
				llm.TextBlock("Thanks."),
				{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "tu_2", Status: "error", Content: []llm.ToolResultContent{{Image: &llm.Image{Format: "jpeg", Bytes: pngBytes}}}}},
			}},
		},
		Config: llm.InferenceConfig{MaxTokens: ptr(256), Temperature: ptr(0.2), TopP: ptr(0.9), StopSequences: []string{"END"}},
		Tools: &llm.ToolConfig{
			Tools: []llm.Tool{
				{Name: "weather", Description: "Weather <now>", InputSchema: json.RawMessage(`{"type":"object"}`)},
				{CachePoint: &llm.CachePoint{}},
				{Name: "radar", InputSchema: json.RawMessage(`{"type":"object","properties":{}}`)},
			},
			Choice: llm.ToolChoice{Mode: llm.ToolChoiceAny},
		},
		Meta: llm.Meta{Tenant: "acme", Tags: map[string]string{"team": "x"}},
	}
	img := "data:image/png;base64,iVBORw0KGgpmYWtl"
	jpg := "data:image/jpeg;base64,iVBORw0KGgpmYWtl"
	tests := []struct {
		name string
		opts openaiwire.EncodeOptions
		req  *llm.Request
		want string
	}{{
		name: "everything",
		req:  full,
		want: `{"model":"llama-3.1-8b","max_tokens":256,"temperature":0.2,"top_p":0.9,"stop":["END"],
			"tools":[{"type":"function","function":{"name":"weather","description":"Weather <now>","parameters":{"type":"object"}}},
			         {"type":"function","function":{"name":"radar","parameters":{"type":"object","properties":{}}}}],
			"tool_choice":"required",
			"messages":[
				{"role":"system","content":"You are terse.\nUse metric units."},
				{"role":"user","content":[{"type":"text","text":"Weather here?"},{"type":"image_url","image_url":{"url":"` + img + `"}}]},
				{"role":"assistant","content":"Checking.","tool_calls":[
					{"id":"tu_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
					{"id":"tu_2","type":"function","function":{"name":"radar","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"tu_1","content":"18C\n{\"wind\":3}"},
				{"role":"tool","tool_call_id":"tu_2","content":""},
				{"role":"user","content":[{"type":"text","text":"Thanks."},{"type":"image_url","image_url":{"url":"` + jpg + `"}}]}]}`,
	}, {
		name: "streamed, max_completion_tokens, named tool, additional fields",
		opts: openaiwire.EncodeOptions{Stream: true, MaxCompletionTokens: true},
		req: &llm.Request{Model: "gpt-5", Config: llm.InferenceConfig{MaxTokens: ptr(10)},
			Messages:   []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}},
			Tools:      &llm.ToolConfig{Tools: []llm.Tool{{Name: "f", InputSchema: json.RawMessage(`{}`)}}, Choice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "f"}},
			Additional: json.RawMessage(`{"top_k": 40, "model": "ignored", "chat_template_kwargs": {"enable_thinking": false}}`)},
		want: `{"model":"gpt-5","max_completion_tokens":10,"stream":true,"stream_options":{"include_usage":true},
			"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],
			"tool_choice":{"type":"function","function":{"name":"f"}},
			"messages":[{"role":"user","content":"hi"}],
			"top_k":40,"chat_template_kwargs":{"enable_thinking":false}}`,
	}, {
		name: "assistant with only tool calls has no content; auto choice; pdf document",
		req: &llm.Request{Model: "m",
			Messages: []llm.Message{
				{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockDocument, Document: &llm.Document{Format: "pdf", Name: "report", Bytes: []byte("%PDF")}}}},
				{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "c", Name: "f", Input: json.RawMessage(`{}`)}}}},
			},
			Tools: &llm.ToolConfig{Tools: []llm.Tool{{Name: "f"}}, Choice: llm.ToolChoice{Mode: llm.ToolChoiceAuto}}},
		want: `{"model":"m","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto","messages":[
			{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERg==","filename":"report.pdf"}}]},
			{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.opts.Encode(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
			jsonEqual(t, json.RawMessage(b), tt.want)
		})
	}

	t.Run("EncodeRequest is EncodeOptions.Encode", func(t *testing.T) {
		a, _ := openaiwire.EncodeRequest(full, true)
		b, _ := openaiwire.EncodeOptions{Stream: true}.Encode(full)
		if string(a) != string(b) {
			t.Errorf("%s\n!=\n%s", a, b)
		}
		if strings.Contains(string(a), `\u003c`) {
			t.Errorf("HTML escaped: %s", a)
		}
	})
}

func TestEncodeRequestErrors(t *testing.T) {
	user := func(b llm.Block) []llm.Message { return []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{b}}} }
	tests := []struct {
		name string
		req  *llm.Request
		kind llm.ErrorKind
		want string
	}{
		{"docx document", &llm.Request{Model: "m", Messages: user(llm.Block{Type: llm.BlockDocument, Document: &llm.Document{Format: "docx", Bytes: []byte("x")}})}, llm.KindUnsupported, "messages[0].content[0].document.format"},
		{"bmp image", &llm.Request{Model: "m", Messages: user(llm.Block{Type: llm.BlockImage, Image: &llm.Image{Format: "bmp"}})}, llm.KindUnsupported, "messages[0].content[0].image.format"},
		{"bad role", &llm.Request{Model: "m", Messages: []llm.Message{{Role: "system", Content: []llm.Block{llm.TextBlock("x")}}}}, llm.KindValidation, "messages[0].role"},
		{"tool result without id", &llm.Request{Model: "m", Messages: user(llm.Block{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{}})}, llm.KindValidation, "toolUseId"},
		{"bad tool result JSON", &llm.Request{Model: "m", Messages: user(llm.Block{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "c", Content: []llm.ToolResultContent{{JSON: json.RawMessage(`{`)}}}})}, llm.KindValidation, "json"},
		{"additional not an object", &llm.Request{Model: "m", Messages: user(llm.TextBlock("x")), Additional: json.RawMessage(`[1]`)}, llm.KindValidation, "additionalModelRequestFields"},
		{"named tool choice without name", &llm.Request{Model: "m", Messages: user(llm.TextBlock("x")), Tools: &llm.ToolConfig{Tools: []llm.Tool{{Name: "f"}}, Choice: llm.ToolChoice{Mode: llm.ToolChoiceTool}}}, llm.KindValidation, "toolChoice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openaiwire.EncodeRequest(tt.req, false)
			if llm.KindOf(err) != tt.kind || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (%s), want %s naming %q", err, llm.KindOf(err), tt.kind, tt.want)
			}
		})
	}
}

// A request survives OpenAI → llm → OpenAI → llm unchanged.
func TestRequestRoundTrip(t *testing.T) {
	body := `{"model":"m","max_tokens":99,"temperature":0.5,"top_p":0.8,"stop":["x","y"],
		"tools":[{"type":"function","function":{"name":"weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
		"tool_choice":{"type":"function","function":{"name":"weather"}},
		"messages":[
			{"role":"system","content":"Be brief."},
			{"role":"user","content":[{"type":"text","text":"Look:"},{"type":"image_url","image_url":{"url":"` + pngDataURL + `"}}]},
			{"role":"assistant","content":"Let me see.","tool_calls":[{"id":"c1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}}]},
			{"role":"tool","tool_call_id":"c1","content":"9C"},
			{"role":"user","content":"And tomorrow?"}]}`
	first, _, err := openaiwire.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := openaiwire.EncodeRequest(first, false)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := openaiwire.DecodeRequest(enc)
	if err != nil {
		t.Fatalf("re-decoding %s: %v", enc, err)
	}
	if !reflect.DeepEqual(first, second) {
		a, _ := json.Marshal(first)
		b, _ := json.Marshal(second)
		t.Errorf("round trip changed the request\nfirst:  %s\nsecond: %s", a, b)
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *llm.Response
	}{{
		name: "text with cached tokens",
		body: `{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!","refusal":null},"finish_reason":"stop","logprobs":null}],
			"usage":{"prompt_tokens":120,"completion_tokens":7,"total_tokens":127,"prompt_tokens_details":{"cached_tokens":100,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp"}`,
		want: &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("Hi!")}},
			StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 20, OutputTokens: 7, CacheReadTokens: 100}},
	}, {
		name: "tool calls, reasoning, Penny's cache_write_tokens",
		body: `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"Need weather.","tool_calls":[
				{"id":"call_a","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}},
				{"type":"function","function":{"name":"now","arguments":""}}]},"finish_reason":"tool_calls"}],
			"usage":{"prompt_tokens":50,"completion_tokens":9,"total_tokens":59,"prompt_tokens_details":{"cached_tokens":10,"cache_write_tokens":30}}}`,
		want: &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockReasoning, Text: "Need weather."},
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "call_a", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}},
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "call_1", Name: "now", Input: json.RawMessage(`{}`)}},
		}}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 10, OutputTokens: 9, CacheReadTokens: 10, CacheWriteTokens: 30}},
	}, {
		name: "tool calls with finish_reason stop (older Ollama), object arguments",
		body: `{"choices":[{"message":{"content":"","tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a":1}}}]},"finish_reason":"stop"}]}`,
		want: &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "c", Name: "f", Input: json.RawMessage(`{"a":1}`)}}}},
			StopReason: llm.StopToolUse},
	}, {
		name: "malformed tool arguments",
		body: `{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":"tool_calls"}]}`,
		want: &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "c", Name: "f", Input: json.RawMessage(`{}`)}}}},
			StopReason: llm.StopMalformedTool},
	}, {
		name: "length, refusal",
		body: `{"choices":[{"message":{"content":null,"refusal":"I can't help with that."},"finish_reason":"length"}]}`,
		want: &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("I can't help with that.")}}, StopReason: llm.StopMaxTokens},
	}, {
		name: "vLLM stop string, content parts",
		body: `{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"finish_reason":"stop","stop_reason":"END"}]}`,
		want: &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("ab")}}, StopReason: llm.StopSequence},
	}, {
		name: "content filter, no usage",
		body: `{"choices":[{"message":{"content":"partial"},"finish_reason":"content_filter"}]}`,
		want: &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("partial")}}, StopReason: llm.StopContentFilter},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := openaiwire.DecodeResponse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// What EncodeResponse writes, DecodeResponse reads back.
func TestResponseRoundTrip(t *testing.T) {
	for _, resp := range []*llm.Response{textAnswer, toolAnswer} {
		b, _ := json.Marshal(openaiwire.EncodeResponse(resp, "id", "m", 1))
		got, err := openaiwire.DecodeResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		want := *resp
		want.Message.Content = nil
		// Text blocks are joined and a tool call without input gets {}.
		if t := resp.Text(); t != "" {
			want.Message.Content = append(want.Message.Content, llm.TextBlock(t))
		}
		for _, b := range resp.Message.Content {
			if b.Type == llm.BlockToolUse {
				tu := *b.ToolUse
				if len(tu.Input) == 0 {
					tu.Input = json.RawMessage(`{}`)
				}
				want.Message.Content = append(want.Message.Content, llm.Block{Type: llm.BlockToolUse, ToolUse: &tu})
			}
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("got  %+v\nwant %+v", got, &want)
		}
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		kind llm.ErrorKind
		msg  string
	}{
		{"not JSON", `<html>oops</html>`, llm.KindInternal, "not a chat completion"},
		{"no choices", `{"id":"x","choices":[]}`, llm.KindInternal, "no choices"},
		{"error object in a 200", `{"error":{"message":"model overloaded","type":"overloaded_error"}}`, llm.KindUnavailable, "model overloaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openaiwire.DecodeResponse([]byte(tt.body))
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != tt.kind || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("err = %v (%s), want %s with %q", err, llm.KindOf(err), tt.kind, tt.msg)
			}
		})
	}
}

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		kind     llm.ErrorKind
		msg      string
		upstream string
	}{
		{"OpenAI rate limit", 429, `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`, llm.KindThrottled, "Rate limit reached", "rate_limit_exceeded"},
		{"OpenAI bad key", 401, `{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}`, llm.KindUnauthorized, "Incorrect API key", "invalid_api_key"},
		{"vLLM numeric code", 400, `{"error":{"message":"max_tokens too large","type":"BadRequestError","param":null,"code":400}}`, llm.KindValidation, "max_tokens too large", "BadRequestError"},
		{"older vLLM top level", 404, `{"object":"error","message":"The model x does not exist.","type":"NotFoundError","param":null,"code":404}`, llm.KindNotFound, "does not exist", "NotFoundError"},
		{"Ollama string error", 404, `{"error":"model \"llama9\" not found"}`, llm.KindNotFound, `model "llama9" not found`, ""},
		{"plain text", 502, "Bad Gateway\n", llm.KindUnavailable, "Bad Gateway", ""},
		{"empty body", 503, ``, llm.KindUnavailable, "503 Service Unavailable", ""},
		{"gateway timeout", 504, `{"error":{"message":"upstream timed out","type":"timeout_error","code":"upstream_timeout"}}`, llm.KindTimeout, "timed out", "upstream_timeout"},
		{"mid-stream, numeric string code", 0, `{"error":{"message":"slow down","type":"x","code":"429"}}`, llm.KindThrottled, "slow down", "x"},
		{"mid-stream, Penny code", 0, `{"error":{"message":"model loading","type":"server_error","code":"model_not_ready"}}`, llm.KindModelNotReady, "model loading", "model_not_ready"},
		{"mid-stream, OpenAI type", 0, `{"error":{"message":"too fast","type":"rate_limit_error","code":null}}`, llm.KindThrottled, "too fast", "rate_limit_error"},
		{"mid-stream, unknown", 0, `{"error":{"message":"CUDA out of memory"}}`, llm.KindModelError, "CUDA out of memory", ""},
		{"mid-stream, empty", 0, `{"error":{}}`, llm.KindModelError, "upstream reported an error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := openaiwire.DecodeError(tt.status, []byte(tt.body))
			if e.Kind != tt.kind || !strings.Contains(e.Message, tt.msg) || e.Upstream != tt.upstream {
				t.Errorf("got %s %q upstream %q, want %s %q upstream %q", e.Kind, e.Message, e.Upstream, tt.kind, tt.msg, tt.upstream)
			}
		})
	}
	t.Run("long text is cut", func(t *testing.T) {
		e := openaiwire.DecodeError(500, []byte(strings.Repeat("x", 5000)))
		if len(e.Message) > 600 {
			t.Errorf("message is %d bytes", len(e.Message))
		}
	})
}

// decodeChunks feeds data payloads to a ChunkDecoder and ends it.
func decodeChunks(t *testing.T, chunks []string, sawDone bool) ([]llm.Event, error) {
	t.Helper()
	var d openaiwire.ChunkDecoder
	var out []llm.Event
	for _, c := range chunks {
		evs, err := d.Decode([]byte(c))
		if err != nil {
			return out, err
		}
		out = append(out, evs...)
	}
	evs, err := d.End(sawDone)
	return append(out, evs...), err
}

func TestChunkDecoder(t *testing.T) {
	u := func(in, out, cached int) *llm.Usage {
		return &llm.Usage{InputTokens: in, OutputTokens: out, CacheReadTokens: cached}
	}
	start := llm.Event{Type: llm.EventMessageStart, Role: llm.RoleAssistant}
	text := func(i int, s string) llm.Event {
		return llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{Text: s}}
	}
	stop := func(i int) llm.Event { return llm.Event{Type: llm.EventBlockStop, Index: i} }
	tool := func(i int, id, name string) llm.Event {
		return llm.Event{Type: llm.EventBlockStart, Index: i, ToolUse: &llm.ToolUse{ID: id, Name: name}}
	}
	input := func(i int, s string) llm.Event {
		return llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{ToolInput: s}}
	}
	msgStop := func(r llm.StopReason) llm.Event { return llm.Event{Type: llm.EventMessageStop, StopReason: r} }
	meta := func(u *llm.Usage) llm.Event { return llm.Event{Type: llm.EventMetadata, Usage: u} }

	tests := []struct {
		name    string
		chunks  []string
		sawDone bool
		want    []llm.Event
	}{{
		name: "text with usage chunk",
		chunks: []string{
			`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			`{"choices":[],"usage":{"prompt_tokens":30,"completion_tokens":2,"total_tokens":32,"prompt_tokens_details":{"cached_tokens":20}}}`,
		},
		sawDone: true,
		want:    []llm.Event{start, text(0, "Hel"), text(0, "lo"), stop(0), msgStop(llm.StopEndTurn), meta(u(10, 2, 20))},
	}, {
		name: "text then two streamed tool calls",
		chunks: []string{
			`{"choices":[{"index":0,"delta":{"role":"assistant","content":"Checking."}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"weather","arguments":""}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"time","arguments":"{}"}}]}}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
			`{"choices":[],"usage":{"prompt_tokens":40,"completion_tokens":12,"total_tokens":52}}`,
		},
		sawDone: true,
		want: []llm.Event{start, text(0, "Checking."), stop(0),
			tool(1, "call_1", "weather"), input(1, `{"city":`), input(1, `"Paris"}`), stop(1),
			tool(2, "call_2", "time"), input(2, `{}`), stop(2),
			msgStop(llm.StopToolUse), meta(u(40, 12, 0))},
	}, {
		name: "tool calls without index or ids, whole in one chunk each, finish stop",
		chunks: []string{
			`{"choices":[{"delta":{"role":"assistant","tool_calls":[{"function":{"name":"a","arguments":"{\"x\":1}"}}]}}]}`,
			`{"choices":[{"delta":{"tool_calls":[{"id":"b1","function":{"name":"b","arguments":"{"}}]}}]}`,
			`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}`,
			`{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":5}}`,
		},
		want: []llm.Event{start, tool(0, "call_0", "a"), input(0, `{"x":1}`), stop(0),
			tool(1, "b1", "b"), input(1, "{"), input(1, "}"), stop(1), msgStop(llm.StopToolUse), meta(u(5, 5, 0))},
	}, {
		name: "reasoning then text, running usage, finish and content in one chunk",
		chunks: []string{
			`{"choices":[{"index":0,"delta":{"reasoning_content":"Think."}}],"usage":{"prompt_tokens":5,"completion_tokens":1}}`,
			`{"choices":[{"index":0,"delta":{"content":"Done."},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":3}}`,
		},
		sawDone: true,
		want: []llm.Event{start, {Type: llm.EventBlockDelta, Index: 0, Delta: llm.Delta{Reasoning: "Think."}}, stop(0),
			text(1, "Done."), stop(1), msgStop(llm.StopMaxTokens), meta(u(5, 3, 0))},
	}, {
		name:    "[DONE] without finish_reason",
		chunks:  []string{`{"choices":[{"delta":{"content":"x"}}]}`},
		sawDone: true,
		want:    []llm.Event{start, text(0, "x"), stop(0), msgStop(llm.StopEndTurn), meta(u(0, 0, 0))},
	}, {
		name:    "empty stream",
		sawDone: true,
		want:    []llm.Event{start, msgStop(llm.StopEndTurn), meta(u(0, 0, 0))},
	}, {
		name: "second choice ignored",
		chunks: []string{
			`{"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"content":"mine"}}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		},
		want: []llm.Event{start, text(0, "mine"), stop(0), msgStop(llm.StopEndTurn), meta(u(0, 0, 0))},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeChunks(t, tt.chunks, tt.sawDone)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events mismatch\n got: %+v\nwant: %+v", got, tt.want)
			}
		})
	}
}

func TestChunkDecoderErrors(t *testing.T) {
	t.Run("error object mid-stream", func(t *testing.T) {
		got, err := decodeChunks(t, []string{
			`{"choices":[{"delta":{"content":"par"}}]}`,
			`{"error":{"message":"engine died","type":"server_error","code":"model_error"}}`,
		}, true)
		if llm.KindOf(err) != llm.KindModelError || !strings.Contains(err.Error(), "engine died") {
			t.Errorf("err = %v (%s)", err, llm.KindOf(err))
		}
		if len(got) != 2 {
			t.Errorf("events before the error = %+v", got)
		}
	})
	t.Run("malformed chunk", func(t *testing.T) {
		_, err := decodeChunks(t, []string{`{"choices":[`}, true)
		if llm.KindOf(err) != llm.KindInternal {
			t.Errorf("err = %v (%s)", err, llm.KindOf(err))
		}
	})
	t.Run("cut off", func(t *testing.T) {
		_, err := decodeChunks(t, []string{`{"choices":[{"delta":{"content":"par"}}]}`}, false)
		if llm.KindOf(err) != llm.KindUnavailable {
			t.Errorf("err = %v (%s)", err, llm.KindOf(err))
		}
	})
	t.Run("end without [DONE] after finish is fine", func(t *testing.T) {
		_, err := decodeChunks(t, []string{`{"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}`}, false)
		if err != nil {
			t.Error(err)
		}
	})
}

// What ChunkEncoder writes, ChunkDecoder reads back into the same answer.
func TestChunkRoundTrip(t *testing.T) {
	mixed := &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			llm.TextBlock("Let me check."),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_1", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)}},
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_2", Name: "time", Input: json.RawMessage(`{}`)}},
		}},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 4, CacheWriteTokens: 2},
	}
	for _, resp := range []*llm.Response{textAnswer, mixed} {
		enc := &openaiwire.ChunkEncoder{ID: "c", Model: "m", IncludeUsage: true}
		evs, err := decodeChunks(t, encodeStream(enc, llm.EventsOf(resp)), true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := llm.Collect(&llm.SliceStream{Events: evs})
		if err != nil {
			t.Fatal(err)
		}
		want := *resp
		if resp == textAnswer {
			want.Message.Content = []llm.Block{llm.TextBlock(resp.Text())}
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("got  %+v\nwant %+v", got, &want)
		}
	}
}

func TestUsageFrom(t *testing.T) {
	for _, u := range []llm.Usage{{}, {InputTokens: 3, OutputTokens: 4}, {InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4}} {
		if got := openaiwire.UsageFrom(openaiwire.UsageOf(u)); got != u {
			t.Errorf("UsageFrom(UsageOf(%+v)) = %+v", u, got)
		}
	}
	if got := openaiwire.UsageFrom(&openaiwire.Usage{PromptTokens: 5, PromptTokensDetails: &openaiwire.TokenDetails{CachedTokens: 9}}); got.InputTokens != 0 || got.CacheReadTokens != 9 {
		t.Errorf("inconsistent usage gave %+v", got)
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req, _, err := openaiwire.DecodeRequest(benchBody)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := openaiwire.EncodeRequest(req, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChunkDecoder(b *testing.B) {
	chunk := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello there, "},"finish_reason":null}]}`)
	var d openaiwire.ChunkDecoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(chunk); err != nil {
			b.Fatal(err)
		}
	}
}
