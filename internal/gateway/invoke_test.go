package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicbedrock "github.com/anthropics/anthropic-sdk-go/v2/bedrock"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/route"
)

// bedrockAnthropic returns anthropic-sdk-go's Bedrock client pointed at
// Penny: it signs with SigV4 and calls /model/{id}/invoke and
// /invoke-with-response-stream.
func (e *env) bedrockAnthropic(h2 bool) *anthropic.Client {
	c := anthropic.NewClient(
		anthropicbedrock.WithConfig(aws.Config{Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKIDCLIENT", "client-secret", "")}),
		option.WithBaseURL(e.URL), option.WithMaxRetries(0), option.WithHTTPClient(httpClient(e.t, h2)))
	return &c
}

// sdkOver returns the AWS SDK's Bedrock runtime client over HTTP/2 (h2c)
// when h2 is set.
func (e *env) sdkOver(h2 bool) *bedrockruntime.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.Protocols = new(http.Protocols)
		if h2 {
			t.Protocols.SetUnencryptedHTTP2(true)
		} else {
			t.Protocols.SetHTTP1(true)
		}
	})
	return bedrockruntime.New(bedrockruntime.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.URL), HTTPClient: hc, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDCLIENT", "client-secret", ""),
	}, func(o *bedrockruntime.Options) { o.BearerAuthTokenProvider = nil; o.AuthSchemePreference = nil })
}

// fixedAnswer answers every Converse call with text and tool use.
func fixedAnswer(model string, req *llm.Request) (*llm.Response, error) {
	return &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			llm.TextBlock("Checking order 42."),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu-1", Name: "get_order", Input: []byte(`{"order_id":"42"}`)}},
		}},
		StopReason:  llm.StopToolUse,
		Usage:       llm.Usage{InputTokens: 120, OutputTokens: 30, CacheReadTokens: 900, CacheWriteTokens: 200},
		Latency:     80 * time.Millisecond,
		ServiceTier: req.ServiceTier,
	}, nil
}

