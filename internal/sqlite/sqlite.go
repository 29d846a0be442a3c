// Package sqlite keeps Penny's stores in one SQLite database, on the pure-Go
// driver modernc.org/sqlite: a DB is the database, opened once per process,
// and LedgerStore (a ledger.Store), KeyStore (a keys.Store),
// ResponseStore (a responses.Store) and BatchStore (a batch.Store) are
// stores over it. The interfaces they implement live in the domain packages.
//
// A file database runs in WAL mode with synchronous=NORMAL (a commit
// survives the process being killed, not the machine losing power) or, with
// Options.SyncFull, synchronous=FULL (it survives both): one connection does
// every write, in BEGIN IMMEDIATE transactions, while a pool of read-only
// connections serves queries without blocking it. Other processes (e.g.
// `penny report` or `penny keys` next to `penny serve`) may use the same
// file at the same time.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers driver "sqlite"

	"github.com/penny-gateway/penny/internal/llm"
)

// MemoryPath is the path of a private in-memory database, for tests. It
// lives on one connection and vanishes on Close.
const MemoryPath = ":memory:"

// busyTimeout is how long a statement waits for another connection's lock
// (another process writing, a checkpoint) before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// DB is a SQLite database holding every store's tables. It is safe for
// concurrent use; the stores made from it share its connections.
type DB struct {
	path string
	wdb  *sql.DB // exactly one connection: all writes
	rdb  *sql.DB // read-only pool; wdb itself for an in-memory database
	// file is the database file as opened (nil in memory), to notice when
	// it is removed or replaced under the open connections.
	file os.FileInfo
}

// Options adjust how a database is opened.
type Options struct {
	// SyncFull commits with synchronous=FULL: each commit is on disk
	// before it returns, so it survives a power loss or an OS crash too,
	// at the cost of an fsync per transaction. The default, NORMAL, is
	// durable against the process being killed.
	SyncFull bool
}

// Open opens, creating if needed, the SQLite database at path (MemoryPath
// for an in-memory one) and migrates every schema (the ledger's, the
// keys' and the stored responses') to its latest version. It fails with an error wrapping
// ErrSchemaTooNew when a newer Penny migrated one of them.
func Open(path string) (*DB, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, o Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if path != MemoryPath {
		if err := checkDir(path); err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}
	s := &DB{path: path}
	ctx := context.Background()

	if path == MemoryPath {
		db, err := sql.Open("sqlite", ":memory:?_pragma=foreign_keys(1)")
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		// Every connection to ":memory:" is a database of its own: keep
		// exactly one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.wdb, s.rdb = db, db
	} else {
		common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeout.Milliseconds())
		sync := "NORMAL"
		if o.SyncFull {
			sync = "FULL"
		}
		w, err := sql.Open("sqlite", fileURI(path)+"?"+common+
			"&_pragma=journal_mode(WAL)&_pragma=synchronous("+sync+")&_pragma=journal_size_limit(67108864)"+
			"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		s.wdb = w
		// The writer connects first, so the file is in WAL mode before any
		// reader opens it.
		if err := w.PingContext(ctx); err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		r, err := sql.Open("sqlite", fileURI(path)+"?"+common+"&_pragma=query_only(1)")
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		n := max(4, runtime.GOMAXPROCS(0))
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		s.rdb = r
		if s.file, err = os.Stat(path); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}

	if err := migrate(ctx, s.wdb); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// OpenURL opens the database a storage URL names (see ParsePath).
func OpenURL(url string) (*DB, error) { return OpenURLWith(url, Options{}) }

// OpenURLWith is OpenURL with options.
func OpenURLWith(url string, o Options) (*DB, error) {
	path, err := ParsePath(url)
	if err != nil {
		return nil, err
	}
	return OpenWith(path, o)
}

// ParsePath returns the path of the database a storage URL names, without
// opening it:
//
//	sqlite:///abs/path.db   absolute path
//	sqlite://rel/path.db    path relative to the working directory
//	sqlite:path.db          either
//	sqlite::memory:         in-memory (MemoryPath), also ":memory:" and "sqlite://:memory:"
//	path.db                 a plain path
//
// A postgres:// or postgresql:// URL is an error of kind
// llm.KindUnsupported; other schemes, query parameters and URLs naming no
// database are errors of kind llm.KindValidation.
func ParsePath(url string) (string, error) {
	path := url
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path = url[len("sqlite://"):]
	case strings.HasPrefix(url, "sqlite:"):
		path = url[len("sqlite:"):]
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return "", llm.Errorf(llm.KindUnsupported,
			"sqlite: %s: PostgreSQL ledgers are not supported yet; use sqlite://PATH or a file path", redact(url))
	case strings.Contains(url, "://"):
		return "", llm.Errorf(llm.KindValidation, "sqlite: %q is not a sqlite:// URL or a file path", redact(url))
	}
	if path == "" {
		return "", llm.Errorf(llm.KindValidation, "sqlite: %q names no database", url)
	}
	if path != url && strings.ContainsAny(path, "?#") {
		return "", llm.Errorf(llm.KindValidation, "sqlite: %q: query parameters are not supported", url)
	}
	return path, nil
}

// redact hides the password of a URL with user information, so that error
// messages do not print database credentials.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	host, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(host, "@")
	if at < 0 {
		return url
	}
	user, _, hasPassword := strings.Cut(host[:at], ":")
	if !hasPassword {
		return url
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

// Path returns the path the database was opened with.
func (db *DB) Path() string { return db.path }

// Close closes the database. It must not be called while it or a store
// made from it is in use.
func (db *DB) Close() error {
	// Let SQLite refresh the query planner's statistics if it thinks they
	// are stale; cheap, and best effort.
	_, _ = db.wdb.Exec("PRAGMA optimize")
	var err error
	if db.rdb != nil && db.rdb != db.wdb {
		err = db.rdb.Close()
	}
	return errors.Join(err, db.wdb.Close())
}
