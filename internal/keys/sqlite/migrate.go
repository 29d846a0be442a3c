package sqlite

import (
	"context"
	"database/sql"
	"embed"

	"github.com/penny-gateway/penny/internal/sqlitedb"
)

// migrationFS holds the keys schema, one numbered file per version:
// migrations/NNNN_name.sql, applied in order from 1 with no gaps.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrSchemaTooNew is wrapped by Open's error when the database's keys
// schema is newer than this build knows, i.e. a newer Penny migrated it.
var ErrSchemaTooNew = sqlitedb.ErrTooNew

// schema records its versions in api_keys_migrations, not the ledger's
// schema_migrations: the two schemas share a database file but are
// versioned independently, so either may be opened first and neither
// mistakes the other's versions for its own.
var schema = sqlitedb.Set{Name: "keys", FS: migrationFS, Dir: "migrations", Table: "api_keys_migrations"}

func migrate(ctx context.Context, db *sql.DB) error { return schema.Apply(ctx, db) }
