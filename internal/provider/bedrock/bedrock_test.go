package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/penny-gateway/penny/internal/bedrocktest"
	"github.com/penny-gateway/penny/internal/llm"
)

// isolate keeps the developer's AWS environment out of the tests: endpoint
// overrides, bearer tokens, profiles, retry settings and instance metadata.
func isolate(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":                       "",
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME":       "",
		"AWS_BEARER_TOKEN_BEDROCK":               "",
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_PROFILE":                            "",
		"AWS_REGION":                             "",
		"AWS_DEFAULT_REGION":                     "",
		"AWS_MAX_ATTEMPTS":                       "",
		"AWS_RETRY_MODE":                         "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
}

func newProvider(t *testing.T, srv *bedrocktest.Server, timeout time.Duration) *Provider {
	t.Helper()
	isolate(t)
	p, err := New(context.Background(), Options{
		Region:       "us-east-1",
		BaseEndpoint: srv.URL(),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDPROVIDER", "secret", ""),
		Timeout:      timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// richRequest uses every feature the provider translates.
func richRequest() *llm.Request {
	return &llm.Request{
		Model: "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
		System: []llm.SystemBlock{
			{Text: "You are terse."},
			{CachePoint: &llm.CachePoint{TTL: "1h"}},
		},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{
				llm.TextBlock("Look at these."),
				{Type: llm.BlockImage, Image: &llm.Image{Format: "png", Bytes: []byte("\x89PNG\r\n\x1a\n")}},
				{Type: llm.BlockDocument, Document: &llm.Document{Format: "pdf", Name: "report", Bytes: []byte("%PDF-1.7")}},
				{Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{}},
			}},
			{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockReasoning, Text: "I should call the tool.", Signature: "c2lnbmF0dXJl"},
				{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_1", Name: "lookup",
					Input: json.RawMessage(`{"big":12345678901234567890,"exact":0.1,"list":[1,"a",null,true],"nested":{"k":"v"}}`)}},
			}},
			{Role: llm.RoleUser, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "tu_1", Status: "error", Content: []llm.ToolResultContent{
					{Text: "partial"},
					{JSON: json.RawMessage(`{"code":42}`)},
					{Image: &llm.Image{Format: "webp", Bytes: []byte("RIFF")}},
				}}},
				llm.TextBlock("Go on."),
			}},
		},
		Config: llm.InferenceConfig{MaxTokens: ptr(300), Temperature: ptr(0.25), TopP: ptr(0.5), StopSequences: []string{"STOP", "END"}},
		Tools: &llm.ToolConfig{
			Tools: []llm.Tool{
				{Name: "lookup", Description: "Look up", InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)},
				{CachePoint: &llm.CachePoint{TTL: "5m"}},
			},
			Choice: llm.ToolChoice{Mode: llm.ToolChoiceAuto},
		},
		Additional: json.RawMessage(`{"top_k":40,"thinking":{"type":"enabled","budget_tokens":1024}}`),
	}
}

func richResponse() *llm.Response {
	return &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockReasoning, Text: "Thinking it over carefully.", Signature: "c2ln"},
			llm.TextBlock("Here is what I found, in some detail."),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_2", Name: "lookup", Input: json.RawMessage(`{"n":12345678901234567890,"q":"more"}`)}},
		}},
		StopReason:   llm.StopToolUse,
		Usage:        llm.Usage{InputTokens: 17, OutputTokens: 29, CacheReadTokens: 2048, CacheWriteTokens: 512},
		Latency:      250 * time.Millisecond,
		InvokedModel: "anthropic.claude-3-5-haiku-20241022-v1:0",
	}
}

// normalizeJSON re-encodes every JSON value of req so that requests can be
// compared regardless of whitespace and key order.
func normalizeJSON(t *testing.T, req *llm.Request) {
	t.Helper()
	norm := func(raw *json.RawMessage) {
		if *raw == nil {
			return
		}
		var v any
		dec := json.NewDecoder(strings.NewReader(string(*raw)))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		*raw, _ = json.Marshal(v)
	}
	norm(&req.Additional)
	if req.Tools != nil {
		for i := range req.Tools.Tools {
			norm(&req.Tools.Tools[i].InputSchema)
		}
	}
	for _, m := range req.Messages {
		for _, b := range m.Content {
			if b.ToolUse != nil {
				norm(&b.ToolUse.Input)
			}
			if b.ToolResult != nil {
				for i := range b.ToolResult.Content {
					norm(&b.ToolResult.Content[i].JSON)
				}
			}
		}
	}
}

func TestInvokeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		req  *llm.Request
		resp *llm.Response
	}{
		{"text", &llm.Request{Model: "amazon.nova-micro-v1:0", Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}}},
			&llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("hello")}},
				StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 1, OutputTokens: 1}, Latency: time.Millisecond}},
		{"everything", richRequest(), richResponse()},
		{"application inference profile", &llm.Request{
			Model:    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
			Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}}},
			&llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("x")}},
				StopReason: llm.StopMaxTokens, Usage: llm.Usage{InputTokens: 1, OutputTokens: 1}, Latency: time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := bedrocktest.New(t, bedrocktest.WithResponder(func(string, *llm.Request) (*llm.Response, error) {
				return tc.resp, nil
			}))
			p := newProvider(t, srv, 0)
			for _, streamed := range []bool{false, true} {
				var got *llm.Response
				var err error
				if streamed {
					var s llm.Stream
					if s, err = p.Stream(context.Background(), tc.req); err == nil {
						got, err = llm.Collect(s)
					}
				} else {
					got, err = p.Invoke(context.Background(), tc.req)
				}
				if err != nil {
					t.Fatalf("streamed=%v: %v", streamed, err)
				}
				normalizeResp(t, got)
				want := *tc.resp
				normalizeResp(t, &want)
				if !reflect.DeepEqual(got, &want) {
					t.Errorf("streamed=%v: response\n got: %+v\nwant: %+v", streamed, got, &want)
				}

				call, _ := srv.LastCall()
				if call.ModelID != tc.req.Model {
					t.Errorf("model id = %q, want %q", call.ModelID, tc.req.Model)
				}
				if !strings.HasPrefix(call.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDPROVIDER/") {
					t.Errorf("not SigV4 signed: %q", call.Header.Get("Authorization"))
				}
				sent := *tc.req
				sent.Model = ""
				normalizeJSON(t, &sent)
				normalizeJSON(t, call.Request)
				if !reflect.DeepEqual(call.Request, &sent) {
					a, _ := json.MarshalIndent(call.Request, "", " ")
					b, _ := json.MarshalIndent(&sent, "", " ")
					t.Errorf("streamed=%v: Bedrock received\n%s\nwant\n%s", streamed, a, b)
				}
			}
		})
	}
}

func normalizeResp(t *testing.T, r *llm.Response) {
	content := make([]llm.Block, len(r.Message.Content))
	copy(content, r.Message.Content)
	r.Message.Content = content
	for i, b := range content {
		if b.ToolUse != nil {
			tu := *b.ToolUse
			req := &llm.Request{Messages: []llm.Message{{Content: []llm.Block{{ToolUse: &tu}}}}}
			normalizeJSON(t, req)
			content[i].ToolUse = &tu
		}
	}
}

// TestCacheUsage checks that cache reads and writes come through separately
// and that InputTokens excludes them, as Bedrock bills.
func TestCacheUsage(t *testing.T) {
	srv := bedrocktest.New(t)
	p := newProvider(t, srv, 0)
	req := &llm.Request{
		Model: "amazon.nova-pro-v1:0",
		System: []llm.SystemBlock{
			{Text: strings.Repeat("A long and stable system prompt. ", 40)},
			{CachePoint: &llm.CachePoint{}},
		},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("question one")}}},
	}
	first, err := p.Invoke(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := llm.Collect(s)
	if err != nil {
		t.Fatal(err)
	}
	u1, u2 := first.Usage, second.Usage
	if u1.CacheWriteTokens == 0 || u1.CacheReadTokens != 0 || u2.CacheReadTokens != u1.CacheWriteTokens || u2.CacheWriteTokens != 0 {
		t.Fatalf("usage first %+v second %+v", u1, u2)
	}
	if u1.InputTokens != 3 || u2.InputTokens != 3 || u1.TotalInput() != u2.TotalInput() {
		t.Fatalf("input tokens include cached tokens: first %+v second %+v", u1, u2)
	}
}

