package converse

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

func ptr[T any](v T) *T { return &v }

// fullBody uses every request feature Penny translates.
const fullBody = `{
  "messages": [
    {"role": "user", "content": [
      {"text": "What is in this picture?"},
      {"image": {"format": "png", "source": {"bytes": "iVBORw0K"}}},
      {"document": {"format": "pdf", "name": "report", "source": {"bytes": "JVBERi0="}}},
      {"cachePoint": {"type": "default", "ttl": "1h"}}
    ]},
    {"role": "assistant", "content": [
      {"reasoningContent": {"reasoningText": {"text": "Let me look.", "signature": "sig=="}}},
      {"toolUse": {"toolUseId": "tu_1", "name": "lookup", "input": {"q": "cat", "n": 12345678901234567890}}}
    ]},
    {"role": "user", "content": [
      {"toolResult": {"toolUseId": "tu_1", "status": "success", "content": [
        {"text": "a cat"},
        {"json": {"score": 0.9}},
        {"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}}
      ]}}
    ]}
  ],
  "system": [{"text": "You are terse."}, {"cachePoint": {"type": "default"}}],
  "inferenceConfig": {"maxTokens": 512, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
  "toolConfig": {
    "tools": [
      {"toolSpec": {"name": "lookup", "description": "Look things up", "inputSchema": {"json": {"type": "object"}}, "strict": false}},
      {"cachePoint": {"type": "default", "ttl": "5m"}}
    ],
    "toolChoice": {"tool": {"name": "lookup"}}
  },
  "additionalModelRequestFields": {"top_k": 50},
  "requestMetadata": {"team": "search"},
  "performanceConfig": {"latency": "standard"},
  "serviceTier": {"type": "default"}
}`

func fullRequest() *llm.Request {
	return &llm.Request{
		System: []llm.SystemBlock{{Text: "You are terse."}, {CachePoint: &llm.CachePoint{}}},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{
				llm.TextBlock("What is in this picture?"),
				{Type: llm.BlockImage, Image: &llm.Image{Format: "png", Bytes: []byte("\x89PNG\r\n")}},
				{Type: llm.BlockDocument, Document: &llm.Document{Format: "pdf", Name: "report", Bytes: []byte("%PDF-")}},
				{Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{TTL: "1h"}},
			}},
			{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockReasoning, Text: "Let me look.", Signature: "sig=="},
				{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_1", Name: "lookup",
					Input: json.RawMessage(`{"q": "cat", "n": 12345678901234567890}`)}},
			}},
			{Role: llm.RoleUser, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "tu_1", Status: "success",
					Content: []llm.ToolResultContent{
						{Text: "a cat"},
						{JSON: json.RawMessage(`{"score": 0.9}`)},
						{Image: &llm.Image{Format: "jpeg", Bytes: []byte{0xff, 0xd8, 0xff}}},
					}}},
			}},
		},
		Config: llm.InferenceConfig{MaxTokens: ptr(512), Temperature: ptr(0.2), TopP: ptr(0.9), StopSequences: []string{"END"}},
		Tools: &llm.ToolConfig{
			Tools: []llm.Tool{
				{Name: "lookup", Description: "Look things up", InputSchema: json.RawMessage(`{"type": "object"}`)},
				{CachePoint: &llm.CachePoint{TTL: "5m"}},
			},
			Choice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "lookup"},
		},
		Additional:  json.RawMessage(`{"top_k": 50}`),
		ServiceTier: llm.TierDefault,
		Meta:        llm.Meta{Tags: map[string]string{"team": "search"}},
	}
}

func TestDecodeRequestFull(t *testing.T) {
	got, err := DecodeRequest([]byte(fullBody))
	if err != nil {
		t.Fatal(err)
	}
	want := fullRequest()
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("DecodeRequest mismatch\n got: %s\nwant: %s", gj, wj)
	}
}

