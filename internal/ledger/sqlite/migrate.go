package sqlite

import (
	"context"
	"database/sql"
	"embed"

	"github.com/penny-gateway/penny/internal/sqlitedb"
)

// migrationFS holds the ledger schema, one numbered file per version:
// migrations/NNNN_name.sql, applied in order from 1 with no gaps.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrSchemaTooNew is wrapped by Open's error when the database's schema is
// newer than this build knows, i.e. a newer Penny migrated it.
var ErrSchemaTooNew = sqlitedb.ErrTooNew

var schema = sqlitedb.Set{Name: "ledger", FS: migrationFS, Dir: "migrations", Table: "schema_migrations"}

func migrate(ctx context.Context, db *sql.DB) error { return schema.Apply(ctx, db) }
