package responseswire_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/responseswire"
)

const png = "data:image/png;base64,iVBORw0KGgo="

func decode(t *testing.T, body string) (*responseswire.Create, *llm.Request) {
	t.Helper()
	c, err := responseswire.Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	req, err := c.Request(nil)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	return c, req
}

func TestDecodeTranslates(t *testing.T) {
	c, req := decode(t, `{"model":"nova-pro","instructions":"Be brief.","max_output_tokens":300,"temperature":0.2,"top_p":0.9,
		"metadata":{"team":"support"},"user":"u1","service_tier":"flex","store":false,"parallel_tool_calls":true,
		"text":{"format":{"type":"text"},"verbosity":"medium"},"truncation":"disabled","include":["reasoning.encrypted_content"],
		"reasoning":{"effort":null,"summary":null},"prompt_cache_key":"k","stream":true,"stream_options":{"include_obfuscation":false},
		"tools":[{"type":"function","name":"lookup","description":"Look up","parameters":{"type":"object"},"strict":true},{"type":"function","name":"other"}],
		"tool_choice":{"type":"function","name":"lookup"},
		"input":[
			{"role":"developer","content":"Answer in French."},
			{"type":"message","role":"user","content":[{"type":"input_text","text":"What is this?"},{"type":"input_image","image_url":"`+png+`","detail":"low"}]},
			{"type":"reasoning","id":"rs_1","summary":[],"content":[{"type":"reasoning_text","text":"Hmm."}],"encrypted_content":"sig"},
			{"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Let me look.","annotations":[],"logprobs":[]}]},
			{"type":"function_call","id":"fc_1","call_id":"call_1","name":"lookup","arguments":"{\"q\":\"x\"}","status":"completed"},
			{"type":"function_call_output","call_id":"call_1","output":[{"type":"input_text","text":"a cat"},{"type":"input_image","image_url":"`+png+`"}]},
			{"role":"user","content":"Thanks"}
		]}`)
	if c.Store || c.ServiceTier != llm.TierFlex || !c.Wire.Stream || len(c.Tools) != 2 {
		t.Errorf("create: %+v", c)
	}
	if req.Model != "nova-pro" || *req.Config.MaxTokens != 300 || *req.Config.Temperature != 0.2 || *req.Config.TopP != 0.9 ||
		req.ServiceTier != llm.TierFlex || !req.Meta.Stream || req.Meta.Tags["team"] != "support" || req.Meta.Tags["user"] != "u1" {
		t.Errorf("request settings: %+v", req)
	}
	if len(req.System) != 2 || req.System[0].Text != "Be brief." || req.System[1].Text != "Answer in French." {
		t.Errorf("system: %+v", req.System)
	}
	if tc := req.Tools; tc == nil || len(tc.Tools) != 2 || tc.Choice != (llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "lookup"}) ||
		string(tc.Tools[1].InputSchema) != `{"type":"object","properties":{}}` {
		t.Errorf("tools: %+v", req.Tools)
	}
	m := req.Messages
	if len(m) != 3 {
		t.Fatalf("messages: %+v", m)
	}
	if m[0].Role != llm.RoleUser || len(m[0].Content) != 2 || m[0].Content[1].Image.Format != "png" {
		t.Errorf("user turn: %+v", m[0])
	}
	a := m[1].Content
	if m[1].Role != llm.RoleAssistant || len(a) != 3 || a[0].Type != llm.BlockReasoning || a[0].Signature != "sig" || a[0].Text != "Hmm." ||
		a[1].Text != "Let me look." || a[2].ToolUse.ID != "call_1" || string(a[2].ToolUse.Input) != `{"q":"x"}` {
		t.Errorf("assistant turn: %+v", a)
	}
	u := m[2].Content
	if m[2].Role != llm.RoleUser || len(u) != 2 || u[0].ToolResult.ToolUseID != "call_1" || len(u[0].ToolResult.Content) != 2 ||
		u[0].ToolResult.Content[0].Text != "a cat" || u[0].ToolResult.Content[1].Image == nil || u[1].Text != "Thanks" {
		t.Errorf("tool result turn: %+v", u)
	}
}

func TestDecodeStringInputAndTemplates(t *testing.T) {
	c, req := decode(t, `{"model":"m","input":"hello"}`)
	if !c.Store || len(req.Messages) != 1 || req.LastUserText() != "hello" || req.Tools != nil {
		t.Errorf("string input: %+v", req)
	}
	// A managed template may supply the whole prompt.
	if _, req = decode(t, `{"model":"m","metadata":{"penny_template":"greet","name":"Ada"}}`); len(req.Messages) != 0 || req.Meta.Tags["name"] != "Ada" {
		t.Errorf("templated: %+v", req)
	}
	// tool_choice none: the tools are not offered.
	if _, req = decode(t, `{"model":"m","input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":"none"}`); req.Tools != nil {
		t.Errorf("tool_choice none: %+v", req.Tools)
	}
	// service_tier auto is the default tier: nothing asked.
	if c, _ = decode(t, `{"model":"m","input":"x","service_tier":"auto"}`); c.ServiceTier != "" {
		t.Errorf("auto tier: %q", c.ServiceTier)
	}
}

