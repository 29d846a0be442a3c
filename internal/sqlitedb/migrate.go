// Package sqlitedb is the SQLite plumbing the ledger and the key store
// share: numbered, embedded SQL migrations (each store has its own set and
// version table in the one database file) and opening files with clear
// errors.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrTooNew is wrapped by Apply's error when the database's schema is newer
// than this build knows, i.e. a newer Penny migrated it.
var ErrTooNew = errors.New("database schema is newer than this Penny supports")

// Set is one schema's migrations: files Dir/NNNN_name.sql in FS, applied in
// order from 1 with no gaps, versions recorded in Table.
type Set struct {
	// Name names the schema in errors, e.g. "ledger" or "keys".
	Name  string
	FS    fs.FS
	Dir   string
	Table string
}

type migration struct {
	version int
	name    string
	sql     string
}

// load returns the migrations sorted by version. It fails on a malformed
// name, a duplicate or a gap, so that a bad file is caught by the first
// test that opens a database.
func (s Set) load() ([]migration, error) {
	entries, err := fs.ReadDir(s.FS, s.Dir)
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
		b, err := fs.ReadFile(s.FS, s.Dir+"/"+name)
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

// Apply brings the schema to the latest version in one transaction, so
// that concurrent opens (the caller's connection should BEGIN IMMEDIATE,
// which serialises them) and failures leave the schema at a version,
// never between two.
func (s Set) Apply(ctx context.Context, db *sql.DB) error {
	wrap := func(err error) error { return fmt.Errorf("migrate %s: %w", s.Name, err) }
	ms, err := s.load()
	if err != nil {
		return wrap(err)
	}
	latest := len(ms)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.Table+` (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_us INTEGER NOT NULL
	)`); err != nil {
		return wrap(err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+s.Table).Scan(&current); err != nil {
		return wrap(err)
	}
	if current > latest {
		return fmt.Errorf("%w: the %s schema is at version %d, this Penny knows up to %d; upgrade Penny",
			ErrTooNew, s.Name, current, latest)
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return wrap(fmt.Errorf("%s: %w", m.name, err))
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO `+s.Table+` (version, name, applied_us) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return wrap(fmt.Errorf("%s: %w", m.name, err))
		}
	}
	return tx.Commit()
}
