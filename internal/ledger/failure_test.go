package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/logtest"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

// fileLedger opens a ledger in a temporary directory and returns it and
// the path of a spool next to it.
func fileLedger(t *testing.T) (*sqlite.LedgerStore, string, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "penny.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sqlite.NewLedgerStore(db), path, path + ".spool"
}

func openWriter(t *testing.T, s ledger.Store, o ledger.WriterOptions) *ledger.Writer {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	w, err := ledger.OpenWriter(s, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

// eventually polls cond for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func spoolLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// TestWriterSpoolsWhileTheStoreFails: while the store fails, records go to
// the spool, the Writer says it is not healthy, and once the store is
// back the spool is replayed, each record stored once, and emptied.
func TestWriterSpoolsWhileTheStoreFails(t *testing.T) {
	s, _, spool := fileLedger(t)
	sick := &flakyStore{Store: s}
	w := openWriter(t, sick, ledger.WriterOptions{SpoolPath: spool, BatchSize: 10, FlushInterval: time.Millisecond,
		RetryBackoff: 20 * time.Millisecond})
	ctx := context.Background()
	if err := w.Write(ctx, record("before")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	sick.failures.Store(1 << 40)
	const n = 95
	for i := range n {
		if err := w.Write(ctx, record(fmt.Sprint("during-", i))); err != nil {
			t.Fatalf("Write while the store fails: %v", err)
		}
	}
	eventually(t, "the records to be spooled", func() bool { return w.Stats().Spooled == n })
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := w.Flush(short); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "95 records in the spool") {
		t.Errorf("Flush while the store fails = %v, want it to wait, then say how many records wait in the spool", err)
	}
	st, h := w.Stats(), w.Health()
	if st.Spooled != n || st.InSpool != n || st.Failed != 0 || st.Queued != 0 {
		t.Errorf("Stats = %+v, want %d spooled, in the spool, none lost", st, n)
	}
	if h.OK || !strings.Contains(h.Err, "disk on fire") || h.Since.IsZero() {
		t.Errorf("Health = %+v, want not OK, saying why and since when", h)
	}
	if err := w.Ready(); err == nil || !strings.Contains(err.Error(), "95 records kept in the spool") {
		t.Errorf("Ready = %v, want an error counting the spooled records", err)
	}
	if got := spoolLines(t, spool); got != n {
		t.Errorf("the spool holds %d lines, want %d", got, n)
	}
	if got := len(requestIDs(t, s)); got != 1 {
		t.Errorf("%d records in the store while it fails, want 1", got)
	}

	sick.failures.Store(0)
	eventually(t, "the spool to be replayed", func() bool { return w.Stats().InSpool == 0 && w.Health().OK })
	if err := w.Write(ctx, record("after")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ids := requestIDs(t, s)
	if len(ids) != n+2 {
		t.Errorf("%d records stored, want %d", len(ids), n+2)
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("record %s stored %d times", id, c)
		}
	}
	if st := w.Stats(); st.Replayed != n || st.Written != 2 || st.InSpool != 0 {
		t.Errorf("Stats = %+v, want %d replayed, 2 written", st, n)
	}
	if got := spoolLines(t, spool); got != 0 {
		t.Errorf("the spool holds %d lines after the replay, want none", got)
	}
}

// TestWriterReplaysALeftSpoolOnce starts a Writer on a spool a killed
// Penny left: in the middle of a replay (some of its records are already
// stored), and with its last line cut short. Each record is stored once.
func TestWriterReplaysALeftSpoolOnce(t *testing.T) {
	s, _, spool := fileLedger(t)
	var buf bytes.Buffer
	for i := range 20 {
		b, err := json.Marshal(record(fmt.Sprint("left-", i)))
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(b, '\n'))
	}
	buf.WriteString(`{"RequestID":"cut-sh`)
	if err := os.WriteFile(spool, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// The first 8 were replayed before the crash.
	var done []ledger.Record
	for i := range 8 {
		done = append(done, record(fmt.Sprint("left-", i)))
	}
	if err := s.Append(context.Background(), done); err != nil {
		t.Fatal(err)
	}

	w := openWriter(t, s, ledger.WriterOptions{SpoolPath: spool, BatchSize: 7})
	if err := w.Write(context.Background(), record("new")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ids := requestIDs(t, s)
	if len(ids) != 21 {
		t.Errorf("%d records stored, want the 20 left in the spool and the new one", len(ids))
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("record %s stored %d times", id, c)
		}
	}
	// The new record waited in the spool behind the old ones, to keep
	// the order.
	if st := w.Stats(); st.Replayed != 21 || st.Spooled != 1 || st.InSpool != 0 {
		t.Errorf("Stats = %+v, want the 20 left and the new one replayed", st)
	}
	if fi, err := os.Stat(spool); err != nil || fi.Size() != 0 {
		t.Errorf("spool after the replay: %v, %v; want an empty file", fi, err)
	}
}

// TestWriterBoundsAStalledStore holds SQLite's write lock from another
// connection, as another process would: the Writer must not make writers
// wait for it beyond MaxWait, and once the lock is released it must store
// every record once, also those of the commit that waited for the lock
// (which SQLite completes after they were spooled).
func TestWriterBoundsAStalledStore(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprint("strict=", strict), func(t *testing.T) {
			s, path, spool := fileLedger(t)
			const maxWait = 100 * time.Millisecond
			w := openWriter(t, s, ledger.WriterOptions{SpoolPath: spool, MaxWait: maxWait, Strict: strict,
				BatchSize: 16, FlushInterval: 5 * time.Millisecond, RetryBackoff: 20 * time.Millisecond})
			lock := sqlitetest.HoldWriteLock(t, path)

			var wg sync.WaitGroup
			var slowest atomic.Int64
			const writers, each = 8, 60 // 300ms or more: past MaxWait
			for g := range writers {
				wg.Go(func() {
					for i := range each {
						start := time.Now()
						if err := w.Write(context.Background(), record(fmt.Sprintf("w%d-%d", g, i))); err != nil {
							t.Errorf("Write: %v", err)
						}
						if d := int64(time.Since(start)); d > slowest.Load() {
							slowest.Store(d)
						}
						time.Sleep(5 * time.Millisecond)
					}
				})
			}
			wg.Wait()
			if h := w.Health(); h.OK {
				t.Errorf("Health = %+v while the database is locked, want not OK", h)
			}
			// A Write waits for nothing but the queue (fast) or the spool
			// (strict); at worst, strict, for MaxWait on the batch that
			// was at the store when it stalled.
			if d := time.Duration(slowest.Load()); d > maxWait+300*time.Millisecond {
				t.Errorf("slowest Write took %s with the database locked; want about ledger.max_wait (%s) at most", d, maxWait)
			}
			lock.Rollback()
			eventually(t, "the ledger to recover", func() bool { return w.Health().OK && w.Stats().InSpool == 0 })
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			ids := requestIDs(t, s)
			if len(ids) != writers*each {
				t.Errorf("%d records stored, want %d", len(ids), writers*each)
			}
			for id, c := range ids {
				if c != 1 {
					t.Errorf("record %s stored %d times", id, c)
				}
			}
		})
	}
}

