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

func ptr[T any](v T) *T { return &v }

// png1x1 is "PNG" plus a few bytes; the decoder does not look inside.
var pngBytes = []byte("\x89PNG\r\n\x1a\nfake")

const pngDataURL = "data:image/png;base64,iVBORw0KGgpmYWtl"

func TestDecodeRequest(t *testing.T) {
	user := func(blocks ...llm.Block) llm.Message { return llm.Message{Role: llm.RoleUser, Content: blocks} }
	assistant := func(blocks ...llm.Block) llm.Message { return llm.Message{Role: llm.RoleAssistant, Content: blocks} }
	text := llm.TextBlock
	toolUse := func(id, name, input string) llm.Block {
		return llm.Block{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: id, Name: name, Input: json.RawMessage(input)}}
	}
	toolResult := func(id, s string) llm.Block {
		return llm.Block{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: id, Content: []llm.ToolResultContent{{Text: s}}}}
	}
	weather := llm.Tool{Name: "weather", Description: "Weather in a city", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}
	toolsJSON := `"tools":[{"type":"function","function":{"name":"weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`

	tests := []struct {
		name string
		body string
		want *llm.Request
		opts openaiwire.Options
	}{{
		name: "plain chat",
		body: `{"model":"claude-haiku","messages":[{"role":"user","content":"Hello"}]}`,
		want: &llm.Request{Model: "claude-haiku", Messages: []llm.Message{user(text("Hello"))}},
	}, {
		name: "system and developer messages become system blocks",
		body: `{"model":"m","messages":[
			{"role":"system","content":"You are terse."},
			{"role":"developer","content":[{"type":"text","text":"Answer in French."},{"type":"text","text":"No emoji."}]},
			{"role":"user","content":"Hi"}]}`,
		want: &llm.Request{Model: "m",
			System:   []llm.SystemBlock{{Text: "You are terse."}, {Text: "Answer in French.\nNo emoji."}},
			Messages: []llm.Message{user(text("Hi"))}},
	}, {
		name: "multi-part user content with a data URL image",
		body: `{"model":"m","messages":[{"role":"user","content":[
			{"type":"text","text":"What is this?"},
			{"type":"image_url","image_url":{"url":"` + pngDataURL + `","detail":"high"}}]}]}`,
		want: &llm.Request{Model: "m", Messages: []llm.Message{user(text("What is this?"),
			llm.Block{Type: llm.BlockImage, Image: &llm.Image{Format: "png", Bytes: pngBytes}})}},
	}, {
		name: "unpadded base64 and upper-case media type",
		body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:IMAGE/JPEG;base64,iVBORw0KGgpmYWtl"}}]}]}`,
		want: &llm.Request{Model: "m", Messages: []llm.Message{user(llm.Block{Type: llm.BlockImage, Image: &llm.Image{Format: "jpeg", Bytes: pngBytes}})}},
	}, {
		name: "tool calls and consecutive tool results merge into one user turn before its text",
		body: `{"model":"m",` + toolsJSON + `,"messages":[
			{"role":"user","content":"Weather in Paris and Oslo?"},
			{"role":"assistant","content":null,"tool_calls":[
				{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
				{"id":"call_2","type":"function","function":{"name":"weather","arguments":""}}]},
			{"role":"tool","tool_call_id":"call_1","content":"18C"},
			{"role":"user","content":"Be brief."},
			{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"9C"}]}]}`,
		want: &llm.Request{Model: "m", Tools: &llm.ToolConfig{Tools: []llm.Tool{weather}},
			Messages: []llm.Message{
				user(text("Weather in Paris and Oslo?")),
				assistant(toolUse("call_1", "weather", `{"city":"Paris"}`), toolUse("call_2", "weather", `{}`)),
				user(toolResult("call_1", "18C"), toolResult("call_2", "9C"), text("Be brief.")),
			}},
	}, {
		name: "assistant text with tool calls; blank text dropped",
		body: `{"model":"m",` + toolsJSON + `,"messages":[
			{"role":"user","content":"Paris?"},
			{"role":"assistant","content":"  ","tool_calls":[{"id":"c","type":"function","function":{"name":"weather","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"c","content":"18C"}]}`,
		want: &llm.Request{Model: "m", Tools: &llm.ToolConfig{Tools: []llm.Tool{weather}},
			Messages: []llm.Message{user(text("Paris?")), assistant(toolUse("c", "weather", `{}`)), user(toolResult("c", "18C"))}},
	}, {
		name: "assistant refusal is kept as text",
		body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"refusal":"I can't."},
			{"role":"user","content":"ok"},{"role":"assistant","content":[{"type":"refusal","refusal":"No."}]},{"role":"user","content":"fine"}]}`,
		want: &llm.Request{Model: "m", Messages: []llm.Message{user(text("x")), assistant(text("I can't.")), user(text("ok")), assistant(text("No.")), user(text("fine"))}},
	}, {
		name: "tool_choice auto",
		body: `{"model":"m",` + toolsJSON + `,"tool_choice":"auto","messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Tools: &llm.ToolConfig{Tools: []llm.Tool{weather}, Choice: llm.ToolChoice{Mode: llm.ToolChoiceAuto}},
			Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "tool_choice required",
		body: `{"model":"m",` + toolsJSON + `,"tool_choice":"required","messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Tools: &llm.ToolConfig{Tools: []llm.Tool{weather}, Choice: llm.ToolChoice{Mode: llm.ToolChoiceAny}},
			Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "tool_choice none offers no tools",
		body: `{"model":"m",` + toolsJSON + `,"tool_choice":"none","messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "tool_choice none without tools",
		body: `{"model":"m","tool_choice":"none","messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "tool_choice function",
		body: `{"model":"m",` + toolsJSON + `,"tool_choice":{"type":"function","function":{"name":"weather"}},"messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Tools: &llm.ToolConfig{Tools: []llm.Tool{weather}, Choice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "weather"}},
			Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "tool without parameters gets an empty object schema",
		body: `{"model":"m","tools":[{"type":"function","function":{"name":"now"}}],"messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Tools: &llm.ToolConfig{Tools: []llm.Tool{{Name: "now", InputSchema: json.RawMessage(`{"type":"object","properties":{}}`)}}},
			Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "stop as a string",
		body: `{"model":"m","stop":"END","messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Config: llm.InferenceConfig{StopSequences: []string{"END"}}, Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "stop as a list, sampling settings",
		body: `{"model":"m","stop":["a","b"],"temperature":0.2,"top_p":0.9,"max_tokens":50,"messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Config: llm.InferenceConfig{StopSequences: []string{"a", "b"}, Temperature: ptr(0.2), TopP: ptr(0.9), MaxTokens: ptr(50)},
			Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "max_completion_tokens wins over max_tokens",
		body: `{"model":"m","max_tokens":10,"max_completion_tokens":300,"messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Config: llm.InferenceConfig{MaxTokens: ptr(300)}, Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "user, safety_identifier and metadata become tags",
		body: `{"model":"m","user":"u-42","safety_identifier":"s-1","metadata":{"team":"search","env":"prod"},"messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Meta: llm.Meta{Tags: map[string]string{"user": "u-42", "safety_identifier": "s-1", "team": "search", "env": "prod"}},
			Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "stream with usage",
		body: `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`,
		want: &llm.Request{Model: "m", Meta: llm.Meta{Stream: true}, Messages: []llm.Message{user(text("x"))}},
		opts: openaiwire.Options{Stream: true, IncludeUsage: true},
	}, {
		name: "neutral values of unsupported parameters are accepted",
		body: `{"model":"m","n":1,"presence_penalty":0,"frequency_penalty":0,"logprobs":false,"top_logprobs":0,"parallel_tool_calls":true,
			"response_format":{"type":"text"},"service_tier":"auto","verbosity":"medium","store":false,"prompt_cache_key":"k","modalities":["text"],
			"messages":[{"role":"user","content":"x"}]}  ` + "\n",
		want: &llm.Request{Model: "m", Messages: []llm.Message{user(text("x"))}},
	}, {
		name: "escaped and plain content",
		body: `{"model":"m","messages":[{"role":"user","content":"line\nnext \u00e9 \"q\""},{"role":"user","content":"caf` + "\xc3\xa9" + ` \u2603"}]}`,
		want: &llm.Request{Model: "m", Messages: []llm.Message{user(text("line\nnext é \"q\""), text("café ☃"))}},
	}, {
		name: "consecutive user messages merge",
		body: `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`,
		want: &llm.Request{Model: "m", Messages: []llm.Message{user(text("a"), text("b"))}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, opts, err := openaiwire.DecodeRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("request mismatch\n got: %s\nwant: %s", g, w)
			}
			if opts != tt.opts {
				t.Errorf("options = %+v, want %+v", opts, tt.opts)
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"x"}]`
	tools := `"tools":[{"type":"function","function":{"name":"f"}}]`
	tests := []struct {
		name string
		body string
		kind llm.ErrorKind
		want []string // substrings of the message, the first naming the parameter
	}{
		{"malformed JSON", `{"model":"m",}`, llm.KindValidation, []string{"not valid JSON"}},
		{"truncated JSON", `{"model":"m"`, llm.KindValidation, []string{"not valid JSON"}},
		{"empty body", ``, llm.KindValidation, []string{"empty"}},
		{"blank body", " \n ", llm.KindValidation, []string{"empty"}},
		{"not an object", `[1]`, llm.KindValidation, []string{"JSON object"}},
		{"trailing data", `{"model":"m",` + msgs + `} }`, llm.KindValidation, []string{"single JSON object"}},
		{"two objects", `{"model":"m",` + msgs + `}{}`, llm.KindValidation, []string{"single JSON object"}},
		{"max_tokens wrong type", `{"model":"m","max_tokens":"ten",` + msgs + `}`, llm.KindValidation, []string{"'max_tokens'", "an integer", "string"}},
		{"temperature wrong type", `{"model":"m","temperature":"hot",` + msgs + `}`, llm.KindValidation, []string{"'temperature'", "a number"}},
		{"messages wrong type", `{"model":"m","messages":"hi"}`, llm.KindValidation, []string{"'messages'", "an array"}},
		{"content wrong type", `{"model":"m","messages":[{"role":"user","content":5}]}`, llm.KindValidation, []string{"content", "a string or an array"}},
		{"stop wrong type", `{"model":"m","stop":5,` + msgs + `}`, llm.KindValidation, []string{"'stop'", "a string or an array of strings"}},
		{"unknown top-level field", `{"model":"m","temprature":1,` + msgs + `}`, llm.KindValidation, []string{"temprature", "unrecognized request argument"}},
		{"unknown message field", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":"y","cache_control":{}}]}`, llm.KindValidation, []string{"messages[1]", "cache_control"}},
		{"unknown tool field", `{"model":"m","tools":[{"type":"function","function":{"name":"f","strict":true,"examples":[]}}],` + msgs + `}`, llm.KindValidation, []string{"tools[0].function", "examples"}},
		{"missing model", `{` + msgs + `}`, llm.KindValidation, []string{"model", "required"}},
		{"blank model", `{"model":" ",` + msgs + `}`, llm.KindValidation, []string{"model", "required"}},
		{"no messages", `{"model":"m","messages":[]}`, llm.KindValidation, []string{"messages"}},
		{"only system messages", `{"model":"m","messages":[{"role":"system","content":"s"}]}`, llm.KindValidation, []string{"messages", "user"}},
		{"first message from assistant", `{"model":"m","messages":[{"role":"assistant","content":"hi"}]}`, llm.KindValidation, []string{"messages", "first"}},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, llm.KindValidation, []string{"messages[0].role", "robot"}},
		{"missing role", `{"model":"m","messages":[{"content":"x"}]}`, llm.KindValidation, []string{"messages[0].role", "required"}},
		{"function role", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, llm.KindUnsupported, []string{"messages[0].role"}},
		{"empty user content", `{"model":"m","messages":[{"role":"user","content":""}]}`, llm.KindValidation, []string{"messages[0].content"}},
		{"null user content", `{"model":"m","messages":[{"role":"user","content":null}]}`, llm.KindValidation, []string{"messages[0].content"}},
		{"n=2", `{"model":"m","n":2,` + msgs + `}`, llm.KindUnsupported, []string{"n:", "one choice"}},
		{"n=0", `{"model":"m","n":0,` + msgs + `}`, llm.KindValidation, []string{"n:", "at least 1"}},
		{"logprobs", `{"model":"m","logprobs":true,` + msgs + `}`, llm.KindUnsupported, []string{"logprobs"}},
		{"top_logprobs", `{"model":"m","top_logprobs":3,` + msgs + `}`, llm.KindUnsupported, []string{"logprobs"}},
		{"seed", `{"model":"m","seed":7,` + msgs + `}`, llm.KindUnsupported, []string{"seed"}},
		{"presence_penalty", `{"model":"m","presence_penalty":0.5,` + msgs + `}`, llm.KindUnsupported, []string{"presence_penalty"}},
		{"frequency_penalty", `{"model":"m","frequency_penalty":0.5,` + msgs + `}`, llm.KindUnsupported, []string{"frequency_penalty"}},
		{"logit_bias", `{"model":"m","logit_bias":{"1":5},` + msgs + `}`, llm.KindUnsupported, []string{"logit_bias"}},
		{"response_format json_object", `{"model":"m","response_format":{"type":"json_object"},` + msgs + `}`, llm.KindUnsupported, []string{"response_format", "json_object"}},
		{"response_format json_schema", `{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"x"}},` + msgs + `}`, llm.KindUnsupported, []string{"response_format"}},
		{"reasoning_effort", `{"model":"m","reasoning_effort":"high",` + msgs + `}`, llm.KindUnsupported, []string{"reasoning_effort"}},
		{"verbosity", `{"model":"m","verbosity":"low",` + msgs + `}`, llm.KindUnsupported, []string{"verbosity"}},
		{"service_tier", `{"model":"m","service_tier":"flex",` + msgs + `}`, llm.KindUnsupported, []string{"service_tier"}},
		{"audio output", `{"model":"m","modalities":["text","audio"],` + msgs + `}`, llm.KindUnsupported, []string{"modalities"}},
		{"functions API", `{"model":"m","functions":[{"name":"f"}],` + msgs + `}`, llm.KindUnsupported, []string{"functions"}},
		{"parallel_tool_calls false", `{"model":"m","parallel_tool_calls":false,` + tools + `,` + msgs + `}`, llm.KindUnsupported, []string{"parallel_tool_calls"}},
		{"remote image URL", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`, llm.KindUnsupported, []string{"messages[0].content[1].image_url.url", "data URL"}},
		{"image without URL", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, llm.KindValidation, []string{"messages[0].content[0].image_url.url", "required"}},
		{"image not base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, llm.KindValidation, []string{"messages[0].content[0].image_url.url", "base64"}},
		{"image bad base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!"}}]}]}`, llm.KindValidation, []string{"messages[0].content[0].image_url.url", "base64"}},
		{"image type bmp", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AAAA"}}]}]}`, llm.KindUnsupported, []string{"messages[0].content[0].image_url.url", "image/bmp"}},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, llm.KindUnsupported, []string{"messages[0].content[0].type"}},
		{"unknown part type", `{"model":"m","messages":[{"role":"user","content":[{"type":"video"}]}]}`, llm.KindValidation, []string{"messages[0].content[0].type", "video"}},
		{"image in system message", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"` + pngDataURL + `"}}]},{"role":"user","content":"x"}]}`, llm.KindUnsupported, []string{"messages[0].content[0].type"}},
		{"temperature 1.5", `{"model":"m","temperature":1.5,` + msgs + `}`, llm.KindUnsupported, []string{"temperature", "0 to 1"}},
		{"temperature 2.5", `{"model":"m","temperature":2.5,` + msgs + `}`, llm.KindValidation, []string{"temperature", "between 0 and 2"}},
		{"negative temperature", `{"model":"m","temperature":-0.1,` + msgs + `}`, llm.KindValidation, []string{"temperature"}},
		{"top_p above 1", `{"model":"m","top_p":1.2,` + msgs + `}`, llm.KindValidation, []string{"top_p"}},
		{"max_tokens 0", `{"model":"m","max_tokens":0,` + msgs + `}`, llm.KindValidation, []string{"max_tokens", "at least 1"}},
		{"max_completion_tokens 0", `{"model":"m","max_tokens":5,"max_completion_tokens":0,` + msgs + `}`, llm.KindValidation, []string{"max_completion_tokens:", "at least 1"}},
		{"too many stop sequences", `{"model":"m","stop":["a","b","c","d","e"],` + msgs + `}`, llm.KindValidation, []string{"stop", "at most 4"}},
		{"empty stop sequence", `{"model":"m","stop":["a",""],` + msgs + `}`, llm.KindValidation, []string{"stop[1]"}},
		{"stream_options without stream", `{"model":"m","stream_options":{"include_usage":true},` + msgs + `}`, llm.KindValidation, []string{"stream_options", "stream"}},
		{"tool_choice required without tools", `{"model":"m","tool_choice":"required",` + msgs + `}`, llm.KindValidation, []string{"tool_choice", "tools"}},
		{"tool_choice unknown function", `{"model":"m","tool_choice":{"type":"function","function":{"name":"g"}},` + tools + `,` + msgs + `}`, llm.KindValidation, []string{"tool_choice.function.name", "g"}},
		{"tool_choice bad string", `{"model":"m","tool_choice":"always",` + tools + `,` + msgs + `}`, llm.KindValidation, []string{"tool_choice", "always"}},
		{"tool_choice allowed_tools", `{"model":"m","tool_choice":{"type":"allowed_tools"},` + tools + `,` + msgs + `}`, llm.KindUnsupported, []string{"tool_choice", "allowed_tools"}},
		{"tool_choice none with a bad tool", `{"model":"m","tool_choice":"none","tools":[{"type":"function","function":{"name":""}}],` + msgs + `}`, llm.KindValidation, []string{"tools[0].function.name"}},
		{"custom tool", `{"model":"m","tools":[{"type":"custom","function":{"name":"f"}}],` + msgs + `}`, llm.KindUnsupported, []string{"tools[0].type", "custom"}},
		{"duplicate tool", `{"model":"m","tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}],` + msgs + `}`, llm.KindValidation, []string{"tools[1].function.name", "duplicate"}},
		{"tool schema not an object", `{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":[1]}}],` + msgs + `}`, llm.KindValidation, []string{"tools[0].function.parameters"}},
		{"tool call without id", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, llm.KindValidation, []string{"messages[1].tool_calls[0].id"}},
		{"tool call arguments not an object", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, llm.KindValidation, []string{"messages[1].tool_calls[0].function.arguments"}},
		{"empty assistant message", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":""}]}`, llm.KindValidation, []string{"messages[1]", "content or tool_calls"}},
		{"tool message without id", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}`, llm.KindValidation, []string{"messages[1].tool_call_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _, err := openaiwire.DecodeRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("no error; request %+v", req)
			}
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *llm.Error", err, err)
			}
			if e.Kind != tt.kind {
				t.Errorf("kind = %s, want %s (%v)", e.Kind, tt.kind, err)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not contain %q", err.Error(), s)
				}
			}
			if status, _ := openaiwire.ErrorFor(err); status != 400 {
				t.Errorf("status = %d, want 400", status)
			}
		})
	}
}

// The benchmark body: a follow-up turn of a chat with a system prompt.
var benchBody = []byte(`{"model":"claude-3-5-haiku","max_tokens":512,"temperature":0.3,"messages":[
	{"role":"system","content":"You are a helpful assistant for an online bookshop. Answer briefly and politely."},
	{"role":"user","content":"Do you have any books by Ursula K. Le Guin in stock, and how long does shipping to Lyon take?"},
	{"role":"assistant","content":"Yes: The Left Hand of Darkness and A Wizard of Earthsea are in stock. Shipping to Lyon takes 2 to 4 working days."}]}`)

func BenchmarkDecodeRequest(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, _, err := openaiwire.DecodeRequest(benchBody); err != nil {
			b.Fatal(err)
		}
	}
}
