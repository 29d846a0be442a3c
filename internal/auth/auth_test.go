package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/auth/bearer"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/penny-gateway/penny/internal/auth"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

// wantRefused checks that an AWS SDK call failed the way Penny refuses
// credentials: 403 UnrecognizedClientException, with msg in the message.
func wantRefused(t *testing.T, err error, msg string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnrecognizedClientException" {
		t.Fatalf("err = %v, want an UnrecognizedClientException", err)
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != http.StatusForbidden {
		t.Errorf("status %d, want 403", re.HTTPStatusCode())
	}
	if !strings.Contains(apiErr.ErrorMessage(), msg) {
		t.Errorf("message %q does not say %q", apiErr.ErrorMessage(), msg)
	}
}

func TestAWSSDKSigV4(t *testing.T) {
	e := newEnv(t, false)
	rec, sec := e.newKey(t, keys.Key{Tenant: "acme", Tags: map[string]string{"team": "support", "app": "chat"}})
	want := "tenant=acme key=" + rec.ID + " tags=app=chat,team=support"

	// Model ids the SDK escapes differently: ":" and "/" in the path.
	for _, model := range []string{
		"us.amazon.nova-micro-v1:0",
		"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/support",
		"nova micro+lite",
	} {
		out, err := e.sdk(sec.AccessKeyID, sec.SecretAccessKey, nil).Converse(ctx, converseInput(model, "How do I reset my password?"))
		if err != nil {
			t.Fatalf("Converse(%s): %v", model, err)
		}
		if got := answerText(out); got != want {
			t.Errorf("authenticated as %q, want %q", got, want)
		}
	}

	t.Run("wrong secret", func(t *testing.T) {
		_, err := e.sdk(sec.AccessKeyID, "x"+sec.SecretAccessKey[1:], nil).Converse(ctx, converseInput("nova-micro", "hi"))
		wantRefused(t, err, "signature does not match")
	})
	t.Run("unknown key", func(t *testing.T) {
		_, other, _ := keys.New(keys.Key{Tenant: "acme"}, time.Now())
		_, err := e.sdk(other.AccessKeyID, other.SecretAccessKey, nil).Converse(ctx, converseInput("nova-micro", "hi"))
		wantRefused(t, err, "not a key of this Penny")
	})
	t.Run("AWS credentials", func(t *testing.T) {
		_, err := e.sdk("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", nil).Converse(ctx, converseInput("nova-micro", "hi"))
		wantRefused(t, err, "not a Penny key")
	})
	t.Run("tampered body", func(t *testing.T) {
		tamper := func(next http.RoundTripper) http.RoundTripper {
			return roundTripper(func(r *http.Request) (*http.Response, error) {
				body, _ := io.ReadAll(r.Body)
				body = bytes.Replace(body, []byte("cheap"), []byte("CHEAP"), 1)
				r.Body = io.NopCloser(bytes.NewReader(body))
				return next.RoundTrip(r)
			})
		}
		_, err := e.sdk(sec.AccessKeyID, sec.SecretAccessKey, tamper).Converse(ctx, converseInput("nova-micro", "something cheap"))
		wantRefused(t, err, "signature does not match")
	})
	t.Run("tampered path", func(t *testing.T) {
		tamper := func(next http.RoundTripper) http.RoundTripper {
			return roundTripper(func(r *http.Request) (*http.Response, error) {
				r.URL.Path = strings.Replace(r.URL.Path, "nova-micro", "nova-pro", 1)
				r.URL.RawPath = ""
				return next.RoundTrip(r)
			})
		}
		_, err := e.sdk(sec.AccessKeyID, sec.SecretAccessKey, tamper).Converse(ctx, converseInput("nova-micro", "hi"))
		wantRefused(t, err, "signature does not match")
	})
	t.Run("revoked", func(t *testing.T) {
		rec2, sec2 := e.newKey(t, keys.Key{Tenant: "acme"})
		client := e.sdk(sec2.AccessKeyID, sec2.SecretAccessKey, nil)
		if _, err := client.Converse(ctx, converseInput("nova-micro", "hi")); err != nil {
			t.Fatal(err)
		}
		if err := e.auth.Revoke(ctx, rec2.ID); err != nil {
			t.Fatal(err)
		}
		_, err := client.Converse(ctx, converseInput("nova-micro", "hi"))
		wantRefused(t, err, "revoked")
	})
}