// TestWriterStrict: a strict Write returns once its record is stored, and
// concurrent Writes share commits.
func TestWriterStrict(t *testing.T) {
	s, _, spool := fileLedger(t)
	var commits atomic.Int64
	w := openWriter(t, s, ledger.WriterOptions{SpoolPath: spool, Strict: true, FlushInterval: time.Hour,
		OnCommit: func(int, time.Duration, error) { commits.Add(1) }})
	var wg sync.WaitGroup
	const writers, each = 16, 25
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("s%d-%d", g, i)
				if err := w.Write(context.Background(), record(id)); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
				recs, err := s.Records(context.Background(), ledger.RecordQuery{RequestID: id})
				if err != nil || len(recs) != 1 {
					t.Errorf("record %s right after its strict Write: %d records, %v; want it stored", id, len(recs), err)
				}
			}
		})
	}
	wg.Wait()
	if n := commits.Load(); n >= writers*each {
		t.Errorf("%d commits for %d records: strict Writes do not share commits", n, writers*each)
	}
}

// TestWriterRefuse: under Refuse, Admit refuses while the store fails, in
// a form the frontends answer as a 503, and admits again once it is back.
func TestWriterRefuse(t *testing.T) {
	s, _, spool := fileLedger(t)
	sick := &flakyStore{Store: s}
	w := openWriter(t, sick, ledger.WriterOptions{SpoolPath: spool, Refuse: true, FlushInterval: time.Millisecond,
		RetryBackoff: 10 * time.Millisecond})
	if err := w.Admit(); err != nil {
		t.Fatalf("Admit on a healthy ledger = %v", err)
	}
	sick.failures.Store(1 << 40)
	if err := w.Write(context.Background(), record("in flight")); err != nil {
		t.Fatalf("Write of a request already served = %v, want it spooled", err)
	}
	eventually(t, "the record to be spooled", func() bool { return w.Stats().Spooled == 1 })
	err := w.Admit()
	if !errors.Is(err, ledger.ErrRefused) || llm.KindOf(err) != llm.KindUnavailable {
		t.Errorf("Admit while the store fails = %v (kind %s), want ErrRefused of kind unavailable", err, llm.KindOf(err))
	}
	sick.failures.Store(0)
	eventually(t, "Admit to admit again", func() bool { return w.Admit() == nil })
	if n := requestIDs(t, s)["in flight"]; n != 1 {
		t.Errorf("the spooled record is stored %d times, want once", n)
	}
}

