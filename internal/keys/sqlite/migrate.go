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

// migrationFS holds the keys schema, one numbered file per version:
// migrations/NNNN_name.sql, applied in order from 1 with no gaps.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationsTable records the keys schema's versions. It is not the
// ledger's schema_migrations: the two schemas share a database file but
// are versioned independently, so either may be opened first and neither
// mistakes the other's versions for its own.
const migrationsTable = "api_keys_migrations"

// ErrSchemaTooNew is wrapped by Open's error when the database's keys
// schema is newer than this build knows, i.e. a newer Penny migrated it.
var ErrSchemaTooNew = errors.New("keys schema is newer than this Penny supports")

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations sorted by version. It fails on
// a malformed name, a duplicate or a gap.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
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
		b, err := migrationFS.ReadFile("migrations/" + name)
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

// migrate brings the keys schema to the latest version in one IMMEDIATE
// transaction, so that concurrent opens (of this store or of the ledger on
// the same file) serialize and a failure leaves the schema at a version.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate keys: %w", err)
	}
	latest := len(ms)

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate keys: %w", err)
	}
	defer tx.Rollback()

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+migrationsTable+` (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_us INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate keys: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+migrationsTable).Scan(&current); err != nil {
		return fmt.Errorf("migrate keys: %w", err)
	}
	if current > latest {
		return fmt.Errorf("%w: database is at keys version %d, this Penny knows up to %d; upgrade Penny",
			ErrSchemaTooNew, current, latest)
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate keys: %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO `+migrationsTable+` (version, name, applied_us) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migrate keys: %s: %w", m.name, err)
		}
	}
	return tx.Commit()
}
