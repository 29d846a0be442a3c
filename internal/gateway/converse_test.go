package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/penny-gateway/penny/internal/bedrocktest"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// sdk returns the real AWS SDK Bedrock runtime client pointed at Penny.
func (e *env) sdk() *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(e.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDCLIENT", "client-secret", ""),
		RetryMaxAttempts: 1,
	}, func(o *bedrockruntime.Options) { o.BearerAuthTokenProvider = nil; o.AuthSchemePreference = nil })
}

func userText(s string) []types.Message {
	return []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}}}
}

// pennyHeaders captures the response headers of an SDK call.
func pennyHeaders(h *http.Header) func(*bedrockruntime.Options) {
	return func(o *bedrockruntime.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middlewareStack) error { return captureHeaders(stack, h) })
	}
}

func TestConverseThroughSDK(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	e.Fake.SetResponder(func(model string, req *llm.Request) (*llm.Response, error) {
		return &llm.Response{
			Message:    llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("Your account is active.")}},
			StopReason: llm.StopEndTurn,
			Usage:      llm.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 2000, CacheWriteTokens: 0},
			Latency:    120 * time.Millisecond,
		}, nil
	})
	cases := []struct{ client, upstream string }{
		{"nova-pro", "amazon.nova-pro-v1:0"},
		{"amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"},
		{"us.amazon.nova-pro-v1:0", "us.amazon.nova-pro-v1:0"},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0"},
	}
	for _, tc := range cases {
		t.Run(tc.client, func(t *testing.T) {
			var h http.Header
			out, err := e.sdk().Converse(context.Background(), &bedrockruntime.ConverseInput{
				ModelId:         aws.String(tc.client),
				Messages:        userText("What is the status of my account?"),
				System:          []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "Be brief."}},
				InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(100), Temperature: aws.Float32(0.2)},
			}, pennyHeaders(&h))
			if err != nil {
				t.Fatal(err)
			}
			text := out.Output.(*types.ConverseOutputMemberMessage).Value.Content[0].(*types.ContentBlockMemberText).Value
			if text != "Your account is active." || *out.Usage.CacheReadInputTokens != 2000 || *out.Usage.InputTokens != 100 {
				t.Errorf("answer %q usage %+v", text, out.Usage)
			}
			call, _ := e.Fake.LastCall()
			if call.ModelID != tc.upstream || call.Request.System[0].Text != "Be brief." || *call.Request.Config.MaxTokens != 100 {
				t.Errorf("upstream got model %q, system %+v", call.ModelID, call.Request.System)
			}
			if !strings.HasPrefix(call.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
				t.Errorf("upstream call not SigV4-signed: %q", call.Header.Get("Authorization"))
			}
			rec := e.record(h.Get(HeaderRequestID))
			// Nova Pro: 100 in × 0.8 + 20 out × 3.2 + 2000 cache read × 0.2, per 1M = 0.000544
			if rec.Model != "nova-pro" || rec.API != "converse" || rec.Provider != "bedrock" || rec.CacheReadTokens != 2000 ||
				rec.Cost.String() != "0.000544" || h.Get(HeaderCost) != "0.000544000" || rec.Strategy != "prompt_cache" {
				t.Errorf("ledger %+v, header cost %s", rec, h.Get(HeaderCost))
			}
			// Baseline: all 2100 input tokens uncached = 0.00168 + 0.000064
			if rec.BaselineCost.String() != "0.001744" {
				t.Errorf("baseline %s", rec.BaselineCost)
			}
		})
	}
}

