package bedrocktest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/penny-gateway/penny/internal/llm"
)

// These tests drive the fake with the real AWS SDK: if the SDK is happy,
// the fake speaks Bedrock's wire format.

func cleanEnv(t *testing.T) {
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_BEARER_TOKEN_BEDROCK"} {
		t.Setenv(k, "")
	}
}

func userText(s string) types.Message {
	return types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}}
}

func TestConverseWithSDK(t *testing.T) {
	cleanEnv(t)
	srv := New(t)
	client := srv.Client()
	for _, model := range []string{
		"us.amazon.nova-micro-v1:0",
		"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
	} {
		out, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{
			ModelId:         aws.String(model),
			Messages:        []types.Message{userText("hello there")},
			InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(100), Temperature: aws.Float32(0.5)},
		})
		if err != nil {
			t.Fatal(err)
		}
		msg := out.Output.(*types.ConverseOutputMemberMessage).Value
		if got := msg.Content[0].(*types.ContentBlockMemberText).Value; got != "echo: hello there" {
			t.Errorf("answer = %q", got)
		}
		if out.StopReason != types.StopReasonEndTurn || aws.ToInt32(out.Usage.InputTokens) != 3 ||
			aws.ToInt32(out.Usage.OutputTokens) != 5 || aws.ToInt32(out.Usage.TotalTokens) != 8 || out.Metrics.LatencyMs == nil {
			t.Errorf("output = %+v usage %+v", out, out.Usage)
		}
		call, _ := srv.LastCall()
		if call.ModelID != model || call.Operation != OpConverse {
			t.Errorf("call model %q op %q, want %q", call.ModelID, call.Operation, model)
		}
		if got := *call.Request.Config.Temperature; got != 0.5 {
			t.Errorf("temperature = %v", got)
		}
		auth := call.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+AccessKeyID+"/") || !strings.Contains(auth, "/us-east-1/bedrock/aws4_request") {
			t.Errorf("Authorization = %q, want a SigV4 signature for bedrock", auth)
		}
	}
	if srv.CallCount() != 2 {
		t.Errorf("CallCount = %d", srv.CallCount())
	}
}

func toolConfig(choice types.ToolChoice) *types.ToolConfiguration {
	schema := map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}}
	return &types.ToolConfiguration{
		Tools: []types.Tool{
			&types.ToolMemberToolSpec{Value: types.ToolSpecification{
				Name: aws.String("search"), Description: aws.String("Search the web"),
				InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)},
			}},
			&types.ToolMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault}},
		},
		ToolChoice: choice,
	}
}

func TestConverseToolUseAndCacheWithSDK(t *testing.T) {
	cleanEnv(t)
	srv := New(t)
	client := srv.Client()
	ctx := context.Background()
	system := []types.SystemContentBlock{
		&types.SystemContentBlockMemberText{Value: strings.Repeat("You are a careful research assistant. ", 20)},
		&types.SystemContentBlockMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault, Ttl: types.CacheTTLOneHour}},
	}
	in := &bedrockruntime.ConverseInput{
		ModelId:    aws.String("anthropic.claude-3-7-sonnet-20250219-v1:0"),
		System:     system,
		Messages:   []types.Message{userText("find cats")},
		ToolConfig: toolConfig(&types.ToolChoiceMemberAny{}),
	}
	out, err := client.Converse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.StopReason != types.StopReasonToolUse {
		t.Fatalf("stop reason %q", out.StopReason)
	}
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	tu := msg.Content[0].(*types.ContentBlockMemberToolUse).Value
	var input map[string]string
	if err := tu.Input.UnmarshalSmithyDocument(&input); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(tu.Name) != "search" || input["query"] != "find cats" || aws.ToString(tu.ToolUseId) == "" {
		t.Errorf("tool use = %+v input %v", tu, input)
	}
	// First sight of the cached prefix is a write.
	if w := aws.ToInt32(out.Usage.CacheWriteInputTokens); w == 0 || out.Usage.CacheReadInputTokens != nil {
		t.Errorf("first call usage = %+v", out.Usage)
	}
	call, _ := srv.LastCall()
	req := call.Request
	if req.Tools.Choice.Mode != llm.ToolChoiceAny || req.System[1].CachePoint.TTL != "1h" || req.Tools.Tools[1].CachePoint == nil {
		t.Errorf("decoded request = %+v", req)
	}

	// Answer the tool; the prefix is now a cache read.
	in.Messages = append(in.Messages, msg, types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
		&types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
			ToolUseId: tu.ToolUseId,
			Content: []types.ToolResultContentBlock{
				&types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(map[string]any{"hits": 3})},
			},
			Status: types.ToolResultStatusSuccess,
		}},
	}})
	in.ToolConfig = toolConfig(&types.ToolChoiceMemberAuto{})
	out, err = client.Converse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	text := out.Output.(*types.ConverseOutputMemberMessage).Value.Content[0].(*types.ContentBlockMemberText).Value
	if text != `tool result: {"hits":3}` {
		t.Errorf("answer = %q", text)
	}
	if r := aws.ToInt32(out.Usage.CacheReadInputTokens); r == 0 || out.Usage.CacheWriteInputTokens != nil {
		t.Errorf("second call usage = %+v", out.Usage)
	}
	u := out.Usage
	if aws.ToInt32(u.TotalTokens) != aws.ToInt32(u.InputTokens)+aws.ToInt32(u.OutputTokens)+aws.ToInt32(u.CacheReadInputTokens) {
		t.Errorf("totalTokens does not include cached tokens: %+v", u)
	}
}

