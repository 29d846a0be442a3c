package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrSchemaTooNew is wrapped by Open's error when one of the database's
// schemas is newer than this build knows, i.e. a newer Penny migrated it.
var ErrSchemaTooNew = errors.New("database schema is newer than this Penny supports")

// migrationFS holds the schemas, one directory each and one numbered file
// per version: migrations/SCHEMA/NNNN_name.sql, applied in order from 1
// with no gaps.
//
//go:embed migrations/*/*.sql
var migrationFS embed.FS

// schemas are the database's schemas, migrated in this order by Open.
//
// Each is versioned on its own, in its own table, as it was when the ledger
// and the keys were separate packages that opened the file independently:
// databases they made carry exactly this bookkeeping, and open unchanged.
// A later store adds its schema here, with its own directory and table.
var schemas = []schema{
	{name: "ledger", fsys: migrationFS, dir: "migrations/ledger", table: "schema_migrations"},
	{name: "keys", fsys: migrationFS, dir: "migrations/keys", table: "api_keys_migrations"},
	{name: "responses", fsys: migrationFS, dir: "migrations/responses", table: "stored_responses_migrations"},
	{name: "batch", fsys: migrationFS, dir: "migrations/batch", table: "batch_migrations"},
}

// migrate brings every schema to its latest version in one transaction, so
// that concurrent opens (the writer connection begins IMMEDIATE, which
// serialises them) and failures leave each schema at a version, never
// between two, and never one schema migrated without the others.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	for _, s := range schemas {
		if err := s.apply(ctx, tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// schema is one schema's migrations: files dir/NNNN_name.sql in fsys,
// applied in order from 1 with no gaps, versions recorded in table.
type schema struct {
	// name names the schema in errors, e.g. "ledger" or "keys".
	name  string
	fsys  fs.FS
	dir   string
	table string
}

type migration struct {
	version int
	name    string
	sql     string
}

// load returns the migrations sorted by version. It fails on a malformed
// name, a duplicate or a gap, so that a bad file is caught by the first
// test that opens a database.
func (s schema) load() ([]migration, error) {
	entries, err := fs.ReadDir(s.fsys, s.dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(s.fsys, s.dir+"/"+name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// apply brings the schema to its latest version within tx. It fails with
// an error wrapping ErrSchemaTooNew when the recorded version is newer than
// the newest migration.
func (s schema) apply(ctx context.Context, tx *sql.Tx) error {
	wrap := func(err error) error { return fmt.Errorf("migrate %s: %w", s.name, err) }
	ms, err := s.load()
	if err != nil {
		return wrap(err)
	}
	latest := len(ms)
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.table+` (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_us INTEGER NOT NULL
	)`); err != nil {
		return wrap(err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+s.table).Scan(&current); err != nil {
		return wrap(err)
	}
	if current > latest {
		return fmt.Errorf("%w: the %s schema is at version %d, this Penny knows up to %d; upgrade Penny",
			ErrSchemaTooNew, s.name, current, latest)
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return wrap(fmt.Errorf("%s: %w", m.name, err))
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO `+s.table+` (version, name, applied_us) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return wrap(fmt.Errorf("%s: %w", m.name, err))
		}
	}
	return nil
}
