package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite"
)

// What testdata/old/*.db hold (see testdata/old/README.md).
const (
	oldPlainID, oldPlainToken, oldPlainSecret    = "PNYOLDPLAINKEY222222", "pk-old-plain-token", "old-plain-secret-access-key"
	oldSealedID, oldSealedToken, oldSealedSecret = "PNYOLDSEALEDKEY33333", "pk-old-sealed-token", "old-sealed-secret-access-key"
	oldServerSecret                              = "old fixture server secret"
)

// TestOldDatabases opens databases written by the packages this one
// replaced, which versioned the ledger and the keys schemas separately and
// may have left either one out, and checks that Open migrates what is
// missing, keeps what is there, and that both stores work on them.
func TestOldDatabases(t *testing.T) {
	sealer, err := keys.NewSealer([]byte(oldServerSecret))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file         string
		ledger, keys bool // which schemas the old packages had written
	}{
		{"ledger.db", true, false},
		{"keys.db", false, true},
		{"both.db", true, true},
	} {
		t.Run(tt.file, func(t *testing.T) {
			path := copyFixture(t, filepath.Join("testdata", "old", tt.file))
			// The fixture is what the test says it is.
			if got := hasTable(t, path, "schema_migrations"); got != tt.ledger {
				t.Fatalf("fixture has schema_migrations: %v, want %v", got, tt.ledger)
			}
			if got := hasTable(t, path, "api_keys_migrations"); got != tt.keys {
				t.Fatalf("fixture has api_keys_migrations: %v, want %v", got, tt.keys)
			}

			db, err := sqlite.Open(path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer db.Close()
			ls := sqlite.NewLedgerStore(db)
			ks, err := sqlite.NewKeyStore(ctx, db, sqlite.KeyOptions{Sealer: sealer})
			if err != nil {
				t.Fatalf("NewKeyStore: %v", err)
			}

			// The old records are there, tags and all.
			recs, err := ls.Records(ctx, ledger.RecordQuery{})
			if err != nil {
				t.Fatal(err)
			}
			wantRecs := 0
			if tt.ledger {
				wantRecs = 3
				if len(recs) != 3 || recs[2].RequestID != "old-1" || recs[1].Tags["env"] != "prod" || recs[0].ErrorKind != string(llm.KindThrottled) {
					t.Errorf("Records = %+v", recs)
				}
				sums, err := ls.Summarize(ctx, ledger.SummaryQuery{By: ledger.ByTag})
				if err != nil || len(sums) != 4 {
					t.Errorf("Summarize by tag = %+v, %v; want groups team=ads, team=search, env=prod and none", sums, err)
				}
			} else if len(recs) != 0 {
				t.Errorf("Records = %+v, want none", recs)
			}

			// The old keys are there, both secret forms open.
			list, err := ks.List(ctx, keys.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.keys {
				if len(list) != 2 {
					t.Errorf("List = %+v, want 2 keys", list)
				}
				for _, k := range list {
					if k.Role != keys.RoleTenant {
						t.Errorf("old key %s has role %q; keys made before roles are tenant keys", k.ID, k.Role)
					}
				}
				if r, err := ks.ByToken(ctx, keys.HashToken(oldPlainToken)); err != nil || r.ID != oldPlainID || r.Limits.BudgetMonth != 5*llm.Dollar {
					t.Errorf("ByToken(plain) = %+v, %v", r, err)
				}
				for id, secret := range map[string]string{oldPlainID: oldPlainSecret, oldSealedID: oldSealedSecret} {
					if r, err := ks.ByID(ctx, id); err != nil || r.SigningSecret != secret {
						t.Errorf("ByID(%s) = %+v, %v; want secret %q", id, r, err, secret)
					}
				}
				if _, err := ks.ByToken(ctx, keys.HashToken(oldSealedToken)); err != nil {
					t.Errorf("ByToken(sealed): %v", err)
				}
				wrong, _ := keys.NewSealer([]byte("not the fixture's server secret"))
				if _, err := sqlite.NewKeyStore(ctx, db, sqlite.KeyOptions{Sealer: wrong}); err == nil {
					t.Error("a wrong server secret opened the old sealed keys")
				}
			} else if len(list) != 0 {
				t.Errorf("List = %+v, want none", list)
			}

			// Both stores take new data.
			newKey(t, ks, keys.Key{Tenant: "acme"}, time.Now())
			if err := ls.Append(ctx, fixture()); err != nil {
				t.Fatalf("Append: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			// Each schema is recorded once per migration, up to the
			// latest, and the file opens again.
			for table, latest := range map[string]int{"schema_migrations": 4, "api_keys_migrations": 2} {
				var n, version int
				queryRaw(t, path, `SELECT COUNT(*) FROM `+table, &n)
				queryRaw(t, path, `SELECT MAX(version) FROM `+table, &version)
				if n != latest || version != latest {
					t.Errorf("%s: %d rows, version %d; want %d rows, version %d", table, n, version, latest, latest)
				}
			}
			db, err = sqlite.Open(path)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer db.Close()
			recs, err = sqlite.NewLedgerStore(db).Records(ctx, ledger.RecordQuery{})
			if err != nil || len(recs) != wantRecs+len(fixture()) {
				t.Errorf("after reopening: %d records, %v; want %d", len(recs), err, wantRecs+len(fixture()))
			}
		})
	}
}

// copyFixture copies a database file to a temporary directory, so that
// opening it leaves testdata as it is.
func copyFixture(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "penny.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func hasTable(t *testing.T, path, table string) bool {
	t.Helper()
	var n int
	queryRaw(t, path, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = '`+table+`'`, &n)
	return n == 1
}
