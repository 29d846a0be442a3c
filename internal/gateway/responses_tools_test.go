package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/penny-gateway/penny/internal/llm"
)

var orderTool = responses.ToolParamOfFunction("get_order_status", map[string]any{
	"type": "object", "properties": map[string]any{"order_id": map[string]any{"type": "string"}}, "required": []string{"order_id"},
}, true)

func toolOutput(callID, output string) responses.ResponseInputItemUnionParam {
	it := responses.ResponseInputItemParamOfFunctionCallOutput(output)
	it.OfFunctionCallOutput.CallID = openai.String(callID)
	return it
}

func required() responses.ResponseNewParamsToolChoiceUnion {
	return responses.ResponseNewParamsToolChoiceUnion{OfToolChoiceMode: openai.Opt(responses.ToolChoiceOptionsRequired)}
}

// functionCall returns the response's one function call, failing the
// test if there is none.
func functionCall(t *testing.T, r *responses.Response) responses.ResponseOutputItemUnion {
	t.Helper()
	for _, it := range r.Output {
		if it.Type == "function_call" {
			var args map[string]any
			if it.CallID == "" || it.Name != "get_order_status" || json.Unmarshal([]byte(it.Arguments.OfString), &args) != nil {
				t.Fatalf("function call %s", it.RawJSON())
			}
			return it
		}
	}
	t.Fatalf("no function call in %s", r.RawJSON())
	return responses.ResponseOutputItemUnion{}
}