// TestReplay replays a request the AWS SDK signed: within the allowed skew
// it is accepted, as by AWS (SigV4 does not prevent replays); later, not.
func TestReplay(t *testing.T) {
	e := newEnv(t, false)
	_, sec := e.newKey(t, keys.Key{Tenant: "acme"})
	var mu sync.Mutex
	var sent []captured
	if _, err := e.sdk(sec.AccessKeyID, sec.SecretAccessKey, recorder(&mu, &sent)).Converse(ctx, converseInput("nova-micro", "hi")); err != nil {
		t.Fatal(err)
	}
	c := sent[0]
	if _, err := e.auth.Authenticate(c.request(), c.body); err != nil {
		t.Errorf("replay at once: %v", err)
	}
	e.clock.Advance(16 * time.Minute)
	_, err := e.auth.Authenticate(c.request(), c.body)
	wantKind(t, err, llm.KindUnauthorized, "replay 16 minutes later")
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("replay error %v does not say the signature expired", err)
	}
	e.clock.Advance(-32 * time.Minute) // a request from the future
	_, err = e.auth.Authenticate(c.request(), c.body)
	wantKind(t, err, llm.KindUnauthorized, "16 minutes early")
}

func TestAWSSDKBearer(t *testing.T) {
	e := newEnv(t, true) // the SDK sends bearer tokens over HTTPS only
	rec, sec := e.newKey(t, keys.Key{Tenant: "acme"})
	client := func(token string) *bedrockruntime.Client {
		return bedrockruntime.New(bedrockruntime.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String(e.srv.URL),
			// What AWS_BEARER_TOKEN_BEDROCK sets up.
			BearerAuthTokenProvider: bearer.StaticTokenProvider{Token: bearer.Token{Value: token}},
			AuthSchemePreference:    []string{"httpBearerAuth"},
			RetryMaxAttempts:        1,
			HTTPClient:              e.srv.Client(),
		})
	}
	out, err := client(sec.Token).Converse(ctx, converseInput("nova-micro", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if got := answerText(out); !strings.Contains(got, rec.ID) {
		t.Errorf("answer %q", got)
	}
	_, err = client(sec.Token+"x").Converse(ctx, converseInput("nova-micro", "hi"))
	wantRefused(t, err, "invalid API key")
	// SigV4 over TLS too.
	if _, err := e.sdk(sec.AccessKeyID, sec.SecretAccessKey, nil).Converse(ctx, converseInput("nova-micro", "hi")); err != nil {
		t.Errorf("SigV4 over TLS: %v", err)
	}
}

func TestOpenAIClient(t *testing.T) {
	e := newEnv(t, false)
	rec, sec := e.newKey(t, keys.Key{Tenant: "acme", Tags: map[string]string{"app": "chat"}})
	call := func(token string) (*openai.ChatCompletion, error) {
		c := openai.NewClient(option.WithBaseURL(e.srv.URL+"/v1"), option.WithAPIKey(token), option.WithMaxRetries(0))
		return c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "nova-micro",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
	}
	out, err := call(sec.Token)
	if err != nil {
		t.Fatal(err)
	}
	if want := "tenant=acme key=" + rec.ID + " tags=app=chat"; out.Choices[0].Message.Content != want {
		t.Errorf("authenticated as %q, want %q", out.Choices[0].Message.Content, want)
	}
	for _, tc := range []struct{ token, msg string }{
		{tamper(sec.Token), "invalid API key"},
		{"sk-proj-not-a-penny-key", "not a Penny key"},
	} {
		_, err := call(tc.token)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
			t.Fatalf("token %q: err = %v, want a 401", tc.token, err)
		}
		if !strings.Contains(apiErr.Message, tc.msg) {
			t.Errorf("token %q: message %q does not say %q", tc.token, apiErr.Message, tc.msg)
		}
	}
}

