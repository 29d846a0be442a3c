package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/provider/sim"
)

// TestResponsesErrors sends what is malformed and what Bedrock cannot do:
// each gets OpenAI's error shape, naming the parameter, and a ledger
// record of the responses API.
func TestResponsesErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	const in = `"input":"hi"`
	cases := []struct {
		name, body   string
		status       int
		code, param  string
		kind         llm.ErrorKind
		msg, tracked string // tracked: the model the record names
	}{
		{"malformed JSON", `{"model":"nova-micro","input":[`, 400, "invalid_request", "", llm.KindValidation, "not valid JSON", ""},
		{"unknown field", `{"model":"nova-micro",` + in + `,"temprature":0.5}`, 400, "invalid_request", "temprature", llm.KindValidation, "temprature", "nova-micro"},
		{"unknown item field", `{"model":"nova-micro","input":[{"role":"user","content":"hi","colour":"red"}]}`, 400, "invalid_request", "input[0]", llm.KindValidation, "colour", "nova-micro"},
		{"wrong type", `{"model":"nova-micro",` + in + `,"max_output_tokens":"ten"}`, 400, "invalid_request", "max_output_tokens", llm.KindValidation, "max_output_tokens", "nova-micro"},
		{"no model", `{` + in + `}`, 400, "invalid_request", "model", llm.KindValidation, "required", ""},
		{"no input", `{"model":"nova-micro"}`, 400, "invalid_request", "input", llm.KindValidation, "required", "nova-micro"},
		{"web search", `{"model":"nova-micro",` + in + `,"tools":[{"type":"web_search"}]}`, 400, "unsupported_parameter", "tools[0].type", llm.KindUnsupported, "web_search", "nova-micro"},
		{"file search", `{"model":"nova-micro",` + in + `,"tools":[{"type":"file_search","vector_store_ids":["vs_1"]}]}`, 400, "unsupported_parameter", "tools[0].type", llm.KindUnsupported, "file_search", "nova-micro"},
		{"computer use", `{"model":"nova-micro",` + in + `,"tools":[{"type":"computer_use_preview","display_width":1024,"display_height":768,"environment":"linux"}]}`, 400, "unsupported_parameter", "tools[0].type", llm.KindUnsupported, "computer_use_preview", "nova-micro"},
		{"background", `{"model":"nova-micro",` + in + `,"background":true}`, 400, "unsupported_parameter", "background", llm.KindUnsupported, "background", "nova-micro"},
		{"conversation", `{"model":"nova-micro",` + in + `,"conversation":"conv_1"}`, 400, "unsupported_parameter", "conversation", llm.KindUnsupported, "previous_response_id", "nova-micro"},
		{"prompt template", `{"model":"nova-micro",` + in + `,"prompt":{"id":"pmpt_1"}}`, 400, "unsupported_parameter", "prompt", llm.KindUnsupported, "template", "nova-micro"},
		{"json schema", `{"model":"nova-micro",` + in + `,"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}}}`, 400, "unsupported_parameter", "text.format", llm.KindUnsupported, "json_schema", "nova-micro"},
		{"json object", `{"model":"nova-micro",` + in + `,"text":{"format":{"type":"json_object"}}}`, 400, "unsupported_parameter", "text.format", llm.KindUnsupported, "json_object", "nova-micro"},
		{"reasoning", `{"model":"nova-micro",` + in + `,"reasoning":{"effort":"high"}}`, 400, "unsupported_parameter", "reasoning", llm.KindUnsupported, "reasoning", "nova-micro"},
		{"truncation auto", `{"model":"nova-micro",` + in + `,"truncation":"auto"}`, 400, "unsupported_parameter", "truncation", llm.KindUnsupported, "context window", "nova-micro"},
		{"logprobs", `{"model":"nova-micro",` + in + `,"include":["message.output_text.logprobs"]}`, 400, "unsupported_parameter", "include[0]", llm.KindUnsupported, "log probabilities", "nova-micro"},
		{"service tier scale", `{"model":"nova-micro",` + in + `,"service_tier":"scale"}`, 400, "unsupported_parameter", "service_tier", llm.KindUnsupported, "scale", "nova-micro"},
		{"parallel tool calls off", `{"model":"nova-micro",` + in + `,"parallel_tool_calls":false}`, 400, "unsupported_parameter", "parallel_tool_calls", llm.KindUnsupported, "false", "nova-micro"},
		{"temperature above 1", `{"model":"nova-micro",` + in + `,"temperature":1.5}`, 400, "unsupported_parameter", "temperature", llm.KindUnsupported, "0 to 1", "nova-micro"},
		{"audio input", `{"model":"nova-micro","input":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`, 400, "unsupported_parameter", "input[0].content[0].type", llm.KindUnsupported, "audio", "nova-micro"},
		{"remote image", `{"model":"nova-micro","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://example.com/cat.png"}]}]}`, 400, "unsupported_parameter", "input[0].content[0].image_url", llm.KindUnsupported, "data URL", "nova-micro"},
		{"file input", `{"model":"nova-micro","input":[{"role":"user","content":[{"type":"input_file","file_id":"file_1"}]}]}`, 400, "unsupported_parameter", "input[0].content[0].type", llm.KindUnsupported, "file", "nova-micro"},
		{"built-in tool item", `{"model":"nova-micro","input":[{"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search"}}]}`, 400, "unsupported_parameter", "input[0].type", llm.KindUnsupported, "web_search_call", "nova-micro"},
		{"item reference", `{"model":"nova-micro","input":[{"type":"item_reference","id":"msg_1"}]}`, 400, "unsupported_parameter", "input[0].type", llm.KindUnsupported, "previous_response_id", "nova-micro"},
		{"bad role", `{"model":"nova-micro","input":[{"role":"robot","content":"hi"}]}`, 400, "invalid_request", "input[0].role", llm.KindValidation, "robot", "nova-micro"},
		{"call without id", `{"model":"nova-micro","input":[{"role":"user","content":"hi"},{"type":"function_call","name":"f","arguments":"{}"}]}`, 400, "invalid_request", "input[1].call_id", llm.KindValidation, "required", "nova-micro"},
		{"starts with the assistant", `{"model":"nova-micro","input":[{"role":"assistant","content":"hi"}]}`, 400, "invalid_request", "input", llm.KindValidation, "user", "nova-micro"},
		{"tool choice names no tool", `{"model":"nova-micro",` + in + `,"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}`, 400, "invalid_request", "tool_choice.name", llm.KindValidation, "g", "nova-micro"},
		{"unknown model", `{"model":"gpt-9",` + in + `}`, 404, "model_not_found", "", llm.KindNotFound, "gpt-9", "gpt-9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.Client.Post(e.URL+"/v1/responses", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body struct {
				Error struct {
					Message, Type string
					Code, Param   *string
				}
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			typ := "invalid_request_error"
			if resp.StatusCode != tc.status || body.Error.Type != typ || deref(body.Error.Code) != tc.code || deref(body.Error.Param) != tc.param ||
				!strings.Contains(body.Error.Message, tc.msg) {
				t.Errorf("%d %s", resp.StatusCode, b)
			}
			rec := e.record(resp.Header.Get(HeaderRequestID))
			if rec.API != "responses" || rec.ErrorKind != string(tc.kind) || rec.HTTPStatus != tc.status || rec.ModelRequested != tc.tracked {
				t.Errorf("record %+v", rec)
			}
		})
	}

	// The SDK surfaces the refusal as an *openai.Error naming the parameter.
	c := responsesClient(e, "test")
	_, err := c.New(context.Background(), responses.ResponseNewParams{
		Model: "nova-micro", Input: text("hi"), Background: openai.Bool(true)})
	wantAPIError(t, err, http.StatusBadRequest, "unsupported_parameter", "background")

	// Wrong methods and unknown paths answer in the same shape.
	for _, tc := range []struct{ method, path, code string }{
		{"GET", "/v1/responses", "method_not_allowed"}, {"PUT", "/v1/responses/resp_1", "method_not_allowed"},
		{"POST", "/v1/responses/resp_1/cancel", "unsupported_parameter"}, {"POST", "/v1/responses/compact", "method_not_allowed"},
	} {
		req, _ := http.NewRequest(tc.method, e.URL+tc.path, nil)
		resp, err := e.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `"code":"`+tc.code+`"`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, b)
		}
	}
}

