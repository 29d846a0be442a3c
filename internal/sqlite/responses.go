package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/penny-gateway/penny/internal/responses"
)

// ResponseStore is a responses.Store in a DB: table stored_responses. It
// is safe for concurrent use.
type ResponseStore struct {
	db  *DB
	now func() time.Time
}

var _ responses.Store = (*ResponseStore)(nil)

// NewResponseStore returns the stored responses in db; now is the clock
// that decides what has expired (nil means time.Now). The store has no
// resources of its own: closing db ends it.
func NewResponseStore(db *DB, now func() time.Time) *ResponseStore {
	if now == nil {
		now = time.Now
	}
	return &ResponseStore{db: db, now: now}
}

// Put implements responses.Store. s.ID must be new.
func (s *ResponseStore) Put(ctx context.Context, r *responses.Stored) error {
	in, err := json.Marshal(items(r.Input))
	if err != nil {
		return fmt.Errorf("sqlite: store response %s: %w", r.ID, err)
	}
	out, err := json.Marshal(items(r.Output))
	if err != nil {
		return fmt.Errorf("sqlite: store response %s: %w", r.ID, err)
	}
	_, err = s.db.wdb.ExecContext(ctx, `INSERT INTO stored_responses (id, tenant, created_us, expires_us, response, input, output)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Tenant, r.Created.UnixMicro(), r.Expires.UnixMicro(), string(r.Response), string(in), string(out))
	if err != nil {
		return fmt.Errorf("sqlite: store response %s: %w", r.ID, err)
	}
	return nil
}

// items is never nil, so that an empty list is stored as [].
func items(l []json.RawMessage) []json.RawMessage {
	if l == nil {
		return []json.RawMessage{}
	}
	return l
}

// Get implements responses.Store.
func (s *ResponseStore) Get(ctx context.Context, tenant, id string) (*responses.Stored, error) {
	r := &responses.Stored{ID: id, Tenant: tenant}
	var created, expires int64
	var resp, in, out string
	err := s.db.rdb.QueryRowContext(ctx, `SELECT created_us, expires_us, response, input, output FROM stored_responses
		WHERE id = ? AND tenant = ? AND expires_us > ?`, id, tenant, s.now().UnixMicro()).Scan(&created, &expires, &resp, &in, &out)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, responses.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read response %s: %w", id, err)
	}
	r.Created, r.Expires, r.Response = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC(), json.RawMessage(resp)
	if err := json.Unmarshal([]byte(in), &r.Input); err != nil {
		return nil, fmt.Errorf("sqlite: read response %s: input: %w", id, err)
	}
	if err := json.Unmarshal([]byte(out), &r.Output); err != nil {
		return nil, fmt.Errorf("sqlite: read response %s: output: %w", id, err)
	}
	return r, nil
}

// Delete implements responses.Store. An expired response is not found,
// as it is for Get, though the sweep may not have removed it yet.
func (s *ResponseStore) Delete(ctx context.Context, tenant, id string) error {
	res, err := s.db.wdb.ExecContext(ctx, `DELETE FROM stored_responses WHERE id = ? AND tenant = ? AND expires_us > ?`,
		id, tenant, s.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite: delete response %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return responses.ErrNotFound
	}
	return nil
}

// DeleteExpired implements responses.Store.
func (s *ResponseStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.wdb.ExecContext(ctx, `DELETE FROM stored_responses WHERE expires_us <= ?`, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired responses: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