func TestConverseStreamWithSDK(t *testing.T) {
	cleanEnv(t)
	srv := New(t, WithInvokedModel("anthropic.claude-3-haiku-20240307-v1:0"))
	client := srv.Client()
	ctx := context.Background()

	var (
		text   strings.Builder
		deltas int
		meta   *types.ConverseStreamMetadataEvent
		stop   types.StopReason
	)
	read := func() error {
		text.Reset()
		deltas, meta, stop = 0, nil, ""
		out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
			ModelId:  aws.String("arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"),
			Messages: []types.Message{userText("tell me a long story about a cat")},
		})
		if err != nil {
			t.Fatal(err)
		}
		stream := out.GetStream()
		defer stream.Close()
		for ev := range stream.Events() {
			switch v := ev.(type) {
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				text.WriteString(v.Value.Delta.(*types.ContentBlockDeltaMemberText).Value)
				deltas++
			case *types.ConverseStreamOutputMemberMessageStop:
				stop = v.Value.StopReason
			case *types.ConverseStreamOutputMemberMetadata:
				meta = &v.Value
			}
		}
		return stream.Err()
	}
	err := read()
	if err != nil && strings.Contains(err.Error(), "use of closed network connection") {
		// Seen about once in a hundred runs under -race on a loaded
		// 2-core machine: the SDK closes the request body when the
		// response headers arrive; if net/http had not finished reading
		// it, it closes the connection under the stream (cf.
		// aws/aws-sdk-go-v2 #2737). Penny's provider avoids it
		// (bodySentClient); this test uses the bare SDK client.
		// Read once more so the assertions below run on a clean stream.
		t.Logf("SDK transport race after the last event (%v); reading the stream again", err)
		err = read()
	}
	if err != nil {
		t.Fatal(err)
	}
	if text.String() != "echo: tell me a long story about a cat" || deltas < 2 || stop != types.StopReasonEndTurn {
		t.Errorf("text %q in %d deltas, stop %q", text.String(), deltas, stop)
	}
	if meta == nil || aws.ToInt32(meta.Usage.OutputTokens) == 0 ||
		aws.ToString(meta.Trace.PromptRouter.InvokedModelId) != "anthropic.claude-3-haiku-20240307-v1:0" {
		t.Errorf("metadata = %+v", meta)
	}
	if call, _ := srv.LastCall(); call.Operation != OpConverseStream {
		t.Errorf("operation = %q", call.Operation)
	}
}

func TestConverseStreamToolUseWithSDK(t *testing.T) {
	cleanEnv(t)
	srv := New(t)
	out, err := srv.Client().ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
		ModelId:    aws.String("amazon.nova-pro-v1:0"),
		Messages:   []types.Message{userText("weather in Paris please")},
		ToolConfig: toolConfig(&types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String("search")}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var input strings.Builder
	var start *types.ToolUseBlockStart
	var stop types.StopReason
	for ev := range stream.Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockStart:
			s := v.Value.Start.(*types.ContentBlockStartMemberToolUse).Value
			start = &s
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			input.WriteString(aws.ToString(v.Value.Delta.(*types.ContentBlockDeltaMemberToolUse).Value.Input))
		case *types.ConverseStreamOutputMemberMessageStop:
			stop = v.Value.StopReason
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if start == nil || aws.ToString(start.Name) != "search" || input.String() != `{"query":"weather in Paris please"}` || stop != types.StopReasonToolUse {
		t.Errorf("start %+v input %q stop %q", start, input.String(), stop)
	}
}