// TestRequestRoundTrip checks that encoding then decoding is lossless, and
// that the encoded form is what Bedrock expects.
func TestRequestRoundTrip(t *testing.T) {
	want := fullRequest()
	want.Meta = llm.Meta{} // Meta is not part of the body
	body, err := EncodeRequest(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRequest(body)
	if err != nil {
		t.Fatalf("DecodeRequest(EncodeRequest(req)): %v\n%s", err, body)
	}
	// JSON values are compacted by encoding/json; compare them semantically.
	normalize := func(r *llm.Request) {
		r.Additional = compact(t, r.Additional)
		for i := range r.Tools.Tools {
			r.Tools.Tools[i].InputSchema = compact(t, r.Tools.Tools[i].InputSchema)
		}
		for _, m := range r.Messages {
			for _, b := range m.Content {
				if b.ToolUse != nil {
					b.ToolUse.Input = compact(t, b.ToolUse.Input)
				}
				if b.ToolResult != nil {
					for i := range b.ToolResult.Content {
						b.ToolResult.Content[i].JSON = compact(t, b.ToolResult.Content[i].JSON)
					}
				}
			}
		}
	}
	normalize(got)
	normalize(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip mismatch\n got: %+v\nwant: %+v\nbody: %s", got, want, body)
	}
	for _, s := range []string{
		`"image":{"format":"png","source":{"bytes":"iVBORw0K"}}`,
		`"cachePoint":{"type":"default","ttl":"1h"}`,
		`"toolChoice":{"tool":{"name":"lookup"}}`,
		`"n":12345678901234567890`, // big integers survive
		`"reasoningContent":{"reasoningText":{"text":"Let me look.","signature":"sig=="}}`,
	} {
		if !strings.Contains(string(body), s) {
			t.Errorf("encoded body lacks %s\n%s", s, body)
		}
	}
}

func compact(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if raw == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return out
}

func TestEncodeRequestToolChoiceModes(t *testing.T) {
	for _, tc := range []struct {
		choice llm.ToolChoice
		want   string
	}{
		{llm.ToolChoice{}, `"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}}]}`},
		{llm.ToolChoice{Mode: llm.ToolChoiceAuto}, `"toolChoice":{"auto":{}}`},
		{llm.ToolChoice{Mode: llm.ToolChoiceAny}, `"toolChoice":{"any":{}}`},
		{llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "f"}, `"toolChoice":{"tool":{"name":"f"}}`},
	} {
		req := &llm.Request{
			Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}},
			Tools:    &llm.ToolConfig{Tools: []llm.Tool{{Name: "f"}}, Choice: tc.choice},
		}
		body, err := EncodeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("mode %q: body %s lacks %s", tc.choice.Mode, body, tc.want)
		}
	}
}

