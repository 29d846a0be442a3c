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
	"github.com/penny-gateway/penny/internal/auth"
	"github.com/penny-gateway/penny/internal/bedrocktest"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/dispatch"
	"github.com/penny-gateway/penny/internal/keys"
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
	// DB holds the ledger, the stored responses and, with auth, the keys.
	DB        *sqlite.DB
	Responses *sqlite.ResponseStore
	Keys      *sqlite.KeyStore // set with auth
	// Client speaks the server's protocol: HTTP/1.1, or HTTP/2 without
	// TLS (prior knowledge) when the env was made with http2.
	Client *http.Client
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
	auth     bool             // require Penny keys (make them with newKey)
	http2    bool             // serve and call with unencrypted HTTP/2 only
	noStore  bool             // store no responses
	now      func() time.Time // the clock of the stored responses
	meta     keys.MetaLimits
	// edit, if set, adjusts the server's options last.
	edit func(*Options)
	// h2c serves HTTP/2 without TLS (prior knowledge) beside HTTP/1.1.
	h2c bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	cat := catalog.MustBuiltin()
	db := sqlitetest.MustOpen(t)
	store := sqlite.NewLedgerStore(db)
	w := ledger.NewWriter(store, ledger.WriterOptions{FlushInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { w.Close(context.Background()) })
	tbl, err := route.NewTable(o.routes, cat.CanonicalID)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, Store: store, Ledger: w, DB: db, Responses: sqlite.NewResponseStore(db, o.now), Client: http.DefaultClient}
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
	opts := Options{Catalog: cat, RouteNames: tbl.Names(), Recorder: w, Upstream: up, Stages: stages,
		MaxBodyBytes: o.maxBody, RequestTimeout: o.timeout, Responses: e.Responses, Now: o.now, Logger: o.logger, MetaLimits: o.meta, Counter: counter}
	if o.noStore {
		opts.Responses = nil
	}
	if o.auth {
		if e.Keys, err = sqlite.NewKeyStore(context.Background(), db, sqlite.KeyOptions{}); err != nil {
			t.Fatal(err)
		}
		a := auth.New(e.Keys, auth.Options{})
		t.Cleanup(func() { a.Close() })
		opts.Auth = a
	}
	if o.edit != nil {
		o.edit(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	if o.http2 {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = &p
		e.Client = &http.Client{Transport: &http.Transport{Protocols: &p}}
	} else if o.h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	e.URL, e.Server = srv.URL, s
	return e
}

// newKey creates a key of tenant in an env made with auth and returns its
// bearer token.
func (e *env) newKey(tenant string) string {
	e.t.Helper()
	rec, secret, err := keys.New(keys.Key{Name: tenant + "-app", Tenant: tenant}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.Keys.Create(context.Background(), rec); err != nil {
		e.t.Fatal(err)
	}
	return secret.Token
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