// TestRefusals checks that each error names its parameter, with the kind
// that maps to OpenAI's invalid_request / unsupported_parameter codes.
func TestRefusals(t *testing.T) {
	const in = `"input":"x"`
	cases := []struct {
		name, body, param string
		kind              llm.ErrorKind
	}{
		{"not JSON", `{"model":`, "", llm.KindValidation},
		{"two objects", `{"model":"m",` + in + `} {}`, "", llm.KindValidation},
		{"unknown top-level field", `{"model":"m",` + in + `,"n":2}`, "n", llm.KindValidation},
		{"unknown text.format field", `{"model":"m",` + in + `,"text":{"format":{"type":"text","colour":1}}}`, "text.format", llm.KindValidation},
		{"unknown part field", `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"x","bold":true}]}]}`, "input[0].content[0]", llm.KindValidation},
		{"part text wrong type", `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":5}]}]}`, "input[0].content[0].text", llm.KindValidation},
		{"input number", `{"model":"m","input":5}`, "input", llm.KindValidation},
		{"empty input", `{"model":"m","input":""}`, "input", llm.KindValidation},
		{"stream_options without stream", `{"model":"m",` + in + `,"stream_options":{}}`, "stream_options", llm.KindValidation},
		{"max_output_tokens 0", `{"model":"m",` + in + `,"max_output_tokens":0}`, "max_output_tokens", llm.KindValidation},
		{"temperature 3", `{"model":"m",` + in + `,"temperature":3}`, "temperature", llm.KindValidation},
		{"top_p 2", `{"model":"m",` + in + `,"top_p":2}`, "top_p", llm.KindValidation},
		{"top_logprobs", `{"model":"m",` + in + `,"top_logprobs":2}`, "top_logprobs", llm.KindUnsupported},
		{"service tier junk", `{"model":"m",` + in + `,"service_tier":"gold"}`, "service_tier", llm.KindValidation},
		{"truncation junk", `{"model":"m",` + in + `,"truncation":"sometimes"}`, "truncation", llm.KindValidation},
		{"include junk", `{"model":"m",` + in + `,"include":["everything"]}`, "include[0]", llm.KindValidation},
		{"include of a built-in tool", `{"model":"m",` + in + `,"include":["file_search_call.results"]}`, "include[0]", llm.KindUnsupported},
		{"reasoning summary", `{"model":"m",` + in + `,"reasoning":{"summary":"auto"}}`, "reasoning", llm.KindUnsupported},
		{"verbosity", `{"model":"m",` + in + `,"text":{"verbosity":"low"}}`, "text.verbosity", llm.KindUnsupported},
		{"prompt cache retention", `{"model":"m",` + in + `,"prompt_cache_retention":"24h"}`, "prompt_cache_retention", llm.KindUnsupported},
		{"context management", `{"model":"m",` + in + `,"context_management":[{"type":"compaction"}]}`, "context_management", llm.KindUnsupported},
		{"mcp tool", `{"model":"m",` + in + `,"tools":[{"type":"mcp","server_label":"x"}]}`, "tools[0].type", llm.KindUnsupported},
		{"tool without type", `{"model":"m",` + in + `,"tools":[{"name":"f"}]}`, "tools[0].type", llm.KindValidation},
		{"tool without name", `{"model":"m",` + in + `,"tools":[{"type":"function"}]}`, "tools[0].name", llm.KindValidation},
		{"duplicate tool", `{"model":"m",` + in + `,"tools":[{"type":"function","name":"f"},{"type":"function","name":"f"}]}`, "tools[1].name", llm.KindValidation},
		{"schema not an object", `{"model":"m",` + in + `,"tools":[{"type":"function","name":"f","parameters":[1]}]}`, "tools[0].parameters", llm.KindValidation},
		{"tool choice without tools", `{"model":"m",` + in + `,"tool_choice":"required"}`, "tool_choice", llm.KindValidation},
		{"tool choice junk", `{"model":"m",` + in + `,"tool_choice":"always"}`, "tool_choice", llm.KindValidation},
		{"tool choice hosted", `{"model":"m",` + in + `,"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"web_search_preview"}}`, "tool_choice", llm.KindUnsupported},
		{"tool choice allowed_tools", `{"model":"m",` + in + `,"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"allowed_tools","mode":"auto","tools":[]}}`, "tool_choice", llm.KindUnsupported},
		{"image in system", `{"model":"m","input":[{"role":"system","content":[{"type":"input_image","image_url":"` + png + `"}]},{"role":"user","content":"x"}]}`, "input[0].content[0].type", llm.KindUnsupported},
		{"output_text from the user", `{"model":"m","input":[{"role":"user","content":[{"type":"output_text","text":"x"}]}]}`, "input[0].content[0].type", llm.KindValidation},
		{"image file id", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}`, "input[0].content[0].file_id", llm.KindUnsupported},
		{"image bad base64", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,!!"}]}]}`, "input[0].content[0].image_url", llm.KindValidation},
		{"cache breakpoint", `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"x","prompt_cache_breakpoint":{"mode":"explicit"}}]}]}`, "input[0].content[0].prompt_cache_breakpoint", llm.KindUnsupported},
		{"empty user message", `{"model":"m","input":[{"role":"user","content":[]}]}`, "input[0].content", llm.KindValidation},
		{"message without role", `{"model":"m","input":[{"type":"message","content":"x"}]}`, "input[0].role", llm.KindValidation},
		{"unknown item type", `{"model":"m","input":[{"type":"thought"}]}`, "input[0].type", llm.KindValidation},
		{"item not an object", `{"model":"m","input":["x"]}`, "input[0]", llm.KindValidation},
		{"call arguments not an object", `{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call","call_id":"c","name":"f","arguments":"[1]"}]}`, "input[1].arguments", llm.KindValidation},
		{"call without name", `{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call","call_id":"c"}]}`, "input[1].name", llm.KindValidation},
		{"namespaced call", `{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call","call_id":"c","name":"f","namespace":"ns"}]}`, "input[1].namespace", llm.KindUnsupported},
		{"output without call id", `{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call_output","output":"r"}]}`, "input[1].call_id", llm.KindValidation},
		{"output missing", `{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call_output","call_id":"c"}]}`, "input[1].output", llm.KindValidation},
		{"only a system message", `{"model":"m","input":[{"role":"system","content":"x"}]}`, "input", llm.KindValidation},
		{"computer call output", `{"model":"m","input":[{"type":"computer_call_output","call_id":"c","output":{}}]}`, "input[0].type", llm.KindUnsupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := responseswire.Decode([]byte(tc.body))
			if err == nil {
				_, err = c.Request(nil)
			}
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *llm.Error", err)
			}
			if e.Kind != tc.kind || e.Param != tc.param {
				t.Errorf("kind %s, param %q (%v); want %s, %q", e.Kind, e.Param, err, tc.kind, tc.param)
			}
			if last := tc.param[strings.LastIndexAny(tc.param, ".]")+1:]; !strings.Contains(e.Message, last) {
				t.Errorf("message %q does not name the parameter", e.Message)
			}
		})
	}
}

