package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

// holdStage keeps requests tagged hold=yes waiting until release is
// closed, so that a test can have requests in flight.
type holdStage struct {
	next    llm.Invoker
	release <-chan struct{}
	held    chan<- struct{}
}

func (h holdStage) wait(req *llm.Request) {
	if req.Meta.Tags["hold"] == "yes" {
		h.held <- struct{}{}
		<-h.release
	}
}

func (h holdStage) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	h.wait(req)
	return h.next.Invoke(ctx, req)
}

func (h holdStage) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	h.wait(req)
	return h.next.Stream(ctx, req)
}

// bigChat is a chat request of about n bytes.
func bigChat(n int) []byte {
	return []byte(`{"model":"nova-micro","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("word ", n/5) + `"}]}`)
}

// TestLargeBodiesTakeSlots is the memory half of finding 7: at most
// MaxConcurrentLargeBodies requests with a large body are in flight; one
// more waits LargeBodyWait and is refused with 503 and Retry-After in its
// API's format; small requests are not held up, and a freed slot serves
// the next large one.
func TestLargeBodiesTakeSlots(t *testing.T) {
	release, held := make(chan struct{}), make(chan struct{}, 8)
	e := newEnv(t, envOptions{
		stages: []llm.Stage{func(next llm.Invoker) llm.Invoker { return holdStage{next, release, held} }},
		edit: func(o *Options) {
			o.LargeBodyBytes, o.MaxConcurrentLargeBodies, o.LargeBodyWait = 32<<10, 2, 300*time.Millisecond
		},
	})
	post := func(path string, body []byte, hold bool) (*http.Response, string) {
		req, _ := http.NewRequest("POST", e.URL+path, bytes.NewReader(body))
		if hold {
			req.Header.Set(HeaderTags, "hold=yes")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if resp, body := post("/v1/chat/completions", bigChat(64<<10), true); resp.StatusCode != 200 {
				t.Errorf("held large request: %d %s", resp.StatusCode, body)
			}
		})
	}
	<-held
	<-held
	start := time.Now()
	resp, body := post("/v1/chat/completions", bigChat(64<<10), false)
	waited := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(body, "limits.max_concurrent_large_bodies") || !strings.Contains(body, `"type":"server_error"`) {
		t.Errorf("a third large request: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if waited < 250*time.Millisecond || waited > 3*time.Second {
		t.Errorf("the third large request was refused after %v, want about LargeBodyWait (300ms)", waited)
	}
	// Converse says it the Bedrock way; a small request goes through.
	resp, _ = post("/model/nova-micro/converse", []byte(`{"messages":[{"role":"user","content":[{"text":"`+strings.Repeat("word ", 10<<10)+`"}]}]}`), false)
	if resp.StatusCode != 503 || !strings.HasPrefix(resp.Header.Get("x-amzn-ErrorType"), "ServiceUnavailableException") {
		t.Errorf("a large Converse request: %d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
	}
	if resp, body := post("/v1/chat/completions", []byte(chatBody), false); resp.StatusCode != 200 {
		t.Errorf("a small request while the slots are taken: %d %s", resp.StatusCode, body)
	}
	close(release)
	wg.Wait()
	if resp, body := post("/v1/chat/completions", bigChat(64<<10), false); resp.StatusCode != 200 {
		t.Errorf("a large request once the slots are free: %d %s", resp.StatusCode, body)
	}
	if got := len(e.Server.largeSlots); got != 0 {
		t.Errorf("%d slots still taken after every request ended", got)
	}
}

// newSigningKey creates a key in an env made with auth and returns its
// SigV4 credentials.
func (e *env) newSigningKey(tenant string) keys.Secret {
	e.t.Helper()
	rec, secret, err := keys.New(keys.Key{Tenant: tenant}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.Keys.Create(context.Background(), rec); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// signed returns a Converse request for body signed with SigV4 by the AWS
// SDK's signer; declare adds the x-amz-content-sha256 header (signed) with
// the hash the signature covers.
func signed(t *testing.T, url string, s keys.Secret, body []byte, declare bool) *http.Request {
	t.Helper()
	req := httptest.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if declare {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey},
		req, hash, "bedrock", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestSigV4BeforeTheBody is the authentication half of finding 7: with a
// declared payload hash, a forged signature is refused before a byte of
// the body is read, and a body that does not match the signed hash after;
// the AWS SDK, with the header and without it (its default for Bedrock
// Runtime), still authenticates.
func TestSigV4BeforeTheBody(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	s := e.newSigningKey("acme")
	body := []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)
	big := bytes.Repeat([]byte(" "), 8<<20) // what a forger would send
	serve := func(req *http.Request) (*httptest.ResponseRecorder, int64) {
		cb := &countingBody{r: req.Body}
		req.Body = cb
		rec := httptest.NewRecorder()
		e.Server.Handler().ServeHTTP(rec, req)
		return rec, cb.read.Load()
	}
	url := "http://penny.test/model/nova-micro/converse"

	// Signed properly, with the hash declared: served.
	if rec, _ := serve(signed(t, url, s, body, true)); rec.Code != 200 {
		t.Fatalf("signed with a declared hash: %d %s", rec.Code, rec.Body)
	}
	// A forged signature over a declared hash: refused, nothing read.
	forged := signed(t, url, keys.Secret{AccessKeyID: s.AccessKeyID, SecretAccessKey: "not-the-secret-not-the-secret-not-the-se"}, big, true)
	rec, read := serve(forged)
	if rec.Code != http.StatusForbidden || !strings.HasPrefix(rec.Header().Get("x-amzn-ErrorType"), "UnrecognizedClientException") ||
		!strings.Contains(rec.Body.String(), "signature does not match") {
		t.Errorf("forged signature: %d %s", rec.Code, rec.Body)
	}
	if read != 0 {
		t.Errorf("Penny read %d bytes of a body whose signature is forged", read)
	}
	// A real signature over another body: refused once the body is read.
	swapped := signed(t, url, s, body, true)
	swapped.Body, swapped.ContentLength = io.NopCloser(bytes.NewReader(big[:len(body)])), int64(len(body))
	if rec, _ := serve(swapped); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "does not match its X-Amz-Content-Sha256") {
		t.Errorf("a body other than the signed one: %d %s", rec.Code, rec.Body)
	}
	// A malformed declared hash is refused before the body too.
	odd := signed(t, url, s, body, false)
	odd.Header.Set("X-Amz-Content-Sha256", "abc")
	if rec, read := serve(odd); rec.Code != http.StatusForbidden || read != 0 || !strings.Contains(rec.Body.String(), "64 lower-case hexadecimal") {
		t.Errorf("a malformed hash: %d, read %d: %s", rec.Code, read, rec.Body)
	}
	// Without the header the signature needs the body: checked after it,
	// as before.
	if rec, _ := serve(signed(t, url, s, body, false)); rec.Code != 200 {
		t.Errorf("signed without a declared hash: %d %s", rec.Code, rec.Body)
	}
	forged = signed(t, url, keys.Secret{AccessKeyID: s.AccessKeyID, SecretAccessKey: "not-the-secret-not-the-secret-not-the-se"}, body, false)
	if rec, _ := serve(forged); rec.Code != http.StatusForbidden {
		t.Errorf("forged signature, no declared hash: %d", rec.Code)
	}

	// The real AWS SDK over HTTP: by default it sends no hash header for
	// Bedrock Runtime (it signs the hash it computes); asked to, it does.
	for _, declare := range []bool{false, true} {
		var sawHeader bool
		client := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, ""),
			HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sawHeader = r.Header.Get("X-Amz-Content-Sha256") != ""
				return http.DefaultTransport.RoundTrip(r)
			})}},
			func(o *bedrockruntime.Options) {
				if declare {
					o.APIOptions = append(o.APIOptions, v4.AddContentSHA256HeaderMiddleware)
				}
			})
		_, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("nova-micro"),
			Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}}})
		if err != nil || sawHeader != declare {
			t.Errorf("AWS SDK, hash header %v: err %v, sent the header: %v", declare, err, sawHeader)
		}
	}
	// The SDK with the header and a wrong secret: refused, typed.
	client := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKeyID, "not-the-secret-not-the-secret-not-the-se", ""),
		APIOptions:  []func(*middlewareStack) error{v4.AddContentSHA256HeaderMiddleware}})
	_, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("nova-micro"),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}}})
	var coded interface{ ErrorCode() string }
	if !errors.As(err, &coded) || coded.ErrorCode() != "UnrecognizedClientException" {
		t.Errorf("AWS SDK with a wrong secret: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// imageBodies returns a Converse, an OpenAI chat and an Anthropic Messages
// request, each carrying one PNG of n bytes (about 4n/3 of base64).
func imageBodies(n int) (converseBody, openaiBody, anthropicBody []byte) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1}, n)...)
	b64 := base64.StdEncoding.EncodeToString(png)
	converseBody = []byte(`{"messages":[{"role":"user","content":[{"text":"What is this?"},{"image":{"format":"png","source":{"bytes":"` + b64 + `"}}}]}],"inferenceConfig":{"maxTokens":5}}`)
	openaiBody = []byte(`{"model":"nova-lite","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + b64 + `"}}]}]}`)
	anthropicBody = []byte(`{"model":"nova-lite","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + b64 + `"}}]}]}`)
	return converseBody, openaiBody, anthropicBody
}

// TestLargeBodyCopies is the other memory half of finding 7: 32 bodies of
// 9.5 MB took 1.5 GB, about 6 × each, because the body buffer grew by
// doubling, the OpenAI decoder copied the body into a buffer of its own,
// Converse's base64 went through a string copy, and Anthropic's decoder
// (Messages and InvokeModel) copied the image at every level it split. A
// request now allocates the body and what it decodes to, and little else.
func TestLargeBodyCopies(t *testing.T) {
	e := newEnv(t, envOptions{})
	converseBody, openaiBody, anthropicBody := imageBodies(7 << 20)
	for _, tc := range []struct {
		path string
		body []byte
		max  float64 // allocated bytes per body byte
	}{
		// The body, the image's bytes (3/4 of the body).
		{"/model/nova-lite/converse", converseBody, 2.0},
		// The body, the data URL's string and the image's bytes.
		{"/v1/chat/completions", openaiBody, 3.0},
		{"/v1/messages", anthropicBody, 3.0},
		// InvokeModel with Anthropic's native body: its decoder.
		{"/model/haiku/invoke", bytes.Replace(anthropicBody, []byte(`"model":"nova-lite",`), []byte(`"anthropic_version":"bedrock-2023-05-31",`), 1), 3.0},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		req := httptest.NewRequest("POST", tc.path, bytes.NewReader(tc.body))
		rec := httptest.NewRecorder()
		e.Server.Handler().ServeHTTP(rec, req)
		runtime.ReadMemStats(&after)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %.300s", tc.path, rec.Code, rec.Body)
		}
		ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(tc.body))
		t.Logf("%s: a %.1f MB body allocated %.2f × its size", tc.path, float64(len(tc.body))/(1<<20), ratio)
		if ratio > tc.max {
			t.Errorf("%s: allocated %.2f × the body, want at most %.1f", tc.path, ratio, tc.max)
		}
	}
}
