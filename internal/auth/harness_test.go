package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/penny-gateway/penny/internal/auth"
	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

var ctx = context.Background()

// clock is real time plus an offset the test moves.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// env is a key store, an Authenticator on it, and an HTTP server whose
// Converse and chat-completions endpoints answer only authenticated callers,
// with the caller's tenant, key id and tags in the answer.
type env struct {
	store *sqlite.KeyStore
	auth  *auth.Authenticator
	clock *clock
	srv   *httptest.Server
}

func newEnv(t testing.TB, tls bool) *env {
	t.Helper()
	store, err := sqlite.NewKeyStore(ctx, sqlitetest.MustOpen(t), sqlite.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, clock: &clock{}}
	e.auth = auth.New(store, auth.Options{Now: e.clock.Now})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /model/{modelId}/converse", e.converse)
	mux.HandleFunc("POST /v1/chat/completions", e.chat)
	if tls {
		e.srv = httptest.NewTLSServer(mux)
	} else {
		e.srv = httptest.NewServer(mux)
	}
	t.Cleanup(func() {
		e.srv.Close()
		e.auth.Close()
	})
	return e
}

func (e *env) newKey(t testing.TB, k keys.Key) (keys.Record, keys.Secret) {
	t.Helper()
	rec, sec, err := keys.New(k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	return rec, sec
}

// who describes the authenticated caller in a test answer.
func who(k *keys.Key) string {
	return fmt.Sprintf("tenant=%s key=%s tags=%s", k.Tenant, k.ID, keys.FormatTags(k.Tags))
}

func (e *env) converse(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	k, err := e.auth.Authenticate(r, body)
	if err != nil {
		converse.WriteHTTPError(w, "req-1", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": []any{map[string]any{"text": who(k)}}}},
		"stopReason": "end_turn",
		"usage":      map[string]any{"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
		"metrics":    map[string]any{"latencyMs": 1},
	})
}

func (e *env) chat(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	k, err := e.auth.Authenticate(r, body)
	if err != nil {
		status, eb := openaiwire.ErrorFor(err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(eb)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "nova-micro",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": who(k)}}},
		"usage": map[string]any{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
	})
}

// sdk returns a real Bedrock Runtime client signing with id and secret.
// rt, if set, wraps the client's transport: it sees (and may change) each
// request after the SDK signed it.
func (e *env) sdk(id, secret string, rt func(http.RoundTripper) http.RoundTripper) *bedrockruntime.Client {
	var transport http.RoundTripper = e.srv.Client().Transport
	if rt != nil {
		transport = rt(transport)
	}
	return bedrockruntime.New(bedrockruntime.Options{
		Region:           "eu-west-3",
		BaseEndpoint:     aws.String(e.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(id, secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: transport},
	})
}

func converseInput(model, text string) *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{
		ModelId: aws.String(model),
		Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}}}},
	}
}

func answerText(out *bedrockruntime.ConverseOutput) string {
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	return msg.Content[0].(*types.ContentBlockMemberText).Value
}

// roundTripper adapts a function to http.RoundTripper.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// captured is a request as a client sent it.
type captured struct {
	method, url string
	header      http.Header
	body        []byte
}

// recorder returns a transport wrapper that keeps every request it sends.
func recorder(mu *sync.Mutex, out *[]captured) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			*out = append(*out, captured{r.Method, r.URL.String(), r.Header.Clone(), body})
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
			return next.RoundTrip(r)
		})
	}
}

// request rebuilds c as the server receives it.
func (c captured) request() *http.Request {
	r := httptest.NewRequest(c.method, c.url, bytes.NewReader(c.body))
	for k, v := range c.header {
		r.Header[k] = v
	}
	r.ContentLength = int64(len(c.body))
	return r
}

func wantKind(t *testing.T, err error, kind llm.ErrorKind, what string) {
	t.Helper()
	if llm.KindOf(err) != kind {
		t.Errorf("%s: err = %v (kind %q), want kind %q", what, err, llm.KindOf(err), kind)
	}
}
