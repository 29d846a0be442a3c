package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite"
)

// TestMigrationsIdempotent opens one file three times, writing to both
// stores each time, and checks that each schema was migrated once.
func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "penny.db")
	for i := range 3 {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := sqlite.NewLedgerStore(db).Append(context.Background(), fixture()); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		ks, err := sqlite.NewKeyStore(context.Background(), db, sqlite.KeyOptions{})
		if err != nil {
			t.Fatalf("keys %d: %v", i, err)
		}
		newKey(t, ks, keys.Key{Tenant: "acme"}, time.Now())
		if err := db.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	var ledgerVersions, keyVersions, requests, apiKeys int
	var mode string
	queryRaw(t, path, `SELECT COUNT(*) FROM schema_migrations`, &ledgerVersions)
	queryRaw(t, path, `SELECT COUNT(*) FROM api_keys_migrations`, &keyVersions)
	queryRaw(t, path, `SELECT COUNT(*) FROM requests`, &requests)
	queryRaw(t, path, `SELECT COUNT(*) FROM api_keys`, &apiKeys)
	queryRaw(t, path, `PRAGMA journal_mode`, &mode)
	if ledgerVersions != 4 || keyVersions != 2 {
		t.Errorf("schema_migrations has %d rows, api_keys_migrations %d; want one per migration (4 and 2)", ledgerVersions, keyVersions)
	}
	// The same records appended again are stored once: they carry the
	// same request ids.
	if requests != len(fixture()) || apiKeys != 3 {
		t.Errorf("requests has %d rows, api_keys %d; want %d and 3", requests, apiKeys, len(fixture()))
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

// TestSchemaTooNew: a database either schema of which a newer Penny
// migrated does not open, and the error names the schema.
func TestSchemaTooNew(t *testing.T) {
	for _, tt := range []struct{ table, schema string }{
		{"schema_migrations", "ledger"},
		{"api_keys_migrations", "keys"},
	} {
		t.Run(tt.schema, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "penny.db")
			db, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			execRaw(t, path, `INSERT INTO `+tt.table+` (version, name, applied_us) VALUES (999, 'future.sql', 0)`)

			_, err = sqlite.Open(path)
			if !errors.Is(err, sqlite.ErrSchemaTooNew) {
				t.Fatalf("Open of a newer schema: err = %v, want ErrSchemaTooNew", err)
			}
			if want := "the " + tt.schema + " schema is at version 999"; !strings.Contains(err.Error(), want) {
				t.Errorf("err = %q, want it to say %q", err, want)
			}
		})
	}
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		url  string
		file string // expected database file, "" for in-memory
	}{
		{"sqlite://" + filepath.Join(dir, "abs.db"), "abs.db"},
		{"sqlite://rel.db", "rel.db"},
		{"sqlite:bare.db", "bare.db"},
		{filepath.Join(dir, "plain.db"), "plain.db"},
		{"odd?name#.db", "odd?name#.db"},
		{"sqlite::memory:", ""},
		{":memory:", ""},
		{"sqlite://:memory:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			db, err := sqlite.OpenURL(tt.url)
			if err != nil {
				t.Fatalf("OpenURL: %v", err)
			}
			defer db.Close()
			s := sqlite.NewLedgerStore(db)
			appendFixture(t, s)
			got, err := s.Summarize(context.Background(), ledger.SummaryQuery{})
			if err != nil || len(got) != 1 || got[0].Requests != 5 {
				t.Errorf("Summarize = %+v, %v; want 5 requests", got, err)
			}
			if tt.file != "" {
				if _, err := os.Stat(filepath.Join(dir, tt.file)); err != nil {
					t.Errorf("database file: %v", err)
				}
			}
		})
	}

	abs := filepath.Join(dir, "p.db")
	db, err := sqlite.OpenURL("sqlite://" + abs)
	if err != nil {
		t.Fatal(err)
	}
	if db.Path() != abs {
		t.Errorf("Path = %s, want %s", db.Path(), abs)
	}
	db.Close()

	for _, bad := range []string{"", "sqlite://", "sqlite:", "postgres://localhost/penny", "sqlite://p.db?mode=ro"} {
		if db, err := sqlite.OpenURL(bad); err == nil {
			db.Close()
			t.Errorf("OpenURL(%q) succeeded, want an error", bad)
		}
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		url, path string
	}{
		{"sqlite:///var/lib/penny.db", "/var/lib/penny.db"},
		{"sqlite://rel/penny.db", "rel/penny.db"},
		{"sqlite:bare.db", "bare.db"},
		{"/plain/penny.db", "/plain/penny.db"},
		{"penny.db", "penny.db"},
		{"odd?name#.db", "odd?name#.db"},
		{"sqlite::memory:", sqlite.MemoryPath},
		{"sqlite://:memory:", sqlite.MemoryPath},
		{":memory:", sqlite.MemoryPath},
	}
	for _, tt := range tests {
		got, err := sqlite.ParsePath(tt.url)
		if err != nil || got != tt.path {
			t.Errorf("ParsePath(%q) = %q, %v; want %q", tt.url, got, err, tt.path)
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct {
		url  string
		kind llm.ErrorKind
		want string // in the message
		not  string // must not be in the message
	}{
		{"", llm.KindValidation, "names no database", ""},
		{"sqlite://", llm.KindValidation, "names no database", ""},
		{"sqlite:", llm.KindValidation, "names no database", ""},
		{"sqlite://p.db?mode=ro", llm.KindValidation, "query parameters are not supported", ""},
		{"mysql://localhost/penny", llm.KindValidation, "is not a sqlite:// URL or a file path", ""},
		{"postgres://localhost/penny", llm.KindUnsupported, "PostgreSQL ledgers are not supported yet; use sqlite://", ""},
		{"postgresql://penny:s3cret@db.example.com:5432/penny", llm.KindUnsupported,
			"postgresql://penny:xxxxx@db.example.com:5432/penny", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := sqlite.ParsePath(tt.url)
			if err == nil {
				t.Fatal("no error")
			}
			if k := llm.KindOf(err); k != tt.kind {
				t.Errorf("kind = %s, want %s", k, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("err = %q leaks %q", err, tt.not)
			}
		})
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
	}{
		{filepath.Join(dir, "no", "such", "penny.db"), "directory " + filepath.Join(dir, "no", "such") + " does not exist"},
		{filepath.Join(file, "penny.db"), file + " is not a directory"},
	}
	for _, tt := range tests {
		db, err := sqlite.Open(tt.path)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", tt.path)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q): err = %q, want it to contain %q", tt.path, err, tt.want)
		}
		if fi, err := os.Stat(filepath.Dir(tt.path)); err == nil && fi.IsDir() {
			t.Errorf("Open(%q) created the directory", tt.path)
		}
	}
}

// execRaw and queryRaw reach the database file behind the store's back.
func execRaw(t *testing.T, path, query string) {
	t.Helper()
	db := rawDB(t, path)
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func queryRaw(t *testing.T, path, query string, dest any) {
	t.Helper()
	db := rawDB(t, path)
	if err := db.QueryRow(query).Scan(dest); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
