// Package sqlitetest opens real SQLite databases for tests.
package sqlitetest

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/penny-gateway/penny/internal/sqlite"
)

// MustOpen opens a fresh file database in a temporary directory, so tests
// exercise WAL and the reader pool as production does, and closes it when
// the test ends. It fails the test if the database cannot be opened.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "penny.db"))
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close database: %v", err)
		}
	})
	return db
}

// MustOpenLedger returns the ledger store of a database MustOpen opened.
func MustOpenLedger(tb testing.TB) *sqlite.LedgerStore {
	tb.Helper()
	return sqlite.NewLedgerStore(MustOpen(tb))
}

// HoldWriteLock takes the write lock of the database file at path from a
// connection of its own, as another process can, until the returned
// transaction ends (Rollback) or the test does: writers of the database
// then wait for SQLite's busy timeout.
func HoldWriteLock(tb testing.TB, path string) *sql.Tx {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(5000)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	tx, err := db.Begin()
	if err != nil {
		tb.Fatalf("take the write lock of %s: %v", path, err)
	}
	tb.Cleanup(func() { tx.Rollback() })
	return tx
}
