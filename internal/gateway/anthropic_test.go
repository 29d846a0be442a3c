package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// anthropicClient returns the real Anthropic SDK client pointed at Penny,
// over HTTP/2 (h2c) when h2 is set. The SDK's own retries are off, so
// that each call is one request.
func (e *env) anthropic(h2 bool, opts ...option.RequestOption) *anthropic.Client {
	c := anthropic.NewClient(append([]option.RequestOption{option.WithBaseURL(e.URL), option.WithAPIKey("unused-with-auth-off"),
		option.WithMaxRetries(0), option.WithHTTPClient(httpClient(e.t, h2))}, opts...)...)
	return &c
}

// orderTools is one tool whose definition is marked for caching.
func orderTools() []anthropic.ToolUnionParam {
	return []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
		Name: "get_order", Description: anthropic.String("Look up an order"),
		InputSchema:  anthropic.ToolInputSchemaParam{Properties: map[string]any{"order_id": map[string]any{"type": "string"}}},
		CacheControl: anthropic.CacheControlEphemeralParam{TTL: anthropic.CacheControlEphemeralTTLTTL1h},
	}}}
}

func TestMessagesThroughSDK(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2c"}[h2], func(t *testing.T) {
			e := newEnv(t, envOptions{bedrock: true, h2c: true})
			e.Fake.SetResponder(func(model string, req *llm.Request) (*llm.Response, error) {
				return &llm.Response{
					Message:    llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("Order 42 shipped.")}},
					StopReason: llm.StopEndTurn,
					Usage:      llm.Usage{InputTokens: 200, OutputTokens: 20, CacheReadTokens: 2000, CacheWriteTokens: 300, CacheWrite1hTokens: 100},
				}, nil
			})
			var raw *http.Response
			msg, err := e.anthropic(h2).Messages.New(context.Background(), anthropic.MessageNewParams{
				Model:     "claude-sonnet-4-5",
				MaxTokens: 200,
				System: []anthropic.TextBlockParam{{Text: "You are a support agent.",
					CacheControl: anthropic.CacheControlEphemeralParam{TTL: anthropic.CacheControlEphemeralTTLTTL1h}}},
				Tools:    orderTools(),
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Where is order 42?"))},
			}, option.WithResponseInto(&raw), option.WithJSONSet("top_k", 40)) // the SDK has no top_k field
			if err != nil {
				t.Fatal(err)
			}
			if msg.Content[0].Text != "Order 42 shipped." || msg.StopReason != anthropic.StopReasonEndTurn || msg.Model != "claude-sonnet-4-5" {
				t.Errorf("answer %+v", msg)
			}
			if u := msg.Usage; u.InputTokens != 200 || u.OutputTokens != 20 || u.CacheReadInputTokens != 2000 || u.CacheCreationInputTokens != 300 ||
				u.CacheCreation.Ephemeral5mInputTokens != 200 || u.CacheCreation.Ephemeral1hInputTokens != 100 {
				t.Errorf("usage %+v", u)
			}
			call, _ := e.Fake.LastCall()
			r := call.Request
			if call.ModelID != "us.anthropic.claude-sonnet-4-5-20250929-v1:0" || r.System[0].Text != "You are a support agent." ||
				r.System[1].CachePoint == nil || r.System[1].CachePoint.TTL != "1h" || r.Tools.Tools[1].CachePoint == nil ||
				string(r.Additional) != `{"top_k":40}` || *r.Config.MaxTokens != 200 {
				t.Errorf("upstream got %s %+v additional %s", call.ModelID, r, r.Additional)
			}
			rec := e.record(raw.Header.Get(HeaderRequestID))
			// Claude Sonnet 4.5 through the us. profile: 200 in × 3.3 + 20 out × 16.5 + 2000 read × 0.33
			// + 200 5-minute writes × 4.125 + 100 1-hour writes × 6.6, per 1M.
			if rec.API != "anthropic" || rec.Model != "claude-sonnet-4-5" || rec.Stream || rec.CacheReadTokens != 2000 ||
				rec.CacheWriteTokens != 300 || rec.CacheWrite1hTokens != 100 || rec.Cost.String() != "0.003135" || raw.Header.Get("request-id") != rec.RequestID {
				t.Errorf("ledger %+v", rec)
			}
		})
	}
}