func TestInvokeThroughAnthropicBedrockClient(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2c"}[h2], func(t *testing.T) {
			e := newEnv(t, envOptions{bedrock: true, h2c: true})
			e.Fake.SetResponder(fixedAnswer)
			params := anthropic.MessageNewParams{
				Model: "global.anthropic.claude-sonnet-4-5-20250929-v1:0", MaxTokens: 256, Tools: orderTools(),
				System:   []anthropic.TextBlockParam{{Text: "You are a support agent.", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Where is order 42?"))},
			}
			var raw *http.Response
			msg, err := e.bedrockAnthropic(h2).Messages.New(context.Background(), params, option.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			if msg.Content[0].Text != "Checking order 42." || msg.Content[1].Name != "get_order" || msg.StopReason != anthropic.StopReasonToolUse ||
				msg.Usage.CacheReadInputTokens != 900 || msg.Usage.InputTokens != 120 {
				t.Errorf("answer %+v", msg)
			}
			if raw.Header.Get("X-Amzn-Bedrock-Input-Token-Count") != "120" || raw.Header.Get("X-Amzn-Bedrock-Output-Token-Count") != "30" ||
				raw.Header.Get("X-Amzn-Bedrock-Cache-Read-Input-Token-Count") != "900" || raw.Header.Get("X-Amzn-Bedrock-Cache-Write-Input-Token-Count") != "200" ||
				raw.Header.Get("X-Amzn-Bedrock-Invocation-Latency") != "80" || raw.Header.Get("x-amzn-RequestId") == "" {
				t.Errorf("headers %v", raw.Header)
			}
			call, _ := e.Fake.LastCall()
			if call.Operation != "Converse" || call.ModelID != "global.anthropic.claude-sonnet-4-5-20250929-v1:0" ||
				call.Request.System[1].CachePoint == nil || !strings.HasPrefix(call.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
				t.Errorf("upstream %s %s %+v", call.Operation, call.ModelID, call.Request.System)
			}
			rec := e.record(raw.Header.Get(HeaderRequestID))
			// At the global profile's prices: 120 × 3 + 30 × 15 + 900 × 0.3 + 200 × 3.75 per 1M
			if rec.API != "invoke" || rec.Model != "claude-sonnet-4-5" || rec.CacheReadTokens != 900 || rec.CacheWriteTokens != 200 ||
				rec.Cost.String() != "0.001830" || rec.Stream {
				t.Errorf("ledger %+v", rec)
			}

			raw = nil
			st := e.bedrockAnthropic(h2).Messages.NewStreaming(context.Background(), params, option.WithResponseInto(&raw))
			var acc anthropic.Message
			for st.Next() {
				if err := acc.Accumulate(st.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			if len(acc.Content) != 2 || acc.Content[0].Text != "Checking order 42." || string(acc.Content[1].Input) != `{"order_id":"42"}` ||
				acc.Usage.OutputTokens != 30 || acc.Usage.CacheReadInputTokens != 900 {
				t.Errorf("streamed %+v", acc)
			}
			if call, _ := e.Fake.LastCall(); call.Operation != "ConverseStream" {
				t.Errorf("upstream %s", call.Operation)
			}
			if rec := e.record(raw.Header.Get(HeaderRequestID)); rec.API != "invoke" || !rec.Stream || rec.OutputTokens != 30 || rec.Cost.String() != "0.001830" {
				t.Errorf("stream ledger %+v", rec)
			}
		})
	}
}

// chunks reads an InvokeModelWithResponseStream answer's chunks as JSON
// objects.
func chunks(t *testing.T, out *bedrockruntime.InvokeModelWithResponseStreamOutput) []map[string]json.RawMessage {
	t.Helper()
	var got []map[string]json.RawMessage
	for ev := range out.GetStream().Events() {
		c, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			t.Fatalf("event %T", ev)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(c.Value.Bytes, &m); err != nil {
			t.Fatalf("chunk %s: %v", c.Value.Bytes, err)
		}
		got = append(got, m)
	}
	if err := out.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestInvokeModelThroughAWSSDK(t *testing.T) {
	anthropicBody := []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"anthropic_beta":["context-1m-2025-08-07"],
		"messages":[{"role":"user","content":"Where is order 42?"}]}`)
	novaBody := []byte(`{"schemaVersion":"messages-v1","system":[{"text":"Be brief."}],
		"messages":[{"role":"user","content":[{"text":"Where is order 42?"}]}],"inferenceConfig":{"max_new_tokens":100,"top_k":20}}`)
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2c"}[h2], func(t *testing.T) {
			e := newEnv(t, envOptions{bedrock: true, h2c: true})
			e.Fake.SetResponder(fixedAnswer)
			ctx := context.Background()

			var h http.Header
			out, err := e.sdkOver(h2).InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("claude-sonnet-4-5"),
				Body: anthropicBody, ContentType: aws.String("application/json"), ServiceTier: types.ServiceTierTypePriority}, pennyHeaders(&h))
			if err != nil {
				t.Fatal(err)
			}
			var msg struct {
				Type    string
				Content []struct{ Type, Text string }
				Usage   struct {
					InputTokens          int `json:"input_tokens"`
					CacheReadInputTokens int `json:"cache_read_input_tokens"`
				}
			}
			json.Unmarshal(out.Body, &msg)
			if msg.Type != "message" || msg.Content[0].Text != "Checking order 42." || msg.Usage.InputTokens != 120 || msg.Usage.CacheReadInputTokens != 900 ||
				h.Get("X-Amzn-Bedrock-Output-Token-Count") != "30" || out.ServiceTier != types.ServiceTierTypePriority {
				t.Errorf("answer %s headers %v tier %q", out.Body, h, out.ServiceTier)
			}
			call, _ := e.Fake.LastCall()
			if string(call.Request.Additional) != `{"anthropic_beta":["context-1m-2025-08-07"]}` || call.Request.ServiceTier != llm.TierPriority {
				t.Errorf("upstream additional %s tier %q", call.Request.Additional, call.Request.ServiceTier)
			}
			if rec := e.record(h.Get(HeaderRequestID)); rec.API != "invoke" || rec.ServiceTier != "priority" || rec.CacheReadTokens != 900 {
				t.Errorf("ledger %+v", rec)
			}

			// The stream: Anthropic's events in chunk frames, the last with
			// Bedrock's invocation metrics.
			h = nil
			st, err := e.sdkOver(h2).InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
				ModelId: aws.String("claude-sonnet-4-5"), Body: anthropicBody, ContentType: aws.String("application/json")}, pennyHeaders(&h))
			if err != nil {
				t.Fatal(err)
			}
			got := chunks(t, st)
			first, last := got[0], got[len(got)-1]
			if string(first["type"]) != `"message_start"` || string(last["type"]) != `"message_stop"` {
				t.Errorf("first %v last %v", first, last)
			}
			var m struct {
				In    int   `json:"inputTokenCount"`
				Out   int   `json:"outputTokenCount"`
				Read  *int  `json:"cacheReadInputTokenCount"`
				Write *int  `json:"cacheWriteInputTokenCount"`
				Lat   int64 `json:"invocationLatency"`
			}
			if err := json.Unmarshal(last["amazon-bedrock-invocationMetrics"], &m); err != nil || m.In != 120 || m.Out != 30 || *m.Read != 900 || *m.Write != 200 {
				t.Errorf("metrics %s (%v)", last["amazon-bedrock-invocationMetrics"], err)
			}
			if rec := e.record(h.Get(HeaderRequestID)); rec.API != "invoke" || !rec.Stream || rec.OutputTokens != 30 {
				t.Errorf("stream ledger %+v", rec)
			}

			// Nova's native body, answered in Nova's native JSON.
			h = nil
			out, err = e.sdkOver(h2).InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("amazon.nova-lite-v1:0"), Body: novaBody}, pennyHeaders(&h))
			if err != nil {
				t.Fatal(err)
			}
			var nova struct {
				Output struct {
					Message struct {
						Content []map[string]json.RawMessage
					}
				}
				StopReason string
				Usage      map[string]int
			}
			json.Unmarshal(out.Body, &nova)
			if string(nova.Output.Message.Content[0]["text"]) != `"Checking order 42."` || nova.StopReason != "tool_use" ||
				nova.Usage["cacheReadInputTokenCount"] != 900 || nova.Usage["inputTokens"] != 120 {
				t.Errorf("nova answer %s", out.Body)
			}
			call, _ = e.Fake.LastCall()
			if *call.Request.Config.MaxTokens != 100 || string(call.Request.Additional) != `{"inferenceConfig":{"topK":20}}` || call.Request.System[0].Text != "Be brief." {
				t.Errorf("nova upstream %+v additional %s", call.Request.Config, call.Request.Additional)
			}
			st, err = e.sdkOver(h2).InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
				ModelId: aws.String("nova-lite"), Body: novaBody})
			if err != nil {
				t.Fatal(err)
			}
			got = chunks(t, st)
			if _, ok := got[0]["messageStart"]; !ok {
				t.Errorf("first nova chunk %v", got[0])
			}
			last = got[len(got)-1]
			if _, ok := last["metadata"]; !ok || last["amazon-bedrock-invocationMetrics"] == nil {
				t.Errorf("last nova chunk %v", last)
			}
		})
	}
}

func TestInvokeEmbeddingsAndNativeBodies(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true, routes: []route.Config{{Name: "chat", Baseline: "nova-lite", Tiers: []route.Tier{{Name: "t", Model: "nova-lite"}}, Default: "t"}}})
	ctx := context.Background()
	var h http.Header
	out, err := e.sdk().InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("amazon.titan-embed-text-v2:0"),
		Body: []byte(`{"inputText":"refund policy","dimensions":256,"embeddingTypes":["float"]}`)}, pennyHeaders(&h))
	if err != nil {
		t.Fatal(err)
	}
	var titan struct {
		Embedding        []float32
		InputTextTokens  int `json:"inputTextTokenCount"`
		EmbeddingsByType map[string][]float32
	}
	json.Unmarshal(out.Body, &titan)
	if len(titan.Embedding) != 256 || titan.InputTextTokens == 0 || len(titan.EmbeddingsByType["float"]) != 256 {
		t.Errorf("titan %s", out.Body)
	}
	if call, _ := e.Fake.LastCall(); call.Operation != "InvokeModel" {
		t.Errorf("upstream %s", call.Operation)
	}
	if rec := e.record(h.Get(HeaderRequestID)); rec.API != "invoke" || rec.Model != "titan-embed-text-v2" || rec.InputTokens == 0 || rec.Cost <= 0 {
		t.Errorf("ledger %+v", rec)
	}

	// A Llama prompt body is passed through and answered as Llama did.
	llama := []byte(`{"prompt":"Say hi","max_gen_len":20}`)
	h = nil
	out, err = e.sdk().InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("meta.llama3-1-8b-instruct-v1:0"), Body: llama}, pennyHeaders(&h))
	if err != nil {
		t.Fatal(err)
	}
	call, _ := e.Fake.LastCall()
	if !strings.Contains(string(out.Body), `"generation"`) || call.Operation != "InvokeModel" || string(call.Body) != string(llama) {
		t.Errorf("native answer %s, upstream got %s", out.Body, call.Body)
	}
	if rec := e.record(h.Get(HeaderRequestID)); rec.Model != "llama3-1-8b" || rec.InputTokens == 0 || rec.OutputTokens == 0 {
		t.Errorf("native ledger %+v", rec)
	}
	h = nil
	st, err := e.sdk().InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String("llama3-1-8b"), Body: llama}, pennyHeaders(&h))
	if err != nil {
		t.Fatal(err)
	}
	if got := chunks(t, st); len(got) == 0 || got[len(got)-1]["amazon-bedrock-invocationMetrics"] == nil {
		t.Errorf("native stream %v", got)
	}
	if rec := e.record(h.Get(HeaderRequestID)); !rec.Stream || rec.OutputTokens == 0 {
		t.Errorf("native stream ledger %+v", rec)
	}

	// Routed to a model of another family, a native body is refused.
	calls := e.Fake.CallCount()
	h = nil
	_, err = e.sdk().InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("llama3-1-8b"), Body: llama},
		pennyHeaders(&h), func(o *bedrockruntime.Options) {
			o.APIOptions = append(o.APIOptions, func(s *middlewareStack) error { return addHeader(s, "X-Penny-Route", "chat") })
		})
	var ve *types.ValidationException
	if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), "native meta body") || e.Fake.CallCount() != calls {
		t.Errorf("cross-family native body: %v", err)
	}
}

func TestInvokeErrors(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	ctx := context.Background()
	cases := []struct {
		name, model, body string
		check             func(error) bool
		kind              llm.ErrorKind
		status            int
	}{
		{"no max_tokens", "claude-sonnet-4-5", `{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"hi"}]}`,
			func(err error) bool {
				var v *types.ValidationException
				return errors.As(err, &v) && strings.Contains(v.ErrorMessage(), "max_tokens")
			},
			llm.KindValidation, 400},
		{"model in body", "claude-sonnet-4-5", `{"anthropic_version":"bedrock-2023-05-31","model":"x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			func(err error) bool {
				var v *types.ValidationException
				return errors.As(err, &v) && strings.Contains(v.ErrorMessage(), "model")
			},
			llm.KindValidation, 400},
		{"unknown model", "anthropic.claude-99", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			func(err error) bool { var v *types.ResourceNotFoundException; return errors.As(err, &v) }, llm.KindNotFound, 404},
		{"bad nova body", "nova-lite", `{"schemaVersion":"messages-v2","messages":[]}`,
			func(err error) bool {
				var v *types.ValidationException
				return errors.As(err, &v) && strings.Contains(v.ErrorMessage(), "schemaVersion")
			},
			llm.KindValidation, 400},
		{"embeddings do not stream", "titan-embed-text-v2", `{"inputText":"x"}`, nil, llm.KindValidation, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Header
			var err error
			if tc.check == nil {
				_, err = e.sdk().InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(tc.model), Body: []byte(tc.body)}, pennyHeaders(&h))
				var v *types.ValidationException
				if !errors.As(err, &v) {
					t.Fatalf("got %v", err)
				}
			} else if _, err = e.sdk().InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(tc.model), Body: []byte(tc.body)}, pennyHeaders(&h)); !tc.check(err) {
				t.Fatalf("got %v", err)
			}
			rec := e.record(h.Get(HeaderRequestID))
			if rec.API != "invoke" || rec.Status != ledger.StatusError || rec.ErrorKind != string(tc.kind) || rec.HTTPStatus != tc.status || rec.ModelRequested != tc.model {
				t.Errorf("ledger %+v", rec)
			}
		})
	}

	// A failure after the stream started is an exception frame.
	e.Fake.FailStreamAfter(2, "throttlingException", "too many tokens")
	var h http.Header
	st, err := e.sdk().InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String("claude-sonnet-4-5"),
		Body: []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hello there"}]}`)}, pennyHeaders(&h))
	if err != nil {
		t.Fatal(err)
	}
	for range st.GetStream().Events() {
	}
	var te *types.ThrottlingException
	if err := st.GetStream().Err(); !errors.As(err, &te) {
		t.Errorf("stream error %v", err)
	}
	if rec := e.record(h.Get(HeaderRequestID)); rec.ErrorKind != string(llm.KindThrottled) || rec.HTTPStatus != 200 {
		t.Errorf("ledger %+v", rec)
	}
}