func TestRequestShapes(t *testing.T) {
	e := newEnv(t, false)
	rec, sec := e.newKey(t, keys.Key{Tenant: "acme"})
	body := []byte(`{"messages":[]}`)
	req := func(h ...string) *http.Request {
		r := httptest.NewRequest("POST", "http://penny.test/model/nova-micro/converse", bytes.NewReader(body))
		for i := 0; i < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	// signed returns a request signed by the SDK's signer, then edited.
	signed := func(edit func(*http.Request)) *http.Request {
		r := req("Content-Type", "application/json")
		if edit != nil {
			edit(r)
		}
		err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: sec.AccessKeyID, SecretAccessKey: sec.SecretAccessKey},
			r, sha256Hex(body), "bedrock", "us-west-2", e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	ok := []struct {
		name string
		r    *http.Request
	}{
		{"bearer", req("Authorization", "Bearer "+sec.Token)},
		{"bearer lower case", req("Authorization", "bearer "+sec.Token)},
		{"x-api-key", req("X-Api-Key", sec.Token)},
		{"sigv4", signed(nil)},
		{"sigv4 with content sha256", signed(func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", sha256Hex(body)) })},
		{"sigv4 with query", signed(func(r *http.Request) { r.URL.RawQuery = "b=2&a=1&a=0" })},
	}
	for _, tc := range ok {
		k, err := e.auth.Authenticate(tc.r, body)
		if err != nil || k.ID != rec.ID || k.Tenant != "acme" {
			t.Errorf("%s: %+v, %v", tc.name, k, err)
		}
	}

	if auth.NeedsBody(ok[0].r) || !auth.NeedsBody(ok[3].r) {
		t.Error("NeedsBody: want true for SigV4 only")
	}
	_, sec2 := e.newKey(t, keys.Key{Tenant: "acme"}) // not cached yet
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := e.auth.Authenticate(req("Authorization", "Bearer "+sec2.Token).WithContext(canceled), nil)
	wantKind(t, err, llm.KindCanceled, "client gone during lookup")

	bad := []struct {
		name, msg string
		r         *http.Request
	}{
		{"no credentials", "penny keys create", req()},
		{"empty bearer", "missing credentials", req("Authorization", "Bearer ")},
		{"basic", "unsupported Authorization scheme", req("Authorization", "Basic dXNlcjpwYXNz")},
		{"presigned", "presigned", httptest.NewRequest("POST", "/model/x/converse?X-Amz-Signature=abc", nil)},
		{"other service", `service "s3"`, func() *http.Request {
			r := req("Content-Type", "application/json")
			v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: sec.AccessKeyID, SecretAccessKey: sec.SecretAccessKey},
				r, sha256Hex(body), "s3", "us-west-2", e.clock.Now())
			return r
		}()},
		{"body sha256 mismatch", "does not match its X-Amz-Content-Sha256", signed(func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte("other")))
		})},
		{"unsigned payload", "UNSIGNED-PAYLOAD", signed(func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") })},
		{"header changed after signing", "signature does not match", func() *http.Request {
			r := signed(nil)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}()},
		{"signed header dropped", "missing from the request", func() *http.Request {
			r := signed(nil)
			r.Header.Del("Content-Type")
			return r
		}()},
		{"query changed after signing", "signature does not match", func() *http.Request {
			r := signed(func(r *http.Request) { r.URL.RawQuery = "a=1" })
			r.URL.RawQuery = "a=2"
			return r
		}()},
		{"no x-amz-date", "X-Amz-Date", func() *http.Request {
			r := signed(nil)
			r.Header.Del("X-Amz-Date")
			return r
		}()},
		{"malformed", "Credential, SignedHeaders and Signature", req("Authorization", "AWS4-HMAC-SHA256 Credential=PNY")},
	}
	for _, tc := range bad {
		_, err := e.auth.Authenticate(tc.r, body)
		wantKind(t, err, llm.KindUnauthorized, tc.name)
		if err != nil && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: message %q does not say %q", tc.name, err, tc.msg)
		}
	}
}

