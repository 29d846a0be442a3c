package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

// panicky is an upstream with a bug: it panics.
type panicky struct{}

func (panicky) Invoke(context.Context, *llm.Request) (*llm.Response, error) { panic("upstream bug") }
func (panicky) Stream(context.Context, *llm.Request) (llm.Stream, error)    { return panickyStream{}, nil }

type panickyStream struct{}

func (panickyStream) Recv() (llm.Event, error) { panic("stream bug") }
func (panickyStream) Close() error             { return nil }

// TestPanicsAreRecorded: a bug below the gateway neither loses the ledger
// record nor takes the process down.
func TestPanicsAreRecorded(t *testing.T) {
	store := sqlitetest.MustOpenLedger(t)
	w := ledger.NewWriter(store, ledger.WriterOptions{FlushInterval: 5 * time.Millisecond})
	defer w.Close(context.Background())
	s, err := New(Options{Catalog: catalog.MustBuiltin(), Recorder: w, Upstream: panicky{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Config.ErrorLog = nil
	srv.Start()
	defer srv.Close()
	for _, body := range []string{
		`{"model":"nova-micro","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"nova-micro","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
	} {
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	var recs []ledger.Record
	for time.Now().Before(deadline) {
		w.Flush(context.Background())
		if recs, _ = store.Records(context.Background(), ledger.RecordQuery{}); len(recs) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for _, r := range recs {
		if r.Status != ledger.StatusError || r.ErrorKind != string(llm.KindInternal) {
			t.Errorf("record %+v", r)
		}
	}
}