// TestSDKTypedErrors checks that every Bedrock error the fake injects
// reaches the SDK as its typed error, for both operations.
func TestSDKTypedErrors(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		typ    string
		status int
		target func(error) bool
	}{
		{"ThrottlingException", 429, isErr[*types.ThrottlingException]},
		{"ModelNotReadyException", 429, isErr[*types.ModelNotReadyException]},
		{"ModelTimeoutException", 408, isErr[*types.ModelTimeoutException]},
		{"ModelErrorException", 424, isErr[*types.ModelErrorException]},
		{"ValidationException", 400, isErr[*types.ValidationException]},
		{"AccessDeniedException", 403, isErr[*types.AccessDeniedException]},
		{"ResourceNotFoundException", 404, isErr[*types.ResourceNotFoundException]},
		{"ServiceQuotaExceededException", 400, isErr[*types.ServiceQuotaExceededException]},
		{"InternalServerException", 500, isErr[*types.InternalServerException]},
		{"ServiceUnavailableException", 503, isErr[*types.ServiceUnavailableException]},
		{"UnrecognizedClientException", 403, func(err error) bool {
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == "UnrecognizedClientException"
		}},
	}
	srv := New(t)
	client := srv.Client()
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			srv.FailNext(1, tc.typ, "injected "+tc.typ)
			_, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{
				ModelId: aws.String("m"), Messages: []types.Message{userText("hi")},
			})
			if !tc.target(err) || !strings.Contains(err.Error(), "injected "+tc.typ) {
				t.Errorf("Converse error = %T %v", err, err)
			}
			var re interface{ HTTPStatusCode() int }
			if !errors.As(err, &re) || re.HTTPStatusCode() != tc.status {
				t.Errorf("status = %v, want %d", re, tc.status)
			}
			srv.FailNext(1, tc.typ, "injected "+tc.typ)
			_, err = client.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
				ModelId: aws.String("m"), Messages: []types.Message{userText("hi")},
			})
			if !tc.target(err) {
				t.Errorf("ConverseStream error = %T %v", err, err)
			}
		})
	}
	// FailNext counts down: the next call succeeds.
	if _, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId: aws.String("m"), Messages: []types.Message{userText("hi")},
	}); err != nil {
		t.Fatal(err)
	}
}

func isErr[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func TestStreamExceptionWithSDK(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		exType string
		target func(error) bool
	}{
		{"throttlingException", isErr[*types.ThrottlingException]},
		{"modelStreamErrorException", isErr[*types.ModelStreamErrorException]},
		{"internalServerException", isErr[*types.InternalServerException]},
		{"validationException", isErr[*types.ValidationException]},
		{"serviceUnavailableException", isErr[*types.ServiceUnavailableException]},
	}
	srv := New(t)
	client := srv.Client()
	for _, tc := range tests {
		srv.FailStreamAfter(3, tc.exType, "broke mid-stream")
		out, err := client.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
			ModelId: aws.String("m"), Messages: []types.Message{userText("a fairly long prompt to stream back")},
		})
		if err != nil {
			t.Fatal(err)
		}
		stream := out.GetStream()
		n := 0
		for range stream.Events() {
			n++
		}
		err = stream.Err()
		stream.Close()
		if n != 3 || !tc.target(err) || !strings.Contains(err.Error(), "broke mid-stream") {
			t.Errorf("%s: %d events, error %T %v", tc.exType, n, err, err)
		}
	}
}

func TestResponderErrorsAndDecodeErrors(t *testing.T) {
	cleanEnv(t)
	srv := New(t, WithResponder(func(model string, req *llm.Request) (*llm.Response, error) {
		return nil, &llm.Error{Kind: llm.KindNotFound, Message: "model " + model + " not found"}
	}))
	client := srv.Client()
	_, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId: aws.String("nope"), Messages: []types.Message{userText("hi")},
	})
	if !isErr[*types.ResourceNotFoundException](err) || !strings.Contains(err.Error(), "model nope not found") {
		t.Errorf("responder error = %T %v", err, err)
	}
	// A request Penny cannot translate is refused, naming the field.
	_, err = client.Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId:  aws.String("m"),
		Messages: []types.Message{userText("hi")},
		GuardrailConfig: &types.GuardrailConfiguration{
			GuardrailIdentifier: aws.String("g"), GuardrailVersion: aws.String("1"),
		},
	})
	if !isErr[*types.ValidationException](err) || !strings.Contains(err.Error(), "guardrailConfig") {
		t.Errorf("decode error = %T %v", err, err)
	}
	if c, _ := srv.LastCall(); c.Request != nil || len(c.Body) == 0 {
		t.Errorf("undecodable call recorded as %+v", c)
	}
}

