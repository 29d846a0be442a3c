package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

var ctx = context.Background()

// mustOpenKeys opens the database at path and returns it with its key
// store. The database is closed when the test ends, unless the test has
// closed it.
func mustOpenKeys(tb testing.TB, path string, o sqlite.KeyOptions) (*sqlite.DB, *sqlite.KeyStore) {
	tb.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	s, err := sqlite.NewKeyStore(ctx, db, o)
	if err != nil {
		tb.Fatalf("key store: %v", err)
	}
	return db, s
}

func newKey(tb testing.TB, s keys.Store, k keys.Key, now time.Time) (keys.Record, keys.Secret) {
	tb.Helper()
	rec, sec, err := keys.New(k, now)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Create(ctx, rec); err != nil {
		tb.Fatal(err)
	}
	return rec, sec
}

func TestKeyStore(t *testing.T) {
	s, err := sqlite.NewKeyStore(ctx, sqlitetest.MustOpen(t), sqlite.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	a, secA := newKey(t, s, keys.Key{Name: "chat", Tenant: "acme", Tags: map[string]string{"team": "support", "app": "chat"},
		Limits: keys.Limits{BudgetMonth: 500 * llm.Dollar, RPM: 600, TPM: 200000}}, t0)
	b, _ := newKey(t, s, keys.Key{Tenant: "globex", Role: keys.RoleAdmin}, t0.Add(time.Minute))
	if a.Role != keys.RoleTenant {
		t.Errorf("a key made without a role has role %q, want tenant", a.Role)
	}
	if got, err := s.ByID(ctx, b.ID); err != nil || got.Role != keys.RoleAdmin || !got.Admin() {
		t.Errorf("admin key read back as %+v, %v", got, err)
	}

	got, err := s.ByToken(ctx, keys.HashToken(secA.Token))
	if err != nil {
		t.Fatal(err)
	}
	wantA := a
	wantA.SigningSecret = "" // the bearer path does not read the secret
	if !reflect.DeepEqual(*got, wantA) {
		t.Errorf("ByToken = %+v\nwant      %+v", *got, wantA)
	}
	if got, err = s.ByID(ctx, a.ID); err != nil || !reflect.DeepEqual(*got, a) {
		t.Errorf("ByID = %+v, %v\nwant  %+v", got, err, a)
	}
	if _, err := s.ByToken(ctx, keys.HashToken("pk-nope")); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("ByToken(unknown) err = %v", err)
	}
	if _, err := s.ByID(ctx, "PNYAAAAAAAAAAAAAAAAA"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("ByID(unknown) err = %v", err)
	}
	if err := s.Create(ctx, a); err == nil {
		t.Error("creating a key twice succeeded")
	}

	// Last used only moves forward.
	if err := s.MarkUsed(ctx, a.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.MarkUsed(ctx, a.ID, t0.Add(time.Minute))
	if got, _ := s.ByID(ctx, a.ID); !got.LastUsed.Equal(t0.Add(time.Hour)) {
		t.Errorf("LastUsed = %v", got.LastUsed)
	}

	// Revoke is idempotent and keeps the first time.
	if err := s.Revoke(ctx, b.ID, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, b.ID, t0.Add(3*time.Hour)); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	if err := s.Revoke(ctx, "PNYAAAAAAAAAAAAAAAAA", t0); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}

	ids := func(f keys.Filter) string {
		ks, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range ks {
			out = append(out, k.ID)
			if k.ID == b.ID && !k.Revoked.Equal(t0.Add(2*time.Hour)) {
				t.Errorf("revoked at %v, want the first revocation", k.Revoked)
			}
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		f    keys.Filter
		want string
	}{
		{keys.Filter{}, a.ID + "," + b.ID},
		{keys.Filter{Tenant: "globex"}, b.ID},
		{keys.Filter{Active: true}, a.ID},
		{keys.Filter{Tenant: "nobody"}, ""},
	} {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("List(%+v) = %s, want %s", tc.f, got, tc.want)
		}
	}
}