// TestItemsRoundTrip checks that normalised items, as they are stored,
// decode again to the same items, ids assigned.
func TestItemsRoundTrip(t *testing.T) {
	c, err := responseswire.Decode([]byte(`{"model":"m","input":[
		{"role":"user","content":"hi"},
		{"role":"assistant","content":"hello"},
		{"type":"function_call","call_id":"c1","name":"f","arguments":""},
		{"type":"function_call_output","call_id":"c1","output":"done"},
		{"type":"reasoning","summary":[{"type":"summary_text","text":"s"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c.AssignIDs("abc")
	raw, err := responseswire.Items(c.Input)
	if err != nil {
		t.Fatal(err)
	}
	back, err := responseswire.ParseItems(raw)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := responseswire.Items(back)
	for i := range raw {
		if string(raw[i]) != string(again[i]) {
			t.Errorf("item %d: %s, then %s", i, raw[i], again[i])
		}
	}
	want := []string{
		`{"type":"message","id":"msg_abc_in0","status":"completed","role":"user","content":[{"type":"input_text","text":"hi"}]}`,
		`{"type":"message","id":"msg_abc_in1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"hello","annotations":[],"logprobs":[]}]}`,
		`{"type":"function_call","id":"fc_abc_in2","call_id":"c1","name":"f","arguments":"{}","status":"completed"}`,
		`{"type":"function_call_output","id":"fco_abc_in3","call_id":"c1","output":"done","status":"completed"}`,
		`{"type":"reasoning","id":"rs_abc_in4","summary":[{"type":"summary_text","text":"s"}],"encrypted_content":null}`,
	}
	for i, w := range want {
		if string(raw[i]) != w {
			t.Errorf("item %d:\n got %s\nwant %s", i, raw[i], w)
		}
	}
	// A conversation continues with the new input after it.
	next, _ := responseswire.Decode([]byte(`{"model":"m","input":"and then?"}`))
	req, err := next.Request(back)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(req.Messages); n != 5 || req.LastUserText() != "and then?" {
		t.Errorf("continued: %+v", req.Messages)
	}
	var v []map[string]any
	b, _ := json.Marshal(raw)
	if json.Unmarshal(b, &v) != nil || len(v) != 5 {
		t.Errorf("stored items are not a JSON list: %s", b)
	}
}