// TestResponsesTenants runs with auth on: a tenant's stored responses are
// another tenant's 404, to read, list, delete or continue.
func TestResponsesTenants(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	acme, globex := responsesClient(e, e.newKey("acme")), responsesClient(e, e.newKey("globex"))
	ctx := context.Background()
	r, err := acme.New(ctx, responses.ResponseNewParams{Model: "nova-micro", Input: text("Our plan X-17")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = globex.Get(ctx, r.ID, responses.ResponseGetParams{})
	wantAPIError(t, err, http.StatusNotFound, "response_not_found", "")
	_, err = globex.InputItems.List(ctx, r.ID, responses.InputItemListParams{})
	wantAPIError(t, err, http.StatusNotFound, "response_not_found", "")
	wantAPIError(t, globex.Delete(ctx, r.ID), http.StatusNotFound, "response_not_found", "")
	_, err = globex.New(ctx, responses.ResponseNewParams{Model: "nova-micro", PreviousResponseID: openai.String(r.ID), Input: text("go on")})
	wantAPIError(t, err, http.StatusNotFound, "previous_response_not_found", "previous_response_id")
	if _, err := acme.Get(ctx, r.ID, responses.ResponseGetParams{}); err != nil {
		t.Errorf("owner's get: %v", err)
	}
	// No key at all: 401, never the response.
	resp, err := e.Client.Get(e.URL + "/v1/responses/" + r.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(b), "X-17") {
		t.Errorf("no key: %d %s", resp.StatusCode, b)
	}
	for _, rec := range e.waitRecords(2) {
		if rec.Tenant == "globex" && rec.ErrorKind != string(llm.KindNotFound) {
			t.Errorf("globex record %+v", rec)
		}
	}
}

// TestResponsesRetention checks that a stored response is served for the
// retention period and not a moment longer.
func TestResponsesRetention(t *testing.T) {
	var clock atomic.Int64
	t0 := time.Now()
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	e := newEnv(t, envOptions{now: now})
	e.Server.opts.ResponseRetention = time.Hour
	c := responsesClient(e, "test")
	ctx := context.Background()
	r, err := c.New(ctx, responses.ResponseNewParams{Model: "nova-micro", Input: text("hi")})
	if err != nil {
		t.Fatal(err)
	}
	clock.Store(t0.Add(59 * time.Minute).UnixNano())
	if _, err := c.Get(ctx, r.ID, responses.ResponseGetParams{}); err != nil {
		t.Fatalf("within retention: %v", err)
	}
	clock.Store(t0.Add(time.Hour).UnixNano())
	_, err = c.Get(ctx, r.ID, responses.ResponseGetParams{})
	wantAPIError(t, err, http.StatusNotFound, "response_not_found", "")
	if n, err := e.Responses.DeleteExpired(ctx, now()); err != nil || n != 1 {
		t.Errorf("swept %d, %v", n, err)
	}
}

// TestResponsesIncomplete stops at max_output_tokens: status incomplete
// with the reason, streamed ending in response.incomplete.
func TestResponsesIncomplete(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := responsesClient(e, "test")
	params := responses.ResponseNewParams{Model: "nova-micro", Input: text("Explain step by step how to debug a crash loop."), MaxOutputTokens: openai.Int(16)}
	r, err := c.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "incomplete" || r.IncompleteDetails.Reason != "max_output_tokens" || r.Output[0].Status != "incomplete" || r.Usage.OutputTokens != 16 {
		t.Errorf("response %s", r.RawJSON())
	}
	s := collect(t, c.NewStreaming(context.Background(), params))
	if s.last != "response.incomplete" || s.final.IncompleteDetails.Reason != "max_output_tokens" {
		t.Errorf("stream ended with %s: %s", s.last, s.final.RawJSON())
	}
}

// TestResponsesStreamFailure breaks the stream mid-way: the SDK's stream
// ends with the error, a raw client sees the error event and then
// response.failed, and the ledger records the failure.
func TestResponsesStreamFailure(t *testing.T) {
	e := newEnv(t, envOptions{simOpts: sim.Options{Faults: sim.Faults{FaultRates: sim.FaultRates{MidStream: 1}}}})
	c := responsesClient(e, "test")
	st := c.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "nova-micro", Input: text("Tell me a story.")},
		option.WithHeader("X-Penny-Cache", "bypass"))
	n := 0
	for st.Next() {
		n++
	}
	if st.Err() == nil || n < 2 {
		t.Errorf("after %d events the stream ended with %v", n, st.Err())
	}
	names, data := rawEvents(t, e, `{"model":"nova-micro","input":"Tell me a story.","stream":true}`)
	if len(names) < 4 || names[len(names)-2] != "error" || names[len(names)-1] != "response.failed" {
		t.Fatalf("events %v", names)
	}
	var failed responses.ResponseFailedEvent
	if err := json.Unmarshal(data[len(data)-1], &failed); err != nil || failed.Response.Status != "failed" || failed.Response.Error.Message == "" {
		t.Errorf("response.failed %s", data[len(data)-1])
	}
	recs := e.waitRecords(2)
	for _, rec := range recs {
		if rec.API != "responses" || rec.ErrorKind == "" || rec.HTTPStatus != 200 || !rec.Stream {
			t.Errorf("record %+v", rec)
		}
	}
}