func TestConverseStreamThroughSDK(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	e.Fake.SetResponder(func(model string, req *llm.Request) (*llm.Response, error) {
		return &llm.Response{
			Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
				llm.TextBlock("Let me look that up for you."),
				{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu-1", Name: "get_order", Input: []byte(`{"order_id":"42"}`)}},
			}},
			StopReason: llm.StopToolUse,
			Usage:      llm.Usage{InputTokens: 300, OutputTokens: 40},
		}, nil
	})
	var h http.Header
	schema := document.NewLazyDocument(map[string]any{"type": "object", "properties": map[string]any{"order_id": map[string]any{"type": "string"}}})
	out, err := e.sdk().ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
		ModelId:  aws.String("claude-3-haiku"),
		Messages: userText("Where is order 42?"),
		ToolConfig: &types.ToolConfiguration{Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
			Name: aws.String("get_order"), InputSchema: &types.ToolInputSchemaMemberJson{Value: schema}}}}},
	}, pennyHeaders(&h))
	if err != nil {
		t.Fatal(err)
	}
	var text, toolInput strings.Builder
	var stop types.StopReason
	var usage *types.TokenUsage
	toolName := ""
	for ev := range out.GetStream().Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockStart:
			if tu, ok := v.Value.Start.(*types.ContentBlockStartMemberToolUse); ok {
				toolName = *tu.Value.Name
			}
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			switch d := v.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				text.WriteString(d.Value)
			case *types.ContentBlockDeltaMemberToolUse:
				toolInput.WriteString(*d.Value.Input)
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			stop = v.Value.StopReason
		case *types.ConverseStreamOutputMemberMetadata:
			usage = v.Value.Usage
		}
	}
	if err := out.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Let me look that up for you." || toolName != "get_order" || toolInput.String() != `{"order_id":"42"}` || stop != types.StopReasonToolUse {
		t.Errorf("stream: text %q tool %s %q stop %s", text.String(), toolName, toolInput.String(), stop)
	}
	if usage == nil || *usage.InputTokens != 300 || *usage.OutputTokens != 40 {
		t.Fatalf("usage %+v", usage)
	}
	call, _ := e.Fake.LastCall()
	if call.Operation != bedrocktest.OpConverseStream || call.ModelID != "anthropic.claude-3-haiku-20240307-v1:0" || len(call.Request.Tools.Tools) != 1 {
		t.Errorf("upstream call %+v", call)
	}
	rec := e.record(h.Get(HeaderRequestID))
	// Claude 3 Haiku: 300 × 0.25 + 40 × 1.25 per 1M = 0.000125
	if !rec.Stream || rec.Model != "claude-3-haiku" || rec.Cost.String() != "0.000125" || rec.Status != ledger.StatusOK {
		t.Errorf("ledger %+v", rec)
	}
}

func TestConverseErrorsThroughSDK(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true, timeout: 300 * time.Millisecond})
	ctx := context.Background()
	in := func(model string) *bedrockruntime.ConverseInput {
		return &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: userText("hi")}
	}

	e.Fake.FailNext(1, "ThrottlingException", "Too many tokens, please wait before trying again.")
	_, err := e.sdk().Converse(ctx, in("nova-micro"))
	var thr *types.ThrottlingException
	if !errors.As(err, &thr) || !strings.Contains(thr.ErrorMessage(), "Too many tokens") {
		t.Errorf("throttling: %v", err)
	}

	_, err = e.sdk().Converse(ctx, in("gpt-9"))
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown model: %v", err)
	}

	e.Fake.FailNext(1, "ServiceUnavailableException", "Bedrock is unavailable")
	_, err = e.sdk().Converse(ctx, in("nova-micro"))
	var su *types.ServiceUnavailableException
	if !errors.As(err, &su) {
		t.Errorf("unavailable: %v", err)
	}

	e.Fake.SetDelay(2 * time.Second)
	_, err = e.sdk().Converse(ctx, in("nova-micro"))
	var to *types.ModelTimeoutException
	if !errors.As(err, &to) {
		t.Errorf("timeout: %v", err)
	}
	e.Fake.SetDelay(0)

	recs := e.waitRecords(4)
	kinds := map[string]int{}
	for _, r := range recs {
		if r.Status == ledger.StatusError {
			kinds[r.ErrorKind]++
		}
	}
	if kinds[string(llm.KindThrottled)] != 1 || kinds[string(llm.KindNotFound)] != 1 || kinds[string(llm.KindUnavailable)] != 1 || kinds[string(llm.KindTimeout)] != 1 {
		t.Errorf("ledger error kinds %v", kinds)
	}
}

func TestConverseMidStreamException(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	e.Fake.FailStreamAfter(3, "modelStreamErrorException", "the model stopped")
	out, err := e.sdk().ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String("nova-lite"), Messages: userText("Tell me a long story.")})
	if err != nil {
		t.Fatal(err)
	}
	for range out.GetStream().Events() {
	}
	var mse *types.ModelStreamErrorException
	if err := out.GetStream().Err(); !errors.As(err, &mse) {
		t.Fatalf("stream error: %v", err)
	}
	recs := e.waitRecords(1)
	if len(recs) != 1 || recs[0].Status != ledger.StatusError || recs[0].ErrorKind != string(llm.KindModelError) {
		t.Fatalf("ledger %+v", recs)
	}
	// Bedrock bills what it processed before the failure: Penny counts it.
	if r := recs[0]; !r.UsageEstimated || r.InputTokens == 0 || r.Cost <= 0 || r.HTTPStatus != 200 {
		t.Errorf("cut-short stream not priced: %+v", r)
	}
}

