package sqlite_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/responses"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

func stored(id, tenant string, created time.Time, ttl time.Duration) *responses.Stored {
	return &responses.Stored{
		ID: id, Tenant: tenant, Created: created, Expires: created.Add(ttl),
		Response: json.RawMessage(`{"id":"` + id + `","object":"response"}`),
		Input:    []json.RawMessage{json.RawMessage(`{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}`)},
		Output:   []json.RawMessage{json.RawMessage(`{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hello"}]}`)},
	}
}

// TestResponseStore stores, reads and deletes responses per tenant, and
// checks that expired ones are never served and are swept.
func TestResponseStore(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(t0.UnixMicro())
	now := func() time.Time { return time.UnixMicro(clock.Load()).UTC() }
	s := sqlite.NewResponseStore(sqlitetest.MustOpen(t), now)

	a := stored("resp_a", "acme", t0, time.Hour)
	if err := s.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, a); err == nil {
		t.Error("a second Put of one id succeeded")
	}
	got, err := s.Get(ctx, "acme", "resp_a")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("Get = %+v, want %+v", got, a)
	}
	if conv := got.Conversation(); len(conv) != 2 || string(conv[1]) != string(a.Output[0]) {
		t.Errorf("conversation: %s", conv)
	}
	// Another tenant: not found, neither to read nor to delete.
	if _, err := s.Get(ctx, "globex", "resp_a"); !errors.Is(err, responses.ErrNotFound) {
		t.Errorf("other tenant's Get: %v", err)
	}
	if err := s.Delete(ctx, "globex", "resp_a"); !errors.Is(err, responses.ErrNotFound) {
		t.Errorf("other tenant's Delete: %v", err)
	}
	if _, err := s.Get(ctx, "acme", "resp_nope"); !errors.Is(err, responses.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}

	// No input, no output: stored as empty lists.
	b := stored("resp_b", "acme", t0, 2*time.Hour)
	b.Input, b.Output = nil, nil
	if err := s.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "acme", "resp_b"); err != nil || len(got.Input) != 0 || len(got.Output) != 0 {
		t.Errorf("empty lists: %+v, %v", got, err)
	}

	// An hour later a has expired: never served, even before the sweep.
	clock.Store(t0.Add(time.Hour).UnixMicro())
	if _, err := s.Get(ctx, "acme", "resp_a"); !errors.Is(err, responses.ErrNotFound) {
		t.Errorf("expired response served: %v", err)
	}
	if err := s.Delete(ctx, "acme", "resp_a"); !errors.Is(err, responses.ErrNotFound) {
		t.Errorf("expired response deleted: %v", err)
	}
	if n, err := s.DeleteExpired(ctx, now()); err != nil || n != 1 {
		t.Errorf("DeleteExpired = %d, %v; want 1", n, err)
	}
	if err := s.Delete(ctx, "acme", "resp_b"); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "acme", "resp_b"); !errors.Is(err, responses.ErrNotFound) {
		t.Errorf("deleted response served: %v", err)
	}
}

// TestResponseStoreReopen checks stored responses survive a restart.
func TestResponseStoreReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "penny.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.NewResponseStore(db, nil).Put(ctx, stored("resp_r", "acme", time.Now(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqlite.NewResponseStore(db, nil).Get(ctx, "acme", "resp_r"); err != nil {
		t.Error(err)
	}
}