func TestEncodeRequestBadBlock(t *testing.T) {
	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{
		llm.TextBlock("hi"), {Type: llm.BlockImage},
	}}}}
	_, err := EncodeRequest(req)
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindValidation || !strings.HasPrefix(e.Message, "messages[0].content[1]") {
		t.Fatalf("got %v, want a validation error at messages[0].content[1]", err)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	const user = `{"role":"user","content":[{"text":"hi"}]}`
	msg := func(blocks string) string {
		return `{"messages":[{"role":"user","content":[` + blocks + `]}]}`
	}
	tools := func(tc string) string {
		return `{"messages":[` + user + `],"toolConfig":` + tc + `}`
	}
	tests := []struct {
		name string
		body string
		kind llm.ErrorKind
		msg  string // prefix of the error message
	}{
		{"empty body", ``, llm.KindValidation, "request body is empty"},
		{"malformed JSON", `{"messages": [`, llm.KindValidation, "malformed JSON request body"},
		{"not an object", `[]`, llm.KindValidation, "request body must be a JSON object"},
		{"missing messages", `{}`, llm.KindValidation, "messages: is required"},
		{"null messages", `{"messages":null}`, llm.KindValidation, "messages: is required"},
		{"empty messages", `{"messages":[]}`, llm.KindValidation, "messages: must contain at least one message"},
		{"messages wrong type", `{"messages":{}}`, llm.KindValidation, "messages: expected an array, got an object"},
		{"unknown top-level field", `{"messages":[` + user + `],"modelId":"x"}`, llm.KindValidation, "modelId: unknown field"},
		{"bad role", `{"messages":[{"role":"system","content":[{"text":"hi"}]}]}`, llm.KindValidation, `messages[0].role: "system" is not one of`},
		{"role wrong type", `{"messages":[{"role":1,"content":[{"text":"hi"}]}]}`, llm.KindValidation, "messages[0].role: expected a string, got a number"},
		{"missing role", `{"messages":[{"content":[{"text":"hi"}]}]}`, llm.KindValidation, "messages[0].role: is required"},
		{"first not user", `{"messages":[{"role":"assistant","content":[{"text":"hi"}]}]}`, llm.KindValidation, "messages[0].role: a conversation must start with a user message"},
		{"empty content", `{"messages":[{"role":"user","content":[]}]}`, llm.KindValidation, "messages[0].content: must contain at least one content block"},
		{"unknown message field", `{"messages":[{"role":"user","content":[{"text":"hi"}],"name":"bob"}]}`, llm.KindValidation, "messages[0].name: unknown field"},
		{"block with no kind", msg(`{"text":"hi"},{}`), llm.KindValidation, "messages[0].content[1]: content block must set exactly one of"},
		{"block with two kinds", msg(`{"text":"hi","cachePoint":{"type":"default"}}`), llm.KindValidation, "messages[0].content[0]: content block must set exactly one member, got [cachePoint text]"},
		{"unknown block kind", msg(`{"text":"hi"},{"sound":{}}`), llm.KindValidation, `messages[0].content[1]: unknown content block kind "sound"`},
		{"block not an object", msg(`"hi"`), llm.KindValidation, "messages[0].content[0]: expected an object, got a string"},
		{"empty text", msg(`{"text":""}`), llm.KindValidation, "messages[0].content[0].text: must not be empty"},
		{"text wrong type", msg(`{"text":42}`), llm.KindValidation, "messages[0].content[0].text: expected a string, got a number"},
		{"bad image format", msg(`{"image":{"format":"bmp","source":{"bytes":"AAAA"}}}`), llm.KindValidation, `messages[0].content[0].image.format: "bmp" is not one of`},
		{"bad base64", msg(`{"image":{"format":"png","source":{"bytes":"not base64!"}}}`), llm.KindValidation, "messages[0].content[0].image.source.bytes: invalid base64"},
		{"missing image source", msg(`{"image":{"format":"png"}}`), llm.KindValidation, "messages[0].content[0].image.source: is required"},
		{"image s3 source", msg(`{"image":{"format":"png","source":{"s3Location":{"uri":"s3://b/k"}}}}`), llm.KindUnsupported, "messages[0].content[0].image.source.s3Location: source kind"},
		{"document without name", msg(`{"document":{"format":"pdf","source":{"bytes":"AAAA"}}}`), llm.KindValidation, "messages[0].content[0].document.name: is required"},
		{"document text source", msg(`{"document":{"format":"txt","name":"a","source":{"text":"hello"}}}`), llm.KindUnsupported, "messages[0].content[0].document.source.text"},
		{"document citations", msg(`{"document":{"format":"pdf","name":"a","source":{"bytes":"AAAA"},"citations":{"enabled":true}}}`), llm.KindUnsupported, "messages[0].content[0].document.citations"},
		{"video", msg(`{"video":{"format":"mp4","source":{"bytes":"AAAA"}}}`), llm.KindUnsupported, `messages[0].content[0].video: content block kind "video" is not supported`},
		{"audio", msg(`{"audio":{}}`), llm.KindUnsupported, "messages[0].content[0].audio"},
		{"guardContent", msg(`{"guardContent":{"text":{"text":"x"}}}`), llm.KindUnsupported, "messages[0].content[0].guardContent"},
		{"toolUse missing id", msg(`{"toolUse":{"name":"f","input":{}}}`), llm.KindValidation, "messages[0].content[0].toolUse.toolUseId: is required"},
		{"toolUse bad name", msg(`{"toolUse":{"toolUseId":"1","name":"a b","input":{}}}`), llm.KindValidation, "messages[0].content[0].toolUse.name:"},
		{"toolUse input not object", msg(`{"toolUse":{"toolUseId":"1","name":"f","input":"{}"}}`), llm.KindValidation, "messages[0].content[0].toolUse.input: expected a JSON object, got a string"},
		{"toolUse server type", msg(`{"toolUse":{"toolUseId":"1","name":"f","input":{},"type":"server_tool_use"}}`), llm.KindUnsupported, "messages[0].content[0].toolUse.type"},
		{"toolResult bad status", msg(`{"toolResult":{"toolUseId":"1","content":[],"status":"ok"}}`), llm.KindValidation, `messages[0].content[0].toolResult.status: "ok" is not one of`},
		{"toolResult missing content", msg(`{"toolResult":{"toolUseId":"1"}}`), llm.KindValidation, "messages[0].content[0].toolResult.content: is required"},
		{"toolResult bad content", msg(`{"toolResult":{"toolUseId":"1","content":[{"text":"a"},{"json":{},"text":"b"}]}}`), llm.KindValidation, "messages[0].content[0].toolResult.content[1]: tool result content must set exactly one member"},
		{"toolResult document", msg(`{"toolResult":{"toolUseId":"1","content":[{"document":{}}]}}`), llm.KindUnsupported, "messages[0].content[0].toolResult.content[0].document"},
		{"cachePoint bad type", msg(`{"text":"hi"},{"cachePoint":{"type":"ephemeral"}}`), llm.KindValidation, `messages[0].content[1].cachePoint.type: "ephemeral" is not one of [default]`},
		{"cachePoint bad ttl", msg(`{"text":"hi"},{"cachePoint":{"type":"default","ttl":"10m"}}`), llm.KindValidation, "messages[0].content[1].cachePoint.ttl"},
		{"redacted reasoning", msg(`{"reasoningContent":{"redactedContent":"AAAA"}}`), llm.KindUnsupported, "messages[0].content[0].reasoningContent.redactedContent"},
		{"system guardContent", `{"messages":[` + user + `],"system":[{"guardContent":{}}]}`, llm.KindUnsupported, "system[0].guardContent"},
		{"system empty text", `{"messages":[` + user + `],"system":[{"text":""}]}`, llm.KindValidation, "system[0].text: must not be empty"},
		{"maxTokens zero", `{"messages":[` + user + `],"inferenceConfig":{"maxTokens":0}}`, llm.KindValidation, "inferenceConfig.maxTokens: must be at least 1"},
		{"maxTokens fraction", `{"messages":[` + user + `],"inferenceConfig":{"maxTokens":1.5}}`, llm.KindValidation, "inferenceConfig.maxTokens: expected a 32-bit integer"},
		{"maxTokens string", `{"messages":[` + user + `],"inferenceConfig":{"maxTokens":"10"}}`, llm.KindValidation, "inferenceConfig.maxTokens: expected an integer, got a string"},
		{"temperature too high", `{"messages":[` + user + `],"inferenceConfig":{"temperature":1.5}}`, llm.KindValidation, "inferenceConfig.temperature: must be between 0 and 1"},
		{"topP wrong type", `{"messages":[` + user + `],"inferenceConfig":{"topP":true}}`, llm.KindValidation, "inferenceConfig.topP: expected a number, got a boolean"},
		{"stop sequence empty", `{"messages":[` + user + `],"inferenceConfig":{"stopSequences":["a",""]}}`, llm.KindValidation, "inferenceConfig.stopSequences[1]: must not be empty"},
		{"unknown inference field", `{"messages":[` + user + `],"inferenceConfig":{"top_k":5}}`, llm.KindValidation, "inferenceConfig.top_k: unknown field"},
		{"no tools", tools(`{"tools":[]}`), llm.KindValidation, "toolConfig.tools: must contain at least one tool"},
		{"tool without schema", tools(`{"tools":[{"toolSpec":{"name":"f"}}]}`), llm.KindValidation, "toolConfig.tools[0].toolSpec.inputSchema: is required"},
		{"tool schema not object", tools(`{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":"x"}}}]}`), llm.KindValidation, "toolConfig.tools[0].toolSpec.inputSchema.json: expected a JSON object"},
		{"strict tool", tools(`{"tools":[{"toolSpec":{"name":"f","strict":true,"inputSchema":{"json":{}}}}]}`), llm.KindUnsupported, "toolConfig.tools[0].toolSpec.strict"},
		{"system tool", tools(`{"tools":[{"systemTool":{"name":"web"}}]}`), llm.KindUnsupported, "toolConfig.tools[0].systemTool"},
		{"two tool choices", tools(`{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{}}}}],"toolChoice":{"auto":{},"any":{}}}`), llm.KindValidation, "toolConfig.toolChoice: tool choice must set exactly one member"},
		{"tool choice without name", tools(`{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{}}}}],"toolChoice":{"tool":{}}}`), llm.KindValidation, "toolConfig.toolChoice.tool.name: is required"},
		{"guardrailConfig", `{"messages":[` + user + `],"guardrailConfig":{"guardrailIdentifier":"g","guardrailVersion":"1"}}`, llm.KindUnsupported, `guardrailConfig: field "guardrailConfig" is not supported`},
		{"promptVariables", `{"messages":[` + user + `],"promptVariables":{"x":{"text":"y"}}}`, llm.KindUnsupported, "promptVariables"},
		{"response field paths", `{"messages":[` + user + `],"additionalModelResponseFieldPaths":["/stop_sequence"]}`, llm.KindUnsupported, "additionalModelResponseFieldPaths"},
		{"outputConfig", `{"messages":[` + user + `],"outputConfig":{}}`, llm.KindUnsupported, "outputConfig"},
		{"optimized latency", `{"messages":[` + user + `],"performanceConfig":{"latency":"optimized"}}`, llm.KindUnsupported, "performanceConfig.latency"},
		{"bad latency", `{"messages":[` + user + `],"performanceConfig":{"latency":"fast"}}`, llm.KindValidation, "performanceConfig.latency"},
		{"unknown tier", `{"messages":[` + user + `],"serviceTier":{"type":"turbo"}}`, llm.KindValidation, "serviceTier.type"},
		{"additional not object", `{"messages":[` + user + `],"additionalModelRequestFields":[1]}`, llm.KindValidation, "additionalModelRequestFields: expected a JSON object, got an array"},
		{"metadata not string", `{"messages":[` + user + `],"requestMetadata":{"a":1}}`, llm.KindValidation, "requestMetadata.a: expected a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := DecodeRequest([]byte(tc.body))
			if err == nil {
				t.Fatalf("DecodeRequest succeeded: %+v", req)
			}
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *llm.Error", err, err)
			}
			if e.Kind != tc.kind {
				t.Errorf("kind = %q, want %q (%v)", e.Kind, tc.kind, e)
			}
			if !strings.HasPrefix(e.Message, tc.msg) {
				t.Errorf("message = %q, want prefix %q", e.Message, tc.msg)
			}
		})
	}
}

