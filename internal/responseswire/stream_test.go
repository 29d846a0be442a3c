package responseswire_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/responseswire"
)

func start(t *testing.T) (*responseswire.Create, *responseswire.Response) {
	t.Helper()
	c, err := responseswire.Decode([]byte(`{"model":"m","input":"x","tools":[{"type":"function","name":"f"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return c, c.Start("resp_abc", 100, "nova-pro", true)
}

// answer has reasoning, text, a tool call and text again.
var answer = &llm.Response{
	Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
		{Type: llm.BlockReasoning, Text: "think", Signature: "sig"},
		llm.TextBlock("Let me check."),
		{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "call_1", Name: "f", Input: json.RawMessage(`{"a":1}`)}},
		llm.TextBlock("Done."),
	}},
	StopReason: llm.StopToolUse,
	Usage:      llm.Usage{InputTokens: 10, CacheReadTokens: 5, CacheWriteTokens: 2, OutputTokens: 7},
}

func TestComplete(t *testing.T) {
	_, r := start(t)
	r.Complete(answer, "abc", 101)
	b, _ := json.Marshal(r.Output)
	want := `[{"type":"reasoning","id":"rs_abc_0","summary":[],"content":[{"type":"reasoning_text","text":"think"}],"encrypted_content":"sig"},` +
		`{"type":"message","id":"msg_abc_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Let me check.","annotations":[],"logprobs":[]}]},` +
		`{"type":"function_call","id":"fc_abc_2","call_id":"call_1","name":"f","arguments":"{\"a\":1}","status":"completed"},` +
		`{"type":"message","id":"msg_abc_3","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Done.","annotations":[],"logprobs":[]}]}]`
	if string(b) != want {
		t.Errorf("output\n got %s\nwant %s", b, want)
	}
	u := r.Usage
	if r.Status != "completed" || *r.CompletedAt != 101 || u.InputTokens != 17 || u.InputTokensDetails.CachedTokens != 5 ||
		u.InputTokensDetails.CacheWriteTokens != 2 || u.OutputTokens != 7 || u.TotalTokens != 24 {
		t.Errorf("status %s, usage %+v", r.Status, u)
	}
	full, _ := json.Marshal(r)
	for _, s := range []string{`"object":"response"`, `"tool_choice":"auto"`, `"tools":[{"type":"function","name":"f","strict":true}]`,
		`"text":{"format":{"type":"text"},"verbosity":"medium"}`, `"store":true`, `"metadata":{}`, `"previous_response_id":null`} {
		if !strings.Contains(string(full), s) {
			t.Errorf("response lacks %s: %s", s, full)
		}
	}
}

func TestStreamEncoder(t *testing.T) {
	_, r := start(t)
	enc := responseswire.NewStreamEncoder(r, "abc")
	var names []string
	var datas []map[string]any
	add := func(evs []responseswire.Event) {
		for _, e := range evs {
			b, _ := json.Marshal(e.Data)
			var m map[string]any
			json.Unmarshal(b, &m)
			if m["type"] != e.Type {
				t.Errorf("event %s carries type %v", e.Type, m["type"])
			}
			names, datas = append(names, e.Type), append(datas, m)
		}
	}
	for _, ev := range llm.EventsOf(answer) {
		add(enc.Encode(ev))
	}
	final, evs := enc.Done(102)
	add(evs)
	want := []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added", "response.reasoning_text.delta", "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.completed",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s", strings.Join(names, "\n"))
	}
	for i, d := range datas {
		if d["sequence_number"] != float64(i) {
			t.Errorf("event %d (%s) has sequence number %v", i, names[i], d["sequence_number"])
		}
	}
	if d := datas[16]; d["arguments"] != `{"a":1}` || d["output_index"] != float64(2) || d["item_id"] != "fc_abc_2" {
		t.Errorf("arguments done: %v", d)
	}
	if d := datas[20]; d["delta"] != "Done." || d["output_index"] != float64(3) || d["content_index"] != float64(0) {
		t.Errorf("second text delta: %v", d)
	}
	// The streamed response is the one Complete builds.
	_, whole := start(t)
	whole.Complete(answer, "abc", 102)
	a, _ := json.Marshal(final)
	b, _ := json.Marshal(whole)
	if string(a) != string(b) {
		t.Errorf("streamed response\n%s\nwhole\n%s", a, b)
	}
	created := datas[0]["response"].(map[string]any)
	if created["status"] != "in_progress" || len(created["output"].([]any)) != 0 || created["usage"] != nil {
		t.Errorf("response.created carries %v", created)
	}
}

func TestStreamIncompleteAndFailed(t *testing.T) {
	_, r := start(t)
	enc := responseswire.NewStreamEncoder(r, "abc")
	for _, ev := range llm.EventsOf(&llm.Response{Message: llm.Message{Content: []llm.Block{llm.TextBlock("cut")}}, StopReason: llm.StopMaxTokens}) {
		enc.Encode(ev)
	}
	final, evs := enc.Done(1)
	if last := evs[len(evs)-1]; last.Type != "response.incomplete" || final.Status != "incomplete" ||
		final.IncompleteDetails.Reason != "max_output_tokens" || final.Output[0].Status != "incomplete" || final.CompletedAt != nil {
		t.Errorf("%s: %+v", last.Type, final)
	}

	_, r = start(t)
	enc = responseswire.NewStreamEncoder(r, "abc")
	enc.Encode(llm.Event{Type: llm.EventMessageStart})
	enc.Encode(llm.Event{Type: llm.EventBlockDelta, Delta: llm.Delta{Text: "par"}})
	evs = enc.Fail("server_error", "model_error", "the model broke", "")
	b, _ := json.Marshal(evs[0].Data)
	if len(evs) != 2 || evs[0].Type != "error" || evs[1].Type != "response.failed" ||
		string(b) != `{"type":"error","sequence_number":5,"code":"model_error","message":"the model broke","param":null,"error":{"type":"server_error","code":"model_error","message":"the model broke","param":null}}` {
		t.Errorf("failure events %v: %s", evs, b)
	}
	if enc.Response.Status != "failed" || enc.Response.Error.Code != "model_error" || enc.Response.Output[0].Status != "incomplete" ||
		enc.Response.Output[0].Content[0].Text != "par" {
		t.Errorf("failed response %+v", enc.Response)
	}
}