// TestCacheTTL checks that a revocation by another process (straight in
// the store) applies within the TTL, and that last use is recorded.
func TestCacheTTL(t *testing.T) {
	e := newEnv(t, false)
	rec, sec := e.newKey(t, keys.Key{Tenant: "acme"})
	r := func() *http.Request {
		r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		r.Header.Set("Authorization", "Bearer "+sec.Token)
		return r
	}
	if _, err := e.auth.Authenticate(r(), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Revoke(ctx, rec.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Authenticate(r(), nil); err != nil {
		t.Errorf("within the TTL the cached key still works: %v", err)
	}
	e.clock.Advance(auth.DefaultTTL)
	_, err := e.auth.Authenticate(r(), nil)
	wantKind(t, err, llm.KindUnauthorized, "after the TTL")

	e.auth.Close() // flushes last-used times
	got, err := e.store.ByID(ctx, rec.ID)
	if err != nil || got.LastUsed.IsZero() {
		t.Errorf("LastUsed not recorded: %+v, %v", got, err)
	}
	// In-flight requests may still authenticate during shutdown.
	_, sec2 := e.newKey(t, keys.Key{Tenant: "acme"})
	r2 := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r2.Header.Set("Authorization", "Bearer "+sec2.Token)
	if _, err := e.auth.Authenticate(r2, nil); err != nil {
		t.Errorf("after Close: %v", err)
	}
}

func TestSealedWithoutServerSecret(t *testing.T) {
	e := newEnv(t, false)
	_, sec := e.newKey(t, keys.Key{Tenant: "acme"})
	// A store that reports every secret as sealed, as one without
	// PENNY_KEYS_SECRET does for keys created with it.
	a := auth.New(sealedStore{e.store}, auth.Options{})
	defer a.Close()
	r := httptest.NewRequest("POST", "http://penny.test/model/m/converse", nil)
	v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: sec.AccessKeyID, SecretAccessKey: sec.SecretAccessKey},
		r, sha256Hex(nil), "bedrock", "us-east-1", time.Now())
	_, err := a.Authenticate(r, nil)
	wantKind(t, err, llm.KindInternal, "sealed secret")
	if err == nil || !strings.Contains(err.Error(), keys.SecretEnv) {
		t.Errorf("error %v does not name %s", err, keys.SecretEnv)
	}
}

type sealedStore struct{ keys.Store }

func (sealedStore) ByID(context.Context, string) (*keys.Record, error) {
	return nil, fmt.Errorf("key: %w", keys.ErrSealed)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestConcurrent(t *testing.T) {
	e := newEnv(t, false)
	type cred struct {
		id     string
		bearer *http.Request
		signed captured
	}
	var creds []cred
	for range 8 {
		rec, sec := e.newKey(t, keys.Key{Tenant: "acme"})
		var mu sync.Mutex
		var sent []captured
		if _, err := e.sdk(sec.AccessKeyID, sec.SecretAccessKey, recorder(&mu, &sent)).Converse(ctx, converseInput("nova-micro", "hi")); err != nil {
			t.Fatal(err)
		}
		b := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		b.Header.Set("Authorization", "Bearer "+sec.Token)
		creds = append(creds, cred{rec.ID, b, sent[0]})
	}
	e.auth.Invalidate(creds[0].id) // start from a partly cold cache
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				c := creds[(g+i)%len(creds)]
				var k *keys.Key
				var err error
				if i%2 == 0 {
					k, err = e.auth.Authenticate(c.bearer.Clone(ctx), nil)
				} else {
					k, err = e.auth.Authenticate(c.signed.request(), c.signed.body)
				}
				if err != nil || k.ID != c.id {
					t.Errorf("goroutine %d: %+v, %v", g, k, err)
					return
				}
				if i%50 == 0 {
					e.auth.Invalidate(c.id)
				}
			}
		})
	}
	// A wrong secret in the middle of it all still fails.
	wg.Go(func() {
		_, err := e.sdk(creds[1].id, "wrong", nil).Converse(ctx, converseInput("nova-micro", "hi"))
		if err == nil {
			t.Error("a wrong secret passed under load")
		}
	})
	wg.Wait()
}

func TestAttribute(t *testing.T) {
	m := llm.Meta{Tenant: "default", Tags: map[string]string{"team": "other", "user": "u1"}}
	k := &keys.Key{ID: "PNYAAAAAAAAAAAAAAAAA", Tenant: "acme", Tags: map[string]string{"team": "support"}}
	auth.Attribute(&m, k)
	if m.Tenant != "acme" || m.KeyID != k.ID || m.Tags["team"] != "support" || m.Tags["user"] != "u1" {
		t.Errorf("Meta = %+v", m)
	}
	m.Tags["x"] = "y"
	if _, ok := k.Tags["x"]; ok {
		t.Error("Attribute shares the key's tags map")
	}
}

// tamper changes a token's last character, always to a different one.
func tamper(token string) string {
	last := byte('A')
	if token[len(token)-1] == last {
		last = 'B'
	}
	return token[:len(token)-1] + string(last)
}