func TestMessagesStreamThroughSDK(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2c"}[h2], func(t *testing.T) {
			e := newEnv(t, envOptions{bedrock: true, h2c: true})
			e.Fake.SetResponder(func(model string, req *llm.Request) (*llm.Response, error) {
				return &llm.Response{
					Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
						llm.TextBlock("Let me look that up for you."),
						{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu-1", Name: "get_order", Input: []byte(`{"order_id":"42"}`)}},
					}},
					StopReason: llm.StopToolUse,
					Usage:      llm.Usage{InputTokens: 300, OutputTokens: 40, CacheReadTokens: 1000},
				}, nil
			})
			var raw *http.Response
			st := e.anthropic(h2).Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
				Model: "claude-haiku-4-5-20251001", MaxTokens: 300, Tools: orderTools(),
				ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}},
				Messages:   []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Where is order 42?"))},
			}, option.WithResponseInto(&raw))
			var msg anthropic.Message
			var types []string
			for st.Next() {
				ev := st.Current()
				types = append(types, ev.Type)
				if err := msg.Accumulate(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 2 || msg.Content[0].Text != "Let me look that up for you." || msg.Content[1].Name != "get_order" ||
				string(msg.Content[1].Input) != `{"order_id":"42"}` || msg.StopReason != anthropic.StopReasonToolUse {
				t.Errorf("accumulated %+v", msg)
			}
			if u := msg.Usage; u.InputTokens != 300 || u.OutputTokens != 40 || u.CacheReadInputTokens != 1000 {
				t.Errorf("usage %+v", u)
			}
			if types[0] != "message_start" || types[len(types)-1] != "message_stop" || types[len(types)-2] != "message_delta" {
				t.Errorf("events %v", types)
			}
			call, _ := e.Fake.LastCall()
			if call.Operation != "ConverseStream" || call.Request.Tools.Choice.Mode != llm.ToolChoiceAny {
				t.Errorf("upstream %s %+v", call.Operation, call.Request.Tools)
			}
			rec := e.record(raw.Header.Get(HeaderRequestID))
			if rec.API != "anthropic" || !rec.Stream || rec.InputTokens != 300 || rec.OutputTokens != 40 || rec.CacheReadTokens != 1000 || rec.Cost <= 0 {
				t.Errorf("ledger %+v", rec)
			}
		})
	}
}

