package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"
)

func open(t *testing.T) *sql.DB {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func set(files map[string]string) schema {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys["m/"+name] = &fstest.MapFile{Data: []byte(body)}
	}
	return schema{name: "test", fsys: fsys, dir: "m", table: "test_migrations"}
}

// applyTx applies s in a transaction of its own, committed if it succeeds.
func (s schema) applyTx(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.apply(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	v1 := set(map[string]string{"0001_a.sql": "CREATE TABLE a (x INTEGER);"})
	if err := v1.applyTx(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := v1.applyTx(ctx, db); err != nil { // idempotent
		t.Fatal(err)
	}
	v2 := set(map[string]string{"0001_a.sql": "CREATE TABLE a (x INTEGER);", "0002_b.sql": "CREATE TABLE b (y INTEGER);"})
	if err := v2.applyTx(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO b VALUES (1)"); err != nil {
		t.Errorf("0002 not applied: %v", err)
	}
	if err := v1.applyTx(ctx, db); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("older build on newer schema: %v", err)
	}
}

func TestBadSets(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"gap", map[string]string{"0001_a.sql": "SELECT 1;", "0003_c.sql": "SELECT 1;"}, "want version 2"},
		{"bad name", map[string]string{"first.sql": "SELECT 1;"}, "NNNN_name.sql"},
		{"bad sql", map[string]string{"0001_a.sql": "CREATE TABLE ("}, "0001_a.sql"},
	}
	for _, tc := range cases {
		err := set(tc.files).applyTx(context.Background(), open(t))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
