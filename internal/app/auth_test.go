package app

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
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
)

// TestAuthEndToEnd runs Penny with auth required: a key created in the
// ledger database authenticates the official OpenAI and AWS SDK clients,
// and decides the tenant and tags of every ledger record.
func TestAuthEndToEnd(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Auth = "required"

	db, ks := openKeys(t, cfg.Database)
	rec, secret, err := keys.New(keys.Key{Name: "chatbot", Tenant: "acme", Tags: map[string]string{"team": "support"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	db.Close()

	a := serving(t, cfg)
	ctx := context.Background()

	// No key: refused, in OpenAI's format; its route and tag headers are
	// not trusted, so they do not reach the ledger.
	req, _ := http.NewRequest("POST", a.URL()+"/v1/chat/completions",
		strings.NewReader(`{"model":"nova-micro","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("X-Penny-Route", "junk-route")
	req.Header.Set("X-Penny-Tags", "team=junk")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="penny"` {
		t.Errorf("no key: status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// A forged SigV4 header is refused before the body is read: the
	// answer comes while the client is still sending.
	body, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, 64<<10)) // then the body stalls
	req, _ = http.NewRequest("POST", a.URL()+"/model/nova-micro/converse", body)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=PNYAAAAAAAAAAAAAAAAA/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64))
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		if code != http.StatusForbidden {
			t.Errorf("forged SigV4: status %d, want 403", code)
		}
	case <-time.After(5 * time.Second):
		t.Error("forged SigV4: Penny waited for the body")
	}

	// The model list and the usage endpoint need a key too.
	for _, path := range []string{"/v1/models", "/v1/penny/usage"} {
		resp, err := http.Get(a.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without a key: %d, WWW-Authenticate %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		req, _ := http.NewRequest("GET", a.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+secret.Token)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with a key: %d", path, resp.StatusCode)
		}
	}

	// The bearer token, with a spoofed tenant header that must be ignored.
	oc := openai.NewClient(option.WithBaseURL(a.URL()+"/v1"), option.WithAPIKey(secret.Token), option.WithMaxRetries(0),
		option.WithHeader("X-Penny-Tenant", "someone-else"))
	if _, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nova-micro",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatalf("bearer: %v", err)
	}
	bad := openai.NewClient(option.WithBaseURL(a.URL()+"/v1"), option.WithAPIKey("pk-wrong"), option.WithMaxRetries(0))
	_, err = bad.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nova-micro",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oerr *openai.Error
	if !errors.As(err, &oerr) || oerr.StatusCode != 401 {
		t.Errorf("wrong token: %v", err)
	}

	// The AWS SDK, signing with the key's access key id and secret.
	sdk := func(secretKey string) *bedrockruntime.Client {
		return bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(a.URL()),
			Credentials: credentials.NewStaticCredentialsProvider(secret.AccessKeyID, secretKey, ""), RetryMaxAttempts: 1},
			func(o *bedrockruntime.Options) { o.BearerAuthTokenProvider = nil; o.AuthSchemePreference = nil })
	}
	in := &bedrockruntime.ConverseInput{ModelId: aws.String("us.amazon.nova-micro-v1:0"),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}}}
	if _, err := sdk(secret.SecretAccessKey).Converse(ctx, in); err != nil {
		t.Fatalf("SigV4: %v", err)
	}
	_, err = sdk("not-the-secret-not-the-secret-not-the-se").Converse(ctx, in)
	var unrec interface{ ErrorCode() string }
	if !errors.As(err, &unrec) || unrec.ErrorCode() != "UnrecognizedClientException" {
		t.Errorf("wrong secret: %v", err)
	}

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	store := openStore(t, cfg.Database)
	recs, err := store.Records(ctx, ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ok, refused int
	for _, r := range recs {
		switch r.Status {
		case ledger.StatusOK:
			ok++
			if r.Tenant != "acme" || r.KeyID != secret.AccessKeyID || r.Tags["team"] != "support" {
				t.Errorf("authenticated record: tenant %q key %q tags %v", r.Tenant, r.KeyID, r.Tags)
			}
		default:
			refused++
			if r.ErrorKind != "unauthorized" || r.Tenant != "" || r.Route != "" || len(r.Tags) != 0 {
				t.Errorf("refused record: %+v", r)
			}
		}
	}
	if ok != 2 || refused != 4 {
		t.Errorf("%d ok, %d refused records; want 2 and 4", ok, refused)
	}
}
