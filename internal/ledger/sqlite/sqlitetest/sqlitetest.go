// Package sqlitetest opens real SQLite ledger stores for tests.
package sqlitetest

import (
	"path/filepath"
	"testing"

	"github.com/penny-gateway/penny/internal/ledger/sqlite"
)

// MustOpen opens a fresh file database in a temporary directory, so tests
// exercise WAL and the reader pool as production does, and closes it when
// the test ends. It fails the test if the database cannot be opened.
func MustOpen(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "penny.db"))
	if err != nil {
		tb.Fatalf("open ledger: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close ledger: %v", err)
		}
	})
	return s
}