// TestResponsesServiceTier maps service_tier to the Bedrock tier asked for;
// the answer and the ledger say which tier served it.
func TestResponsesServiceTier(t *testing.T) {
	var got atomic.Value
	capture := func(next llm.Invoker) llm.Invoker { return tierSpy{next, &got} }
	e := newEnv(t, envOptions{stages: []llm.Stage{capture}})
	c := responsesClient(e, "test")
	for tier, want := range map[responses.ResponseNewParamsServiceTier]llm.ServiceTier{
		"auto": "", "default": llm.TierDefault, "flex": llm.TierFlex, "priority": llm.TierPriority,
	} {
		r, err := c.New(context.Background(), responses.ResponseNewParams{Model: "nova-pro", Input: text("hi " + string(tier)), ServiceTier: tier})
		if err != nil {
			t.Fatal(err)
		}
		if got.Load().(llm.ServiceTier) != want {
			t.Errorf("service_tier %s: asked Bedrock for %q, want %q", tier, got.Load(), want)
		}
		served := string(want)
		if served == "" {
			served = "default"
		}
		rec := e.record(strings.TrimPrefix(r.ID, "resp_"))
		if string(r.ServiceTier) != served || (rec.ServiceTier != served && !(served == "default" && rec.ServiceTier == "")) {
			t.Errorf("service_tier %s: answer says %q, ledger %q", tier, r.ServiceTier, rec.ServiceTier)
		}
	}
}

type tierSpy struct {
	llm.Invoker
	got *atomic.Value
}

func (s tierSpy) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	s.got.Store(req.ServiceTier)
	return s.Invoker.Invoke(ctx, req)
}