// TestWriterLosesLoudly: with the store failing and no spool to be had
// (its directory is gone), records are lost, and the Writer says so: the
// error of a strict Write, Stats, Health, Close, and the log, once at
// once and then in summaries, not once per record.
func TestWriterLosesLoudly(t *testing.T) {
	s, _, _ := fileLedger(t)
	sick := &flakyStore{Store: s}
	sick.failures.Store(1 << 40)
	var logs logtest.Buffer
	w := openWriter(t, sick, ledger.WriterOptions{
		SpoolPath: filepath.Join(t.TempDir(), "gone", "penny.db.spool"), Strict: true, BatchSize: 1,
		LogEvery: 50 * time.Millisecond, Logger: logs.Logger(),
	})
	ctx := context.Background()
	const n = 30
	for i := range n {
		err := w.Write(ctx, record(fmt.Sprint(i)))
		if !errors.Is(err, ledger.ErrLost) {
			t.Fatalf("strict Write with neither store nor spool = %v, want ErrLost", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h := w.Health()
	if h.OK || h.SpoolErr == "" || h.Failed != n {
		t.Errorf("Health = %+v, want failing, the spool's error, %d lost", h, n)
	}
	if err := w.Ready(); err == nil || !strings.Contains(err.Error(), "records lost") {
		t.Errorf("Ready = %v, want an error saying records are lost", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Logf("Close = %v", err) // the records were lost before Close
	}
	if st := w.Stats(); st.Failed != n || st.Written != 0 || st.Spooled != 0 {
		t.Errorf("Stats = %+v, want %d failed", st, n)
	}
	out := logs.String()
	if c := strings.Count(out, "USAGE RECORDS LOST"); c < 1 || c > n/2 {
		t.Errorf("%d lines say records were lost, for %d records; want one at once and rate-limited summaries:\n%s", c, n, out)
	}
	if !strings.Contains(out, "still not taking records") {
		t.Errorf("no summary while the store kept failing:\n%s", out)
	}
}

// TestWriterBoundsAFullQueue: when nothing drains the queue, a Write
// waits MaxWait at most, then its record is lost and counted, or, under
// Refuse, refused.
func TestWriterBoundsAFullQueue(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprint("refuse=", refuse), func(t *testing.T) {
			s, _, _ := fileLedger(t)
			g := newGatedStore(s)
			w := ledger.NewWriter(g, ledger.WriterOptions{QueueSize: 1, BatchSize: 1, MaxWait: 50 * time.Millisecond,
				Refuse: refuse, Logger: quietLogger()})
			defer w.Close(context.Background())
			defer close(g.gate) // before Close, which waits for the store
			ctx := context.Background()
			for _, id := range []string{"at the store", "batched", "queued"} {
				if err := w.Write(ctx, record(id)); err != nil {
					t.Fatal(err)
				}
				if id == "at the store" {
					<-g.entered
				}
			}
			start := time.Now()
			err := w.Write(ctx, record("one too many"))
			if d := time.Since(start); d > time.Second {
				t.Errorf("Write on a full queue took %s, want about 50ms", d)
			}
			if !errors.Is(err, ledger.ErrLost) || errors.Is(err, ledger.ErrRefused) != refuse {
				t.Errorf("Write on a full queue = %v, want ErrLost (and ErrRefused: %v)", err, refuse)
			}
			if st := w.Stats(); st.Failed != 1 {
				t.Errorf("Stats = %+v, want 1 failed", st)
			}
		})
	}
}

// TestWriterCloseGivesTheStoreALastTry: records spooled while the store
// failed are replayed at Close if the store works by then, and left in the
// spool, promptly, if it still fails.
func TestWriterCloseGivesTheStoreALastTry(t *testing.T) {
	for _, back := range []bool{true, false} {
		t.Run(fmt.Sprint("back=", back), func(t *testing.T) {
			s, _, spool := fileLedger(t)
			sick := &flakyStore{Store: s}
			// The next replay would be in an hour: only Close's last try
			// can write the records.
			w := openWriter(t, sick, ledger.WriterOptions{SpoolPath: spool, FlushInterval: time.Millisecond, RetryBackoff: time.Hour})
			sick.failures.Store(1 << 40)
			for i := range 5 {
				if err := w.Write(context.Background(), record(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "the records to be spooled", func() bool { return w.Stats().Spooled == 5 })
			if back {
				sick.failures.Store(0)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := w.Close(ctx); err != nil {
				t.Fatalf("Close = %v", err)
			}
			want, inSpool := 5, 0
			if !back {
				want, inSpool = 0, 5
			}
			if got := len(requestIDs(t, s)); got != want {
				t.Errorf("%d records stored after Close, want %d", got, want)
			}
			if got := spoolLines(t, spool); got != inSpool {
				t.Errorf("%d records left in the spool, want %d", got, inSpool)
			}
		})
	}
}

// TestWriterSpoolRemovedWhileOpen: the spool file removed under a Writer
// that still has records in it (the open file keeps them) is made again,
// with those records, at the next spooling, and every record is replayed.
func TestWriterSpoolRemovedWhileOpen(t *testing.T) {
	s, _, spool := fileLedger(t)
	sick := &flakyStore{Store: s}
	w := openWriter(t, sick, ledger.WriterOptions{SpoolPath: spool, FlushInterval: time.Millisecond, RetryBackoff: 10 * time.Millisecond})
	sick.failures.Store(1 << 40)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if err := w.Write(context.Background(), record(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "the records to be spooled", func() bool { return w.Stats().Spooled == int64(to) })
	}
	write(0, 5)
	if err := os.Remove(spool); err != nil {
		t.Fatal(err)
	}
	write(5, 8)
	if got := spoolLines(t, spool); got != 8 {
		t.Errorf("the spool made again holds %d records, want the 5 of the removed file and 3 new", got)
	}
	sick.failures.Store(0)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := requestIDs(t, s); len(got) != 8 {
		t.Errorf("stored %v, want the 8 records once each", got)
	}
}
