package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicbedrock "github.com/anthropics/anthropic-sdk-go/v2/bedrock"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
)

// TestAnthropicClientsEndToEnd runs Penny with auth required on the
// simulator and the whole chain: Anthropic's SDK with a Penny key as
// x-api-key and as a bearer token, its Bedrock client and the AWS SDK
// signing with the key's access key id and secret (over HTTP/2 too), and
// Penny's automatic prompt-cache checkpoints on a long system prompt.
func TestAnthropicClientsEndToEnd(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Auth = "required"
	db, ks := openKeys(t, cfg.Database)
	rec, secret, err := keys.New(keys.Key{Name: "claude-code", Tenant: "acme"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	db.Close()
	a := startApp(t, cfg)
	ctx := context.Background()

	// Without a key: each API's own refusal.
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/v1/messages", `"type":"authentication_error"`},
		{"POST", "/model/claude-sonnet-4-5/invoke", "UnrecognizedClientException"},
		{"GET", "/inference-profiles?type=SYSTEM_DEFINED", "UnrecognizedClientException"},
	} {
		req, _ := http.NewRequest(c.method, a.URL()+c.path, strings.NewReader(`{}`))
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := string(b) + resp.Header.Get("x-amzn-ErrorType"); resp.StatusCode/100 != 4 || !strings.Contains(got, c.want) {
			t.Errorf("%s %s without a key: %d %s", c.method, c.path, resp.StatusCode, got)
		}
	}

	system := strings.Repeat("You are the support agent of an online shop. Answer briefly and politely, cite the order number. ", 80)
	params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
		System:   []anthropic.TextBlockParam{{Text: system}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Where is order 42?"))}}
	var ids []string
	for _, auth := range []aoption.RequestOption{aoption.WithAPIKey(secret.Token), aoption.WithAuthToken(secret.Token)} {
		c := anthropic.NewClient(aoption.WithBaseURL(a.URL()), auth, aoption.WithMaxRetries(0))
		var raw *http.Response
		msg, err := c.Messages.New(ctx, params, aoption.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msg.Content[0].Text, "simulated") {
			t.Errorf("answer %+v", msg.Content)
		}
		ids = append(ids, raw.Header.Get("X-Penny-Request-Id"))
	}
	bad := anthropic.NewClient(aoption.WithBaseURL(a.URL()), aoption.WithAPIKey("pk-wrong"), aoption.WithMaxRetries(0))
	_, err = bad.Messages.New(ctx, params)
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Type() != "authentication_error" {
		t.Errorf("wrong key: %v", err)
	}

	// The Bedrock clients sign with the key's access key id and secret.
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(secret.AccessKeyID, secret.SecretAccessKey, "")}
	bc := anthropic.NewClient(anthropicbedrock.WithConfig(awsCfg), aoption.WithBaseURL(a.URL()), aoption.WithMaxRetries(0))
	params.Model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
	var raw *http.Response
	if _, err := bc.Messages.New(ctx, params, aoption.WithResponseInto(&raw)); err != nil {
		t.Fatalf("Bedrock client: %v", err)
	}
	ids = append(ids, raw.Header.Get("X-Penny-Request-Id"))
	st := bc.Messages.NewStreaming(ctx, params, aoption.WithResponseInto(&raw))
	for st.Next() {
	}
	if err := st.Err(); err != nil {
		t.Fatalf("Bedrock client stream: %v", err)
	}
	ids = append(ids, raw.Header.Get("X-Penny-Request-Id"))

	h2 := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	})
	sdk := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(a.URL()), HTTPClient: h2,
		Credentials: awsCfg.Credentials, RetryMaxAttempts: 1},
		func(o *bedrockruntime.Options) { o.BearerAuthTokenProvider = nil; o.AuthSchemePreference = nil })
	if _, err := sdk.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("claude-haiku-4-5"),
		Body: []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`)}); err != nil {
		t.Fatalf("InvokeModel over h2c: %v", err)
	}

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	recs, err := openStore(t, cfg.Database).Records(ctx, ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]ledger.Record{}
	var refused int
	for _, r := range recs {
		byID[r.RequestID] = r
		if r.Status != ledger.StatusOK {
			refused++
			if r.ErrorKind != "unauthorized" {
				t.Errorf("refused record %+v", r)
			}
			continue
		}
		if r.Tenant != "acme" || r.KeyID != secret.AccessKeyID || r.Cost <= 0 {
			t.Errorf("authenticated record %+v", r)
		}
	}
	// The unauthenticated /inference-profiles is not a model call and
	// makes no record; the two refused model calls and the wrong key do.
	if len(recs) != 8 || refused != 3 {
		t.Errorf("%d records, %d refused; want 8 and 3", len(recs), refused)
	}
	// Penny placed a checkpoint after the long system prompt: the first
	// request wrote it, the later ones read it.
	first, second := byID[ids[0]], byID[ids[1]]
	if first.CacheWriteTokens == 0 || second.CacheReadTokens != first.CacheWriteTokens || !strings.Contains(second.Strategy, "prompt_cache") {
		t.Errorf("prompt cache: first %+v, second %+v", first, second)
	}
	if r := byID[ids[2]]; r.API != "invoke" || r.Model != "claude-sonnet-4-5" || r.CacheReadTokens == 0 {
		t.Errorf("Bedrock client record %+v", r)
	}
}
