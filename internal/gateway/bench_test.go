package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/penny-gateway/penny/internal/account"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/dispatch"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/loadtest"
	"github.com/penny-gateway/penny/internal/provider/bedrock"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

const benchBody = `{"system":[{"text":"You are the support assistant of Acme Cloud. Answer briefly."}],` +
	`"messages":[{"role":"user","content":[{"text":"Where is my order 12345? It was due yesterday."}]}],` +
	`"inferenceConfig":{"maxTokens":256,"temperature":0.2}}`

// BenchmarkConverseRoundTrip measures one Converse request through Penny
// (HTTP in, the Bedrock provider through the AWS SDK to a stub, ledger on
// SQLite) and, as "direct", the same request straight to the stub.
func BenchmarkConverseRoundTrip(b *testing.B) {
	stub, err := loadtest.StartStub()
	if err != nil {
		b.Fatal(err)
	}
	defer stub.Close()
	store := sqlitetest.MustOpenLedger(b)
	w := ledger.NewWriter(store, ledger.WriterOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer w.Close(context.Background())
	p, err := bedrock.New(context.Background(), bedrock.Options{Region: "us-east-1", BaseEndpoint: stub.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	if err != nil {
		b.Fatal(err)
	}
	cat := catalog.MustBuiltin()
	up, err := dispatch.New(dispatch.Options{Catalog: cat, Providers: map[string]llm.Invoker{"bedrock": p}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Catalog: cat, Recorder: w, Upstream: up, Stages: []llm.Stage{account.Stage(account.Options{Catalog: cat})}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	client := &http.Client{}
	run := func(b *testing.B, url string) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Post(url, "application/json", bytes.NewReader([]byte(benchBody)))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatal(resp.Status)
			}
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, stub.URL()+"/model/amazon.nova-micro-v1%3A0/converse") })
	b.Run("penny", func(b *testing.B) { run(b, srv.URL+"/model/nova-micro/converse") })
}

// BenchmarkProviderInvoke is the Bedrock provider alone (AWS SDK to the stub).
func BenchmarkProviderInvoke(b *testing.B) {
	stub, err := loadtest.StartStub()
	if err != nil {
		b.Fatal(err)
	}
	defer stub.Close()
	p, err := bedrock.New(context.Background(), bedrock.Options{Region: "us-east-1", BaseEndpoint: stub.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	if err != nil {
		b.Fatal(err)
	}
	max := 256
	req := &llm.Request{Model: "amazon.nova-micro-v1:0", System: []llm.SystemBlock{{Text: "Be brief."}},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("Where is my order 12345?")}}},
		Config:   llm.InferenceConfig{MaxTokens: &max}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Invoke(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
