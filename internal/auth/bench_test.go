package auth_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/penny-gateway/penny/internal/keys"
)

// benchBody is a typical small Converse request (~2 KB).
var benchBody = []byte(`{"messages":[{"role":"user","content":[{"text":"` + strings.Repeat("How do I reset my password? ", 70) + `"}]}]}`)

func benchRequests(b *testing.B) (*env, string, *http.Request, *http.Request) {
	e := newEnv(b, false)
	rec, sec := e.newKey(b, keys.Key{Tenant: "acme", Tags: map[string]string{"team": "support", "app": "chat"}})
	bearer := httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(benchBody))
	bearer.Header.Set("Authorization", "Bearer "+sec.Token)
	signed := httptest.NewRequest("POST", "http://127.0.0.1:8484/model/us.amazon.nova-micro-v1%3A0/converse", bytes.NewReader(benchBody))
	signed.Header.Set("Content-Type", "application/json")
	signed.Header.Set("Amz-Sdk-Invocation-Id", "256a46f8-18fb-41f2-84c6-799b46e20e12")
	signed.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	signed.ContentLength = int64(len(benchBody))
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: sec.AccessKeyID, SecretAccessKey: sec.SecretAccessKey},
		signed, sha256Hex(benchBody), "bedrock", "us-east-1", e.clock.Now()); err != nil {
		b.Fatal(err)
	}
	return e, rec.ID, bearer, signed
}

// BenchmarkBearer is a bearer token whose key is cached.
func BenchmarkBearer(b *testing.B) {
	e, _, r, _ := benchRequests(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.auth.Authenticate(r, benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSigV4 is an AWS SDK-shaped signed request whose key is cached:
// hashing the body, re-signing, comparing.
func BenchmarkSigV4(b *testing.B) {
	e, _, _, r := benchRequests(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.auth.Authenticate(r, benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSigV4Parallel is BenchmarkSigV4 from every core at once.
func BenchmarkSigV4Parallel(b *testing.B) {
	e, _, _, r := benchRequests(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.auth.Authenticate(r, benchBody); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBearerUncached reads the key from SQLite every time, as happens
// once per key per TTL.
func BenchmarkBearerUncached(b *testing.B) {
	e, id, r, _ := benchRequests(b)
	b.ReportAllocs()
	for b.Loop() {
		e.auth.Invalidate(id)
		if _, err := e.auth.Authenticate(r, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSigV4Uncached reads the key from SQLite and derives its signing
// key every time.
func BenchmarkSigV4Uncached(b *testing.B) {
	e, id, _, r := benchRequests(b)
	b.ReportAllocs()
	for b.Loop() {
		e.auth.Invalidate(id)
		if _, err := e.auth.Authenticate(r, benchBody); err != nil {
			b.Fatal(err)
		}
	}
}