// TestResponsesFunctionTools runs the function-tool round trip on the
// real Bedrock provider against the fake Bedrock: the model calls the
// tool, the client sends its output with previous_response_id, and Penny
// sends Bedrock the whole conversation, as Converse turns.
func TestResponsesFunctionTools(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	c := responsesClient(e, "test")
	ctx := context.Background()
	r1, err := c.New(ctx, responses.ResponseNewParams{
		Model: "nova-pro", Input: text("What is the status of order 42?"), Instructions: openai.String("Use the tools."),
		Tools: []responses.ToolUnionParam{orderTool}, ToolChoice: required(),
	})
	if err != nil {
		t.Fatal(err)
	}
	call := functionCall(t, r1)
	if !strings.Contains(r1.RawJSON(), `"tool_choice":"required"`) || len(r1.Tools) != 1 || r1.Tools[0].Name != "get_order_status" {
		t.Errorf("echo of tools: %s", r1.RawJSON())
	}
	r2, err := c.New(ctx, responses.ResponseNewParams{
		Model: "nova-pro", PreviousResponseID: openai.String(r1.ID), Tools: []responses.ToolUnionParam{orderTool},
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{toolOutput(call.CallID, `{"status":"shipped"}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.OutputText(); got != `tool result: {"status":"shipped"}` || r2.PreviousResponseID != r1.ID {
		t.Errorf("answer after the tool output: %s", r2.RawJSON())
	}
	// What Bedrock was sent: no instructions (they are not carried over),
	// the user's question, the call, its result.
	last, _ := e.Fake.LastCall()
	m := last.Request.Messages
	if len(last.Request.System) != 0 || len(m) != 3 || m[0].Role != llm.RoleUser || m[1].Content[0].Type != llm.BlockToolUse ||
		m[1].Content[0].ToolUse.ID != call.CallID || m[2].Content[0].Type != llm.BlockToolResult ||
		m[2].Content[0].ToolResult.ToolUseID != call.CallID {
		t.Errorf("upstream request %+v", last.Request)
	}
	items, err := c.InputItems.List(ctx, r2.ID, responses.InputItemListParams{Order: responses.InputItemListParamsOrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, it := range items.Data {
		types = append(types, it.Type)
	}
	if strings.Join(types, " ") != "message function_call function_call_output" || items.Data[1].ID != call.ID {
		t.Errorf("input items of the follow-up: %s", items.RawJSON())
	}
	checkRecord(t, e, r2, e.record(strings.TrimPrefix(r2.ID, "resp_")).Cost.Exact())
}

// TestResponsesStateless sends a conversation back whole, as stateless
// agents do with store: false: the function call as the answer returned
// it (the raw output item, every field of it), then its output.
func TestResponsesStateless(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := responsesClient(e, "test")
	ctx := context.Background()
	r1, err := c.New(ctx, responses.ResponseNewParams{
		Model: "nova-pro", Input: text("What is the status of order 42?"), Store: openai.Bool(false),
		Tools: []responses.ToolUnionParam{orderTool}, ToolChoice: required(),
	})
	if err != nil {
		t.Fatal(err)
	}
	call := functionCall(t, r1)
	if !strings.Contains(r1.RawJSON(), `"store":false`) {
		t.Errorf("store: %s", r1.RawJSON())
	}
	_, err = c.Get(ctx, r1.ID, responses.ResponseGetParams{})
	wantAPIError(t, err, http.StatusNotFound, "response_not_found", "")

	body := `{"model":"nova-pro","store":false,"tools":[{"type":"function","name":"get_order_status","parameters":{"type":"object"}}],"input":[
		{"role":"user","content":"What is the status of order 42?"},` + call.RawJSON() + `,
		{"type":"function_call_output","call_id":"` + call.CallID + `","output":"{\"status\":\"shipped\"}"}]}`
	resp, err := e.Client.Post(e.URL+"/v1/responses", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var r2 responses.Response
	if resp.StatusCode != 200 || json.Unmarshal(b, &r2) != nil || r2.OutputText() == "" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}

	// A previous_response_id naming the unstored response is not found,
	// and the refusal is recorded.
	var httpResp *http.Response
	_, err = c.New(ctx, responses.ResponseNewParams{Model: "nova-pro", PreviousResponseID: openai.String(r1.ID), Input: text("and order 43?")},
		option.WithResponseInto(&httpResp))
	wantAPIError(t, err, http.StatusNotFound, "previous_response_not_found", "previous_response_id")
	rec := e.record(httpResp.Header.Get(HeaderRequestID))
	if rec.API != "responses" || rec.ErrorKind != string(llm.KindNotFound) || rec.HTTPStatus != 404 || rec.ModelRequested != "nova-pro" {
		t.Errorf("record of the refusal %+v", rec)
	}
}

// TestResponsesStreamedToolCall streams a function call: its arguments
// arrive as function_call_arguments deltas, then done.
func TestResponsesStreamedToolCall(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	c := responsesClient(e, "test")
	st := c.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model: "nova-pro", Input: text("What is the status of order 42?"),
		Tools: []responses.ToolUnionParam{orderTool}, ToolChoice: required(),
	})
	s := collect(t, st)
	want := "response.created response.in_progress response.output_item.added response.function_call_arguments.delta " +
		"response.function_call_arguments.done response.output_item.done response.completed"
	if squeeze(s.types) != want {
		t.Errorf("events %v", s.types)
	}
	call := functionCall(t, &s.final)
	if call.Arguments.OfString != s.args.String() || call.Status != "completed" {
		t.Errorf("streamed arguments %q, final %s", s.args.String(), call.RawJSON())
	}
	checkRecord(t, e, &s.final, e.record(strings.TrimPrefix(s.final.ID, "resp_")).Cost.Exact())
}

// TestResponsesReasoning answers with reasoning (the fake Bedrock plays a
// thinking model): it comes out as a reasoning item with Bedrock's
// signature as encrypted_content, and goes back to Bedrock, signed, when
// the conversation continues.
func TestResponsesReasoning(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	e.Fake.SetResponder(func(model string, req *llm.Request) (*llm.Response, error) {
		return &llm.Response{StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 20, OutputTokens: 30},
			Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockReasoning, Text: "The user greets me.", Signature: "sig-123"}, llm.TextBlock("Hello!")}}}, nil
	})
	c := responsesClient(e, "test")
	ctx := context.Background()
	for _, stream := range []bool{false, true} {
		var r *responses.Response
		params := responses.ResponseNewParams{Model: "claude-sonnet-4-5", Input: text("Hi")}
		if stream {
			s := collect(t, c.NewStreaming(ctx, params))
			if !strings.Contains(strings.Join(s.types, " "), "response.reasoning_text.delta") {
				t.Errorf("streamed events %v", s.types)
			}
			r = &s.final
		} else {
			var err error
			if r, err = c.New(ctx, params); err != nil {
				t.Fatal(err)
			}
		}
		if len(r.Output) != 2 || r.Output[0].Type != "reasoning" || r.Output[0].EncryptedContent != "sig-123" ||
			!strings.Contains(r.Output[0].RawJSON(), `"text":"The user greets me."`) || r.OutputText() != "Hello!" {
			t.Errorf("stream %v: output %s", stream, r.RawJSON())
		}
		if _, err := c.New(ctx, responses.ResponseNewParams{Model: "claude-sonnet-4-5", PreviousResponseID: openai.String(r.ID), Input: text("Bye")}); err != nil {
			t.Fatal(err)
		}
		last, _ := e.Fake.LastCall()
		if m := last.Request.Messages; len(m) != 3 || m[1].Content[0].Type != llm.BlockReasoning || m[1].Content[0].Signature != "sig-123" ||
			m[1].Content[0].Text != "The user greets me." || m[1].Content[1].Text != "Hello!" {
			t.Errorf("stream %v: continued upstream with %+v", stream, m)
		}
	}
}