func TestStreamToolUseDeltas(t *testing.T) {
	srv := bedrocktest.New(t)
	p := newProvider(t, srv, 0)
	s, err := p.Stream(context.Background(), &llm.Request{
		Model:    "m",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("find the weather in Paris")}}},
		Tools: &llm.ToolConfig{Tools: []llm.Tool{{Name: "weather", InputSchema: json.RawMessage(`{"type":"object"}`)}},
			Choice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "weather"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	var start *llm.ToolUse
	var stop llm.StopReason
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Type {
		case llm.EventBlockStart:
			start = ev.ToolUse
		case llm.EventBlockDelta:
			deltas = append(deltas, ev.Delta.ToolInput)
		case llm.EventMessageStop:
			stop = ev.StopReason
		}
	}
	if start == nil || start.Name != "weather" || start.ID == "" || len(deltas) < 2 ||
		strings.Join(deltas, "") != `{"query":"find the weather in Paris"}` || stop != llm.StopToolUse {
		t.Fatalf("start %+v deltas %q stop %q", start, deltas, stop)
	}
	// After io.EOF, Recv keeps returning io.EOF and Close is idempotent.
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after EOF = %v", err)
	}
	if s.Close() != nil || s.Close() != nil {
		t.Error("Close failed")
	}
}

func TestErrorsMapped(t *testing.T) {
	tests := []struct {
		typ  string
		kind llm.ErrorKind
	}{
		{"ThrottlingException", llm.KindThrottled},
		{"ModelNotReadyException", llm.KindModelNotReady},
		{"ModelTimeoutException", llm.KindTimeout},
		{"ServiceUnavailableException", llm.KindUnavailable},
		{"InternalServerException", llm.KindUnavailable},
		{"ValidationException", llm.KindValidation},
		{"ResourceNotFoundException", llm.KindNotFound},
		{"AccessDeniedException", llm.KindForbidden},
		{"ModelErrorException", llm.KindModelError},
		{"ServiceQuotaExceededException", llm.KindThrottled},
		{"UnrecognizedClientException", llm.KindUnauthorized},
		{"SomethingNewException", llm.KindUnavailable}, // unknown type: by its status, 500
	}
	srv := bedrocktest.New(t)
	p := newProvider(t, srv, 0)
	req := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}}}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			for _, streamed := range []bool{false, true} {
				before := srv.CallCount()
				srv.FailNext(1, tc.typ, "injected "+tc.typ)
				var err error
				if streamed {
					_, err = p.Stream(context.Background(), req)
				} else {
					_, err = p.Invoke(context.Background(), req)
				}
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("streamed=%v: error %T %v is not an *llm.Error", streamed, err, err)
				}
				if e.Kind != tc.kind || e.Upstream != tc.typ || !strings.Contains(e.Message, "injected "+tc.typ) {
					t.Errorf("streamed=%v: got kind %q upstream %q message %q", streamed, e.Kind, e.Upstream, e.Message)
				}
				// Penny decides about retries: the SDK must not retry.
				if n := srv.CallCount() - before; n != 1 {
					t.Errorf("streamed=%v: %d calls reached Bedrock, want 1", streamed, n)
				}
			}
		})
	}
}

func TestMidStreamException(t *testing.T) {
	tests := []struct {
		exType string
		kind   llm.ErrorKind
		upType string
	}{
		{"throttlingException", llm.KindThrottled, "ThrottlingException"},
		{"modelStreamErrorException", llm.KindModelError, "ModelStreamErrorException"},
		{"internalServerException", llm.KindUnavailable, "InternalServerException"},
		{"serviceUnavailableException", llm.KindUnavailable, "ServiceUnavailableException"},
		{"validationException", llm.KindValidation, "ValidationException"},
	}
	srv := bedrocktest.New(t)
	p := newProvider(t, srv, 0)
	for _, tc := range tests {
		srv.FailStreamAfter(2, tc.exType, "stream broke")
		s, err := p.Stream(context.Background(), &llm.Request{Model: "m", Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("tell me something long")}}}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			_, err = s.Recv()
			if err != nil {
				break
			}
			n++
		}
		var e *llm.Error
		if n != 2 || !errors.As(err, &e) || e.Kind != tc.kind || e.Upstream != tc.upType || !strings.Contains(e.Message, "stream broke") {
			t.Errorf("%s: %d events then %#v", tc.exType, n, err)
		}
		if _, again := s.Recv(); again != err {
			t.Errorf("%s: error not sticky: %v", tc.exType, again)
		}
		s.Close()
	}
}