// TestDecodeRequestNulls checks that explicit nulls mean "not set", as in
// Bedrock's JSON protocol.
func TestDecodeRequestNulls(t *testing.T) {
	req, err := DecodeRequest([]byte(`{"messages":[{"role":"user","content":[{"text":"hi","image":null}]}],
		"system":null,"inferenceConfig":{"maxTokens":null},"toolConfig":null,"guardrailConfig":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.Config.MaxTokens != nil || req.Tools != nil || req.System != nil || req.Messages[0].Content[0].Text != "hi" {
		t.Fatalf("nulls not treated as absent: %+v", req)
	}
}

func TestDecodeRequestEscapesAndWhitespace(t *testing.T) {
	body := "\n\t{ \"mess\\u0061ges\" :\r\n [ {\"role\":\"user\", \"content\": [ {\"text\": \"tab\\there \\u00e9 \\\"q\\\"\"} ] } ] }  "
	req, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Messages[0].Content[0].Text; got != "tab\there é \"q\"" {
		t.Fatalf("text = %q", got)
	}
}

// FuzzDecodeRequest checks that DecodeRequest never panics and that what it
// accepts survives EncodeRequest and decodes again to the same request.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(fullBody))
	f.Add(chatBody)
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"text":"a"},{"cachePoint":{"type":"default"}}]}],"system":[{"text":"s"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body)
		if err != nil {
			return
		}
		req.Meta = llm.Meta{}
		out, err := EncodeRequest(req)
		if err != nil {
			t.Fatalf("EncodeRequest of a decoded request: %v", err)
		}
		again, err := DecodeRequest(out)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		out2, _ := EncodeRequest(again)
		if string(out) != string(out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}