func TestMessagesErrors(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	params := func(model string) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 50,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
	}
	bad := params("claude-haiku-4-5")
	bad.Metadata = anthropic.MetadataParam{UserID: anthropic.String("u")}
	urlImage := params("claude-haiku-4-5")
	urlImage.Messages = []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewImageBlock(anthropic.URLImageSourceParam{URL: "https://example.com/a.png"}))}
	cases := []struct {
		name   string
		params anthropic.MessageNewParams
		opts   []option.RequestOption
		fault  string
		status int
		typ    string
		kind   llm.ErrorKind
	}{
		{"unknown model", params("claude-99"), nil, "", 404, "not_found_error", llm.KindNotFound},
		{"invalid value", bad, []option.RequestOption{option.WithJSONSet("temperature", 1.5)}, "", 400, "invalid_request_error", llm.KindValidation},
		{"unknown field", bad, []option.RequestOption{option.WithJSONSet("frobnicate", true)}, "", 400, "invalid_request_error", llm.KindValidation},
		{"unsupported", urlImage, nil, "", 400, "invalid_request_error", llm.KindUnsupported},
		{"throttled upstream", params("claude-haiku-4-5"), nil, "ThrottlingException", 429, "rate_limit_error", llm.KindThrottled},
		{"upstream down", params("claude-haiku-4-5"), nil, "ServiceUnavailableException", 529, "overloaded_error", llm.KindUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != "" {
				e.Fake.FailNext(1, tc.fault, "slow down")
			}
			var raw *http.Response
			_, err := e.anthropic(false).Messages.New(context.Background(), tc.params, append(tc.opts, option.WithResponseInto(&raw))...)
			var ae *anthropic.Error
			if !errors.As(err, &ae) || ae.StatusCode != tc.status || string(ae.Type()) != tc.typ {
				t.Fatalf("got %v, want %d %s", err, tc.status, tc.typ)
			}
			rec := e.record(raw.Header.Get(HeaderRequestID))
			if rec.API != "anthropic" || rec.Status != ledger.StatusError || rec.ErrorKind != string(tc.kind) || rec.HTTPStatus != tc.status {
				t.Errorf("ledger %+v", rec)
			}
			if tc.status == 429 && raw.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After on a 429")
			}
		})
	}

	// A body that does not decode is answered and recorded with the model
	// it named.
	resp, err := http.Post(e.URL+"/v1/messages", "application/json", strings.NewReader(`{"model":"claude-haiku-4-5","max_tokens":5,"messages":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Type  string `json:"type"`
		Error struct{ Type, Message string }
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 400 || body.Type != "error" || body.Error.Type != "invalid_request_error" || !strings.Contains(body.Error.Message, "messages") {
		t.Errorf("%d %+v", resp.StatusCode, body)
	}
	if rec := e.record(resp.Header.Get(HeaderRequestID)); rec.ModelRequested != "claude-haiku-4-5" || rec.HTTPStatus != 400 {
		t.Errorf("ledger %+v", rec)
	}

	// A failure after the stream started is an error event.
	e.Fake.FailStreamAfter(3, "modelStreamErrorException", "the model stopped")
	var raw *http.Response
	st := e.anthropic(false).Messages.NewStreaming(context.Background(), params("claude-haiku-4-5"), option.WithResponseInto(&raw))
	for st.Next() {
	}
	if err := st.Err(); err == nil || !strings.Contains(err.Error(), "the model stopped") {
		t.Errorf("stream error %v", err)
	}
	if rec := e.record(raw.Header.Get(HeaderRequestID)); rec.ErrorKind != string(llm.KindModelError) || rec.HTTPStatus != 200 {
		t.Errorf("ledger %+v", rec)
	}
}

func TestCountTokensModelsAndProbe(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	var raw *http.Response
	n, err := e.anthropic(false).Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude-haiku-4-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("How many tokens is this question?"))},
	}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if n.InputTokens < 8 || n.InputTokens > 20 {
		t.Errorf("count %d", n.InputTokens)
	}
	if e.Fake.CallCount() != 0 {
		t.Error("count_tokens called the upstream")
	}
	if rec := e.record(raw.Header.Get(HeaderRequestID)); rec.API != "anthropic" || rec.Tags["operation"] != "count_tokens" || rec.Cost != 0 {
		t.Errorf("ledger %+v", rec)
	}
	_, err = e.anthropic(false).Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model: "claude-99", Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}})
	if ae := (*anthropic.Error)(nil); !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Errorf("unknown model: %v", err)
	}

	page, err := e.anthropic(false).Models.List(context.Background(), anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range page.Data {
		found = found || m.ID == "claude-haiku-4-5" && m.DisplayName == "Anthropic Claude Haiku 4.5" && !m.CreatedAt.IsZero()
	}
	if !found {
		t.Errorf("models %+v", page.Data)
	}
	// Without anthropic-version, the OpenAI shape.
	resp, err := http.Get(e.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"object":"list"`) {
		t.Errorf("OpenAI models list: %s", b)
	}
	req, _ := http.NewRequest("HEAD", e.URL+"/", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD /: %d", resp.StatusCode)
	}
}
