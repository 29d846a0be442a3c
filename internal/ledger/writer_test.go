package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

// gatedStore is a real store whose Append waits until the gate opens. It
// reports each Append it starts on entered.
type gatedStore struct {
	ledger.Store
	gate    chan struct{}
	entered chan struct{}
}

func newGatedStore(s ledger.Store) *gatedStore {
	return &gatedStore{Store: s, gate: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (g *gatedStore) Append(ctx context.Context, recs []ledger.Record) error {
	g.entered <- struct{}{}
	<-g.gate
	return g.Store.Append(ctx, recs)
}

// flakyStore is a real store whose first failures Appends fail, the way a
// full disk makes them fail: it stands in for disk faults a test cannot
// cause safely (internal/app's tests cause real ones: an immutable file, a
// removed directory, a held lock). Storing 1<<40 in failures makes it
// fail until 0 is stored.
type flakyStore struct {
	ledger.Store
	failures atomic.Int64
	calls    atomic.Int64
}

func (f *flakyStore) Append(ctx context.Context, recs []ledger.Record) error {
	f.calls.Add(1)
	if f.failures.Add(-1) >= 0 {
		return errors.New("disk on fire")
	}
	return f.Store.Append(ctx, recs)
}

func record(id string) ledger.Record {
	return ledger.Record{
		Time: time.Now().UTC(), RequestID: id, Tenant: "t", Model: "m", Status: ledger.StatusOK,
		InputTokens: 1, Cost: 1, BaselineCost: 2, Tags: map[string]string{"id": id},
	}
}

// requestIDs returns how many times each request id is stored.
func requestIDs(t *testing.T, s ledger.Store) map[string]int {
	t.Helper()
	recs, err := s.Records(context.Background(), ledger.RecordQuery{})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	n := make(map[string]int, len(recs))
	for _, r := range recs {
		n[r.RequestID]++
		if r.Tags["id"] != r.RequestID {
			t.Errorf("record %s has tags %v", r.RequestID, r.Tags)
		}
	}
	return n
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestWriterConcurrent(t *testing.T) {
	tests := []struct {
		name string
		opts ledger.WriterOptions
	}{
		{"defaults", ledger.WriterOptions{}},
		{"small queue and batches", ledger.WriterOptions{QueueSize: 8, BatchSize: 3, FlushInterval: time.Millisecond}},
		{"queue of one", ledger.WriterOptions{QueueSize: 1, BatchSize: 1}},
	}
	const goroutines, perGoroutine = 16, 150
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sqlitetest.MustOpenLedger(t)
			tt.opts.Logger = quietLogger()
			w := ledger.NewWriter(s, tt.opts)

			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range perGoroutine {
						if err := w.Write(context.Background(), record(fmt.Sprintf("g%d-%d", g, i))); err != nil {
							t.Errorf("Write: %v", err)
							return
						}
					}
				})
			}
			// Read while writing: WAL readers must not disturb the writer.
			wg.Go(func() {
				for range 20 {
					if _, err := s.Summarize(context.Background(), ledger.SummaryQuery{By: "tenant"}); err != nil {
						t.Errorf("Summarize while writing: %v", err)
						return
					}
				}
			})
			wg.Wait()
			if err := w.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}

			ids := requestIDs(t, s)
			if len(ids) != goroutines*perGoroutine {
				t.Errorf("%d distinct records stored, want %d", len(ids), goroutines*perGoroutine)
			}
			for id, n := range ids {
				if n != 1 {
					t.Errorf("record %s stored %d times", id, n)
				}
			}
			want := ledger.WriterStats{Accepted: goroutines * perGoroutine, Written: goroutines * perGoroutine}
			if st := w.Stats(); st != want {
				t.Errorf("Stats = %+v, want %+v", st, want)
			}
		})
	}
}