func TestDelay(t *testing.T) {
	cleanEnv(t)
	srv := New(t, WithDelay(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := srv.Client().Converse(ctx, &bedrockruntime.ConverseInput{
		ModelId: aws.String("m"), Messages: []types.Message{userText("hi")},
	})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 900*time.Millisecond {
		t.Errorf("err = %v after %v", err, time.Since(start))
	}
	srv.SetDelay(20 * time.Millisecond)
	start = time.Now()
	if _, err := srv.Client().Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId: aws.String("m"), Messages: []types.Message{userText("hi")},
	}); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Errorf("err = %v after %v", err, time.Since(start))
	}
}

func TestUnknownPath(t *testing.T) {
	srv := New(t)
	resp, err := http.Post(srv.URL()+"/model/m/count-tokens-v9", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("x-amzn-ErrorType"), "UnknownOperationException") {
		t.Errorf("status %d type %q", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
	}
}

func TestEchoMaxTokens(t *testing.T) {
	srv := New(t)
	limit := 2
	resp, err := srv.Echo("m", &llm.Request{
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("a long question indeed")}}},
		Config:   llm.InferenceConfig{MaxTokens: &limit},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StopReason != llm.StopMaxTokens || resp.Text() != "echo: a " || resp.Usage.OutputTokens != 2 {
		t.Errorf("got %q %q %+v", resp.Text(), resp.StopReason, resp.Usage)
	}
}

func TestStreamEventsChunks(t *testing.T) {
	resp := &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockReasoning, Text: "ponder ponder ponder", Signature: "sig"},
			llm.TextBlock("héllo wörld, this is long"),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "t", Name: "f", Input: []byte(`{"a":"bcdefghijklmnop"}`)}},
		}},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 1, OutputTokens: 2},
	}
	got, err := llm.Collect(&llm.SliceStream{Events: StreamEvents(resp)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Message.Content[1].Text != "héllo wörld, this is long" || string(got.Message.Content[2].ToolUse.Input) != `{"a":"bcdefghijklmnop"}` ||
		got.Message.Content[0].Signature != "sig" || got.Message.Content[0].Text != "ponder ponder ponder" {
		t.Errorf("collected %+v", got.Message.Content)
	}
}

// TestPennyErrorChoicesWithSDK checks the error answers Penny chose where
// Bedrock has no equivalent, against an SDK client with its default retry
// policy: a budget stop must surface as a typed error and not be retried.
func TestPennyErrorChoicesWithSDK(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		kind   llm.ErrorKind
		status int
		target func(error) bool
	}{
		{llm.KindBudget, 429, isErr[*types.ServiceQuotaExceededException]},
		{llm.KindTooLarge, 413, isErr[*types.ValidationException]},
		{llm.KindUnsupported, 400, isErr[*types.ValidationException]},
		{llm.KindUnauthorized, 403, func(err error) bool {
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == "UnrecognizedClientException"
		}},
	}
	for _, tc := range tests {
		srv := New(t, WithResponder(func(string, *llm.Request) (*llm.Response, error) {
			return nil, llm.Errorf(tc.kind, "penny says no")
		}))
		client := bedrockruntime.New(bedrockruntime.Options{
			Region:       Region,
			BaseEndpoint: aws.String(srv.URL()),
			Credentials:  srv.Client().Options().Credentials,
		}) // default retryer: 3 attempts
		_, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{
			ModelId: aws.String("m"), Messages: []types.Message{userText("hi")},
		})
		var re interface{ HTTPStatusCode() int }
		if !tc.target(err) || !errors.As(err, &re) || re.HTTPStatusCode() != tc.status || !strings.Contains(err.Error(), "penny says no") {
			t.Errorf("%s: error %T %v", tc.kind, err, err)
		}
		if n := srv.CallCount(); n != 1 {
			t.Errorf("%s: the SDK retried: %d calls", tc.kind, n)
		}
	}
}