func TestSealed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "penny.db")
	sealer, _ := keys.NewSealer([]byte("server secret of at least 16 bytes"))

	plainDB, plainStore := mustOpenKeys(t, path, sqlite.KeyOptions{})
	plain, _ := newKey(t, plainStore, keys.Key{Tenant: "acme"}, time.Now())
	plainDB.Close()

	sealedDB, s := mustOpenKeys(t, path, sqlite.KeyOptions{Sealer: sealer})
	sealed, sec := newKey(t, s, keys.Key{Tenant: "acme"}, time.Now())
	if got, err := s.ByID(ctx, sealed.ID); err != nil || got.SigningSecret != sec.SecretAccessKey {
		t.Errorf("ByID(sealed) = %+v, %v", got, err)
	}
	if got, err := s.ByID(ctx, plain.ID); err != nil || got.SigningSecret != plain.SigningSecret {
		t.Errorf("a plain key is unusable with a sealer: %+v, %v", got, err)
	}
	if n, err := s.SealedKeys(ctx); n != 1 || err != nil {
		t.Errorf("SealedKeys = %d, %v", n, err)
	}
	sealedDB.Close()

	// Nothing in the file gives the sealed secret away.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := db.QueryRow(`SELECT secret FROM api_keys WHERE id = ?`, sealed.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if strings.Contains(string(raw), sec.SecretAccessKey) {
		t.Error("the database holds the sealed secret in plain text")
	}

	// Without the server secret: bearer tokens work, SigV4 secrets do not open.
	noSealerDB, noSealer := mustOpenKeys(t, path, sqlite.KeyOptions{})
	if _, err := noSealer.ByToken(ctx, keys.HashToken(sec.Token)); err != nil {
		t.Errorf("ByToken without sealer: %v", err)
	}
	if _, err := noSealer.ByID(ctx, sealed.ID); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("ByID without sealer err = %v, want ErrSealed", err)
	}
	// A wrong server secret is refused when the store is made.
	wrong, _ := keys.NewSealer([]byte("a different server secret......"))
	if _, err := sqlite.NewKeyStore(ctx, noSealerDB, sqlite.KeyOptions{Sealer: wrong}); err == nil || !strings.Contains(err.Error(), keys.SecretEnv) {
		t.Errorf("key store with a wrong server secret: err = %v", err)
	}
}

// TestSharesLedgerDB writes a key and a ledger record through one DB,
// reopens the file and finds both.
func TestSharesLedgerDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "penny.db")
	db, ks := mustOpenKeys(t, path, sqlite.KeyOptions{})
	rec, sec := newKey(t, ks, keys.Key{Tenant: "acme"}, time.Now())
	if err := sqlite.NewLedgerStore(db).Append(ctx, []ledger.Record{{Time: time.Now().UTC(), RequestID: "r1", Tenant: "acme", KeyID: rec.ID, Status: ledger.StatusOK}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, ks = mustOpenKeys(t, path, sqlite.KeyOptions{})
	if _, err := ks.ByToken(ctx, keys.HashToken(sec.Token)); err != nil {
		t.Errorf("key lost: %v", err)
	}
	recs, err := sqlite.NewLedgerStore(db).Records(ctx, ledger.RecordQuery{})
	if err != nil || len(recs) != 1 || recs[0].KeyID != rec.ID {
		t.Errorf("ledger records = %+v, %v", recs, err)
	}
}

// TestConcurrentProcesses opens one file twice, as `penny keys` and `penny
// serve` would, and uses the key stores of both and the ledger of one at
// once.
func TestConcurrentProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "penny.db")
	db1, s1 := mustOpenKeys(t, path, sqlite.KeyOptions{})
	_, s2 := mustOpenKeys(t, path, sqlite.KeyOptions{})
	ls := sqlite.NewLedgerStore(db1)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 20 {
		s := []*sqlite.KeyStore{s1, s2}[i%2]
		wg.Go(func() {
			rec, sec, _ := keys.New(keys.Key{Tenant: "acme"}, time.Now())
			if err := s.Create(ctx, rec); err != nil {
				errs <- err
				return
			}
			if _, err := s1.ByToken(ctx, keys.HashToken(sec.Token)); err != nil {
				errs <- err
			}
			if err := s2.MarkUsed(ctx, rec.ID, time.Now()); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			if err := ls.Append(ctx, []ledger.Record{{Time: time.Now().UTC(), RequestID: fmt.Sprint(i), Status: ledger.StatusOK}}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ks, err := s2.List(ctx, keys.Filter{}); err != nil || len(ks) != 20 {
		t.Errorf("List = %d keys, %v", len(ks), err)
	}
}

// TestInMemory puts keys and ledger records in one in-memory database,
// which lives on a single connection.
func TestInMemory(t *testing.T) {
	db, ks := mustOpenKeys(t, sqlite.MemoryPath, sqlite.KeyOptions{})
	rec, sec := newKey(t, ks, keys.Key{Tenant: "acme"}, time.Now())
	if ks, _ := ks.List(ctx, keys.Filter{}); len(ks) != 1 {
		t.Errorf("memory store lists %d keys", len(ks))
	}
	ls := sqlite.NewLedgerStore(db)
	if err := ls.Append(ctx, []ledger.Record{{Time: time.Now().UTC(), RequestID: "r1", KeyID: rec.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.ByToken(ctx, keys.HashToken(sec.Token)); err != nil {
		t.Errorf("ByToken: %v", err)
	}
	if recs, err := ls.Records(ctx, ledger.RecordQuery{}); err != nil || len(recs) != 1 {
		t.Errorf("Records = %+v, %v", recs, err)
	}
}