func TestTimeout(t *testing.T) {
	srv := bedrocktest.New(t, bedrocktest.WithDelay(2*time.Second))
	p := newProvider(t, srv, 100*time.Millisecond)
	req := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}}}
	start := time.Now()
	_, err := p.Invoke(context.Background(), req)
	if llm.KindOf(err) != llm.KindTimeout || time.Since(start) > time.Second {
		t.Errorf("Invoke: %v after %v", err, time.Since(start))
	}
	start = time.Now()
	_, err = p.Stream(context.Background(), req)
	if llm.KindOf(err) != llm.KindTimeout || time.Since(start) > time.Second {
		t.Errorf("Stream: %v after %v", err, time.Since(start))
	}
	if srv.CallCount() != 2 {
		t.Errorf("%d calls, want 2 (no retries)", srv.CallCount())
	}
	// A caller's own cancellation is KindCanceled, not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Invoke(ctx, req); llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("canceled Invoke: %v", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	isolate(t)
	p, err := New(context.Background(), Options{Region: "us-east-1", BaseEndpoint: "http://" + addr,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Invoke(context.Background(), &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}}})
	if llm.KindOf(err) != llm.KindUnavailable {
		t.Fatalf("got %v, want unavailable", err)
	}
}

func TestCredentials(t *testing.T) {
	srv := bedrocktest.New(t)
	if err := newProvider(t, srv, 0).CheckCredentials(context.Background()); err != nil {
		t.Fatalf("static credentials: %v", err)
	}

	// No credentials anywhere in the standard chain.
	isolate(t)
	p, err := New(context.Background(), Options{Region: "us-east-1", BaseEndpoint: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	err = p.CheckCredentials(context.Background())
	if llm.KindOf(err) != llm.KindUnauthorized || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("CheckCredentials = %v", err)
	}
	before := srv.CallCount()
	_, err = p.Invoke(context.Background(), &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}}})
	if llm.KindOf(err) != llm.KindUnauthorized || srv.CallCount() != before {
		t.Fatalf("Invoke without credentials = %v", err)
	}

	// Credentials from the environment are found by the chain.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	p, err = New(context.Background(), Options{Region: "us-east-1", BaseEndpoint: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckCredentials(context.Background()); err != nil {
		t.Fatalf("env credentials: %v", err)
	}

	// A failing explicit provider.
	p, err = New(context.Background(), Options{Region: "us-east-1", BaseEndpoint: srv.URL(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("token file missing")
		})})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckCredentials(context.Background()); llm.KindOf(err) != llm.KindUnauthorized || !strings.Contains(err.Error(), "token file missing") {
		t.Fatalf("CheckCredentials = %v", err)
	}
}

func TestRegion(t *testing.T) {
	isolate(t)
	if p, err := New(context.Background(), Options{}); err != nil || p.Region() != DefaultRegion {
		t.Fatalf("New without region = %v, %v", p, err)
	}
	t.Setenv("AWS_REGION", "eu-west-3")
	p, err := New(context.Background(), Options{})
	if err != nil || p.Region() != "eu-west-3" {
		t.Fatalf("region from AWS_REGION: %v, %v", p, err)
	}
}

func TestBadRequestNeverSent(t *testing.T) {
	srv := bedrocktest.New(t)
	p := newProvider(t, srv, 0)
	for _, req := range []*llm.Request{
		{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("no model")}}}},
		{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockImage}}}}},
		{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "1", Name: "f", Input: json.RawMessage(`{bad`)}}}}}},
	} {
		if _, err := p.Invoke(context.Background(), req); llm.KindOf(err) != llm.KindValidation {
			t.Errorf("Invoke(%+v) = %v", req, err)
		}
	}
	if srv.CallCount() != 0 {
		t.Errorf("%d invalid requests reached Bedrock", srv.CallCount())
	}
}
