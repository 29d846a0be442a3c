package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/penny-gateway/penny/internal/account"
	"github.com/penny-gateway/penny/internal/bedrocktest"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/dispatch"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/provider/bedrock"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/route"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
	"github.com/penny-gateway/penny/internal/tokens"
)

// env is a running gateway on a real HTTP server with a real SQLite ledger.
type env struct {
	t      *testing.T
	URL    string
	Store  *sqlite.LedgerStore
	Ledger *ledger.Writer
	Fake   *bedrocktest.Server // set when the upstream is the fake Bedrock
	Server *Server
}

type envOptions struct {
	bedrock  bool // real Bedrock provider against bedrocktest, else the simulator
	simOpts  sim.Options
	routes   []route.Config
	stages   []llm.Stage // extra stages after routing
	logger   *slog.Logger
	maxBody  int64
	timeout  time.Duration
	fakeOpts []bedrocktest.Option
	// h2c serves HTTP/2 without TLS (prior knowledge) beside HTTP/1.1.
	h2c bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	cat := catalog.MustBuiltin()
	store := sqlitetest.MustOpenLedger(t)
	w := ledger.NewWriter(store, ledger.WriterOptions{FlushInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { w.Close(context.Background()) })
	tbl, err := route.NewTable(o.routes, cat.CanonicalID)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, Store: store, Ledger: w}
	counter, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	dopts := dispatch.Options{Catalog: cat, Region: "us-east-1"}
	if o.bedrock {
		e.Fake = bedrocktest.New(t, o.fakeOpts...)
		p, err := bedrock.New(context.Background(), bedrock.Options{Region: "us-east-1", BaseEndpoint: e.Fake.URL(),
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
		if err != nil {
			t.Fatal(err)
		}
		dopts.Providers = map[string]llm.Invoker{"bedrock": p}
	} else {
		dopts.Simulate = sim.New(cat, counter, o.simOpts)
	}
	up, err := dispatch.New(dopts)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's own tests need only pricing and routing of the chain
	// package app assembles.
	stages := append([]llm.Stage{account.Stage(account.Options{Catalog: cat, Counter: counter}), route.Stage(tbl)}, o.stages...)
	s, err := New(Options{Catalog: cat, RouteNames: tbl.Names(), Recorder: w, Upstream: up, Stages: stages,
		MaxBodyBytes: o.maxBody, RequestTimeout: o.timeout, Logger: o.logger, Counter: counter})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	if o.h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	e.URL, e.Server = srv.URL, s
	return e
}

// records flushes the ledger and returns every record, newest first.
func (e *env) records() []ledger.Record {
	e.t.Helper()
	if err := e.Ledger.Flush(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	recs, err := e.Store.Records(context.Background(), ledger.RecordQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// waitRecords returns the records once there are at least n. A client
// can see the end of a response a moment before the handler that wrote it
// has recorded it, so this polls for a bounded time.
func (e *env) waitRecords(n int) []ledger.Record {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := e.records()
		if len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) record(id string) ledger.Record {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range e.records() {
			if r.RequestID == id {
				return r
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("no ledger record for request %q", id)
	return ledger.Record{}
}

// httpClient returns a client speaking HTTP/2 with prior knowledge when h2
// is set (the env must serve h2c), else HTTP/1.1; it fails the test if a
// response came over another protocol.
func httpClient(t *testing.T, h2 bool) *http.Client {
	p := new(http.Protocols)
	if h2 {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	want := 1
	if h2 {
		want = 2
	}
	return &http.Client{Transport: protoCheck{t: t, major: want, next: &http.Transport{Protocols: p}}}
}

type protoCheck struct {
	t     *testing.T
	major int
	next  http.RoundTripper
}

func (p protoCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(r)
	if err == nil && resp.ProtoMajor != p.major {
		p.t.Errorf("%s %s answered over %s, want HTTP/%d", r.Method, r.URL.Path, resp.Proto, p.major)
	}
	return resp, err
}