func TestWriterBackpressure(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	g := newGatedStore(s)
	w := ledger.NewWriter(g, ledger.WriterOptions{QueueSize: 2, BatchSize: 1, Logger: quietLogger()})
	ctx := context.Background()

	// r0 is taken off the queue and its Append blocks; r1 is the next
	// batch; r2 and r3 fill the queue.
	if err := w.Write(ctx, record("r0")); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	for _, id := range []string{"r1", "r2", "r3"} {
		if err := w.Write(ctx, record(id)); err != nil {
			t.Fatal(err)
		}
	}
	if st := w.Stats(); st.Queued != 4 {
		t.Errorf("Stats.Queued = %d, want 4", st.Queued)
	}

	// A full queue blocks Write until its context is done...
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := w.Write(short, record("timed-out")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write on a full queue = %v, want DeadlineExceeded", err)
	}
	// ... or until there is room.
	done := make(chan error, 1)
	go func() { done <- w.Write(ctx, record("r4")) }()
	select {
	case err := <-done:
		t.Fatalf("Write on a full queue returned %v before the store caught up", err)
	case <-time.After(100 * time.Millisecond):
	}

	close(g.gate)
	if err := <-done; err != nil {
		t.Fatalf("blocked Write = %v after the store caught up", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want := map[string]int{"r0": 1, "r1": 1, "r2": 1, "r3": 1, "r4": 1}
	if got := requestIDs(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v", got, want)
	}
}

func TestWriterCloseDrains(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	// Neither the interval nor the batch size would write anything.
	w := ledger.NewWriter(s, ledger.WriterOptions{BatchSize: 10000, FlushInterval: time.Hour, Logger: quietLogger()})
	ctx := context.Background()
	const n = 500
	for i := range n {
		if err := w.Write(ctx, record(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := len(requestIDs(t, s)); got != n {
		t.Errorf("%d records stored after Close, want %d", got, n)
	}

	if err := w.Write(ctx, record("late")); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Errorf("Flush after Close = %v", err)
	}
	if st := w.Stats(); st.Written != n || st.Queued != 0 {
		t.Errorf("Stats = %+v, want %d written and none queued", st, n)
	}
}

func TestWriterCloseReleasesBlockedWrites(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	g := newGatedStore(s)
	w := ledger.NewWriter(g, ledger.WriterOptions{QueueSize: 1, BatchSize: 1, Logger: quietLogger()})
	ctx := context.Background()
	if err := w.Write(ctx, record("r0")); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	for _, id := range []string{"r1", "r2"} { // the next batch, and the queue
		if err := w.Write(ctx, record(id)); err != nil {
			t.Fatal(err)
		}
	}
	blocked := make(chan error, 1)
	go func() { blocked <- w.Write(ctx, record("blocked")) }()
	time.Sleep(20 * time.Millisecond) // let it block

	// Close gives up on the store after its context ends; the queue keeps
	// draining in the background.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := w.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck store = %v, want DeadlineExceeded", err)
	}
	if err := <-blocked; !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("Write blocked during Close = %v, want ErrClosed", err)
	}

	close(g.gate)
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want := map[string]int{"r0": 1, "r1": 1, "r2": 1}
	if got := requestIDs(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v", got, want)
	}
}

func TestWriterFlush(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	w := ledger.NewWriter(s, ledger.WriterOptions{BatchSize: 4, FlushInterval: time.Hour, Logger: quietLogger()})
	defer w.Close(context.Background())
	ctx := context.Background()
	for i := range 10 {
		if err := w.Write(ctx, record(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := len(requestIDs(t, s)); got != 10 {
		t.Errorf("%d records stored after Flush, want 10", got)
	}
	if st := w.Stats(); st.Written != 10 || st.Queued != 0 {
		t.Errorf("Stats = %+v, want 10 written, none queued", st)
	}
	// The Writer still works after a Flush.
	if err := w.Write(ctx, record("after")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(requestIDs(t, s)); got != 11 {
		t.Errorf("%d records stored after second Flush, want 11", got)
	}
}

func TestWriterFlushInterval(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	w := ledger.NewWriter(s, ledger.WriterOptions{BatchSize: 1000, FlushInterval: 10 * time.Millisecond, Logger: quietLogger()})
	defer w.Close(context.Background())
	for i := range 3 {
		if err := w.Write(context.Background(), record(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.Stats().Written != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v: a partial batch was not written after FlushInterval", w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriterRetries(t *testing.T) {
	tests := []struct {
		name        string
		failures    int64 // consecutive failing Appends, starting with the first
		maxAttempts int
		wantFailed  int64
		wantLost    bool // whether the loss is logged
	}{
		{"no failure", 0, 3, 0, false},
		{"recovers on a retry", 2, 3, 0, false},
		{"gives up after MaxAttempts", 3, 3, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sqlitetest.MustOpenLedger(t)
			f := &flakyStore{Store: s}
			f.failures.Store(tt.failures)
			var logs bytes.Buffer
			w := ledger.NewWriter(f, ledger.WriterOptions{
				BatchSize: 100, FlushInterval: time.Hour, MaxAttempts: tt.maxAttempts, RetryBackoff: time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			ctx := context.Background()
			for i := range 5 {
				if err := w.Write(ctx, record(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			err := w.Flush(ctx)
			if (err != nil) != (tt.wantFailed > 0) {
				t.Errorf("Flush = %v, want error: %v", err, tt.wantFailed > 0)
			}
			st := w.Stats()
			if st.Failed != tt.wantFailed || st.Written != 5-tt.wantFailed || st.Queued != 0 {
				t.Errorf("Stats = %+v, want %d failed, %d written", st, tt.wantFailed, 5-tt.wantFailed)
			}
			if want := min(tt.failures, int64(tt.maxAttempts-1)); st.Retries != want {
				t.Errorf("Stats.Retries = %d, want %d", st.Retries, want)
			}
			if got := int64(len(requestIDs(t, s))); got != 5-tt.wantFailed {
				t.Errorf("%d records stored, want %d", got, 5-tt.wantFailed)
			}
			if lost := strings.Contains(logs.String(), "level=ERROR msg=\"ledger: USAGE RECORDS LOST"); lost != tt.wantLost {
				t.Errorf("loss logged: %v, want %v; log:\n%s", lost, tt.wantLost, logs.String())
			}

			// Whatever happened before, the Writer keeps going.
			if err := w.Write(ctx, record("later")); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(ctx); err != nil {
				t.Errorf("Close = %v", err)
			}
			if n := requestIDs(t, s)["later"]; n != 1 {
				t.Errorf("record written after the failures stored %d times, want 1", n)
			}
		})
	}
}

func TestWriterCloseReportsLoss(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	f := &flakyStore{Store: s}
	f.failures.Store(1 << 40)
	w := ledger.NewWriter(f, ledger.WriterOptions{MaxAttempts: 2, RetryBackoff: time.Millisecond, Logger: quietLogger()})
	if err := w.Write(context.Background(), record("doomed")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err == nil {
		t.Error("Close = nil, want an error for the record given up")
	}
	if st := w.Stats(); st.Failed != 1 || f.calls.Load() != 2 {
		t.Errorf("Stats = %+v after %d attempts, want 1 failed after 2", st, f.calls.Load())
	}
}
