package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

// TestAppendStoresARequestOnce appends records whose request ids are
// already stored, in a later batch and within one batch, as a replay of
// the ledger's spool does, and checks each request is stored once, with
// its first tags, and that records without a request id are all kept.
func TestAppendStoresARequestOnce(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	ctx := context.Background()
	at := day1.Add(time.Hour)
	first := []ledger.Record{
		{Time: at, RequestID: "a", Cost: 1, Tags: map[string]string{"try": "1"}},
		{Time: at, RequestID: ""},
	}
	if err := s.Append(ctx, first); err != nil {
		t.Fatal(err)
	}
	again := []ledger.Record{
		{Time: at, RequestID: "a", Cost: 1, Tags: map[string]string{"try": "2"}},
		{Time: at, RequestID: "b", Cost: 2},
		{Time: at, RequestID: "b", Cost: 2},
		{Time: at, RequestID: ""},
	}
	if err := s.Append(ctx, again); err != nil {
		t.Fatalf("Append of stored request ids: %v", err)
	}
	if again[0].ID != first[0].ID || again[2].ID != again[1].ID || again[1].ID == 0 {
		t.Errorf("IDs %d, %d, %d; want the stored record's id (%d) for a, one id for both b", again[0].ID, again[1].ID, again[2].ID, first[0].ID)
	}
	got, err := s.Records(ctx, ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, r := range got {
		n[r.RequestID]++
		if r.RequestID == "a" && r.Tags["try"] != "1" {
			t.Errorf("a has tags %v, want the first append's", r.Tags)
		}
	}
	if n["a"] != 1 || n["b"] != 1 || n[""] != 2 {
		t.Errorf("stored %v, want a and b once, two records without a request id", n)
	}
	sum, err := s.Summarize(ctx, ledger.SummaryQuery{})
	if err != nil || len(sum) != 1 || sum[0].Cost != 3 {
		t.Errorf("Summarize = %+v, %v; want a cost of 3 (a and b once)", sum, err)
	}
}

// TestAppendNoticesTheFileGone removes the directory of an open database:
// SQLite goes on committing to the nameless file, so Append must say the
// records are not kept.
func TestAppendNoticesTheFileGone(t *testing.T) {
	for _, tt := range []struct {
		name string
		gone func(t *testing.T, path string)
	}{
		{"directory removed", func(t *testing.T, path string) {
			if err := os.RemoveAll(filepath.Dir(path)); err != nil {
				t.Fatal(err)
			}
		}},
		{"file replaced by a directory", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", "penny.db")
			if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			db, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s := sqlite.NewLedgerStore(db)
			ctx := context.Background()
			if err := s.Append(ctx, []ledger.Record{{Time: day1, RequestID: "before"}}); err != nil {
				t.Fatal(err)
			}
			tt.gone(t, path)
			err = s.Append(ctx, []ledger.Record{{Time: day1, RequestID: "after"}})
			if !errors.Is(err, sqlite.ErrFileGone) {
				t.Errorf("Append after the file went = %v, want ErrFileGone", err)
			}
		})
	}
}

// TestMigrationMakesRequestIDsUnique opens a database of schema version 3
// holding two records of one request id (which Penny never wrote, but a
// unique index cannot be built over) and checks the migration keeps both.
func TestMigrationMakesRequestIDsUnique(t *testing.T) {
	path := filepath.Join(t.TempDir(), "penny.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Back to version 3, as an older Penny left it, with a duplicate.
	execRaw(t, path, `DROP INDEX requests_request_id;
		CREATE INDEX requests_request_id ON requests (request_id);
		DELETE FROM schema_migrations WHERE version = 4;
		INSERT INTO requests (time_us, request_id, cost_nano) VALUES (1, 'dup', 1), (2, 'dup', 2), (3, '', 4), (4, '', 8)`)

	db, err = sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open migrating duplicates: %v", err)
	}
	defer db.Close()
	recs, err := sqlite.NewLedgerStore(db).Records(context.Background(), ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]ledger.Record{}
	for _, r := range recs {
		ids[r.RequestID] = r
	}
	if len(recs) != 4 || ids["dup"].Cost != 1 || ids["dup#2"].Cost != 2 {
		t.Errorf("after the migration: %+v; want all four records, the second dup as dup#2", recs)
	}
}