func TestConverseUnknownOperation(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	for _, tc := range []struct{ method, path string }{{"POST", "/model/nova-micro/count-tokens"}, {"GET", "/model/nova-micro/converse"}} {
		req, _ := http.NewRequest(tc.method, e.URL+tc.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("x-amzn-ErrorType"), "UnknownOperationException") || !strings.Contains(string(body), "converse") {
			t.Errorf("%s %s: %d %s %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
		}
	}
}

func TestConversePromptRouter(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	e.Fake.SetInvokedModel("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0")
	router := "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"
	var h http.Header
	_, err := e.sdk().Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String(router), Messages: userText("hi")}, pennyHeaders(&h))
	if err != nil {
		t.Fatal(err)
	}
	call, _ := e.Fake.LastCall()
	if call.ModelID != router {
		t.Errorf("router ARN not passed through: %s", call.ModelID)
	}
	rec := e.record(h.Get(HeaderRequestID))
	if rec.Model != "claude-3-5-haiku" || rec.ModelRequested != router || rec.Cost <= 0 ||
		rec.BaselineModel != "claude-3-5-haiku" || rec.BaselineCost != rec.Cost {
		t.Errorf("ledger %+v", rec)
	}
}

// TestConverseBadInput sends what an SDK never would.
func TestConverseBadInput(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true, maxBody: 2048})
	cases := []struct {
		name, model, body string
		status            int
		typ, msg          string
	}{
		{"malformed", "nova-micro", `{"messages": [`, 400, "ValidationException", "JSON"},
		{"no messages", "nova-micro", `{"messages": []}`, 400, "ValidationException", "messages"},
		{"bad role", "nova-micro", `{"messages": [{"role": "robot", "content": [{"text": "hi"}]}]}`, 400, "ValidationException", "role"},
		{"oversized", "nova-micro", `{"messages": [{"role": "user", "content": [{"text": "` + strings.Repeat("x", 3000) + `"}]}]}`, 413, "ValidationException", "2048"},
		{"unknown model", "nope", `{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}`, 404, "ResourceNotFoundException", "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(e.URL+"/model/"+tc.model+"/converse", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("x-amzn-ErrorType"), tc.typ+":") ||
				!strings.Contains(string(body), tc.msg) || resp.Header.Get("x-amzn-RequestId") == "" {
				t.Errorf("got %d %s %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
			}
			rec := e.record(resp.Header.Get(HeaderRequestID))
			if rec.Status != ledger.StatusError || rec.HTTPStatus != tc.status {
				t.Errorf("ledger %+v", rec)
			}
		})
	}
	if n := e.Fake.CallCount(); n != 0 {
		t.Errorf("bad input reached the upstream %d times", n)
	}
}

// TestServiceTierAndGlobalPricing: the tier a Converse client asks for
// reaches Bedrock, the tier Bedrock served is recorded, and an unpublished
// tier price is priced at the default rate and marked estimated; a global
// inference profile is priced at the global rate.
func TestServiceTierAndGlobalPricing(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	client := e.sdk()
	ask := func(model string, tier types.ServiceTierType) (ledger.Record, *bedrockruntime.ConverseOutput) {
		in := &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Summarise our refund policy."}}}}}
		if tier != "" {
			in.ServiceTier = &types.ServiceTier{Type: tier}
		}
		var h http.Header
		out, err := client.Converse(context.Background(), in, func(o *bedrockruntime.Options) {
			o.APIOptions = append(o.APIOptions, func(s *middlewareStack) error { return captureHeaders(s, &h) })
		})
		if err != nil {
			t.Fatal(err)
		}
		return e.record(h.Get(HeaderRequestID)), out
	}
	rec, out := ask("nova-pro", types.ServiceTierTypeFlex)
	if c, _ := e.Fake.LastCall(); !strings.Contains(string(c.Body), `"serviceTier":{"type":"flex"}`) {
		t.Errorf("tier not sent upstream: %s", c.Body)
	}
	pro, _ := catalog.MustBuiltin().Resolve("nova-pro")
	def, exact := pro.Model.Cost(rec.Usage(), catalog.Terms{})
	if rec.ServiceTier != "flex" || !rec.PriceEstimated || rec.Cost != def || !exact || out.ServiceTier == nil || out.ServiceTier.Type != types.ServiceTierTypeFlex {
		t.Errorf("flex: record tier %q estimated %v cost %s (default rate %s), answer tier %+v", rec.ServiceTier, rec.PriceEstimated, rec.Cost, def, out.ServiceTier)
	}

	rec, _ = ask("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "")
	sonnet, _ := catalog.MustBuiltin().Resolve("claude-sonnet-4-5")
	global, _ := sonnet.Model.Cost(rec.Usage(), catalog.Terms{Global: true})
	regional, _ := sonnet.Model.Cost(rec.Usage(), catalog.Terms{})
	if rec.UpstreamModel != "global.anthropic.claude-sonnet-4-5-20250929-v1:0" || rec.Cost != global || global >= regional || rec.PriceEstimated {
		t.Errorf("global: upstream %q cost %s, global rate %s, regional %s", rec.UpstreamModel, rec.Cost, global, regional)
	}
}
