package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

// Secret forms of the secret_form column.
const (
	formPlain  = "plain"
	formSealed = "aes256gcm"
)

// KeyOptions configure a KeyStore.
type KeyOptions struct {
	// Sealer, if set, seals the SigV4 secrets of new keys and opens sealed
	// ones. Without it new secrets are stored in plain text and sealed
	// ones cannot be used for SigV4 (ByID fails with keys.ErrSealed).
	Sealer *keys.Sealer
}

// KeyStore is a keys.Store in a DB: table api_keys, next to the ledger's
// tables, so that `penny keys` and `penny serve` pointed at one database see
// the same keys. It is safe for concurrent use.
//
// How SigV4 secrets are kept at rest, and why, is described in package keys.
type KeyStore struct {
	db     *DB
	sealer *keys.Sealer
}

var _ keys.Store = (*KeyStore)(nil)

// NewKeyStore returns the key store in db. It fails when o.Sealer cannot
// open the secrets already sealed in the database (a wrong server key
// secret). The store has no resources of its own: closing db ends it.
func NewKeyStore(ctx context.Context, db *DB, o KeyOptions) (*KeyStore, error) {
	s := &KeyStore{db: db, sealer: o.Sealer}
	if err := s.checkSealer(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: keys in %s: %w", db.path, err)
	}
	return s, nil
}

// checkSealer fails when the sealer cannot open a secret sealed earlier, so
// a wrong PENNY_KEYS_SECRET stops the server at start-up instead of
// failing every SigV4 request.
func (s *KeyStore) checkSealer(ctx context.Context) error {
	if s.sealer == nil {
		return nil
	}
	var id string
	var sealed []byte
	err := s.db.rdb.QueryRowContext(ctx, `SELECT id, secret FROM api_keys WHERE secret_form = ? ORDER BY created_us DESC LIMIT 1`,
		formSealed).Scan(&id, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.sealer.Open(id, sealed); err != nil {
		return fmt.Errorf("%s does not open the secret access keys sealed in this database (key %s): %w", keys.SecretEnv, id, err)
	}
	return nil
}

// Create implements keys.Store.
func (s *KeyStore) Create(ctx context.Context, r keys.Record) error {
	if err := keys.Validate(&r.Key); err != nil {
		return err
	}
	if r.ID == "" || r.SigningSecret == "" {
		return llm.Errorf(llm.KindValidation, "a key needs an id and a secret; make it with keys.New")
	}
	tags, err := json.Marshal(nonNil(r.Tags))
	if err != nil {
		return err
	}
	form, secret := formPlain, []byte(r.SigningSecret)
	if s.sealer != nil {
		form, secret = formSealed, s.sealer.Seal(r.ID, r.SigningSecret)
	}
	_, err = s.db.wdb.ExecContext(ctx, `INSERT INTO api_keys
		(id, name, tenant, role, tags, budget_month_nano, rpm, tpm, token_sha256, secret_form, secret, created_us, last_used_us, revoked_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Name, r.Tenant, string(roleOf(r.Role)), string(tags), int64(r.Limits.BudgetMonth), r.Limits.RPM, r.Limits.TPM,
		r.TokenHash[:], form, secret, micros(r.Created), micros(r.LastUsed), micros(r.Revoked))
	if err != nil {
		return fmt.Errorf("create key %s: %w", r.ID, err)
	}
	return nil
}

// keyColumns are the columns of a keys.Key, in keyRow.dest's order.
const keyColumns = `id, name, tenant, role, tags, budget_month_nano, rpm, tpm, created_us, last_used_us, revoked_us`

// keyRecordColumns add the secrets of a keys.Record.
const keyRecordColumns = keyColumns + `, token_sha256, secret_form, secret`

// ByToken implements keys.Store.
func (s *KeyStore) ByToken(ctx context.Context, h keys.TokenHash) (*keys.Record, error) {
	row := s.db.rdb.QueryRowContext(ctx, `SELECT `+keyRecordColumns+` FROM api_keys WHERE token_sha256 = ?`, h[:])
	r, err := s.scanRecord(row, false)
	if err != nil {
		return nil, fmt.Errorf("key by token: %w", err)
	}
	return r, nil
}

// ByID implements keys.Store.
func (s *KeyStore) ByID(ctx context.Context, id string) (*keys.Record, error) {
	row := s.db.rdb.QueryRowContext(ctx, `SELECT `+keyRecordColumns+` FROM api_keys WHERE id = ?`, id)
	r, err := s.scanRecord(row, true)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", id, err)
	}
	return r, nil
}

// scanRecord reads one row of keyRecordColumns; withSecret opens the SigV4
// secret, which the bearer path does not need.
func (s *KeyStore) scanRecord(row *sql.Row, withSecret bool) (*keys.Record, error) {
	var (
		kr           keyRow
		hash, secret []byte
		form         string
	)
	if err := row.Scan(append(kr.dest(), &hash, &form, &secret)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, keys.ErrNotFound
		}
		return nil, err
	}
	k, err := kr.key()
	if err != nil {
		return nil, err
	}
	r := &keys.Record{Key: k}
	copy(r.TokenHash[:], hash)
	if !withSecret {
		return r, nil
	}
	switch form {
	case formPlain:
		r.SigningSecret = string(secret)
	case formSealed:
		if s.sealer == nil {
			return nil, keys.ErrSealed
		}
		plain, err := s.sealer.Open(r.ID, secret)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", keys.ErrSealed, err)
		}
		r.SigningSecret = plain
	default:
		return nil, fmt.Errorf("unknown secret form %q", form)
	}
	return r, nil
}

// keyRow is the key columns of a row as SQLite stores them.
type keyRow struct {
	id, name, tenant, role     string
	tags                       string
	budget                     int64
	rpm, tpm                   int
	created, lastUsed, revoked int64
}

// dest returns scan destinations for keyColumns, in order.
func (kr *keyRow) dest() []any {
	return []any{&kr.id, &kr.name, &kr.tenant, &kr.role, &kr.tags, &kr.budget, &kr.rpm, &kr.tpm, &kr.created, &kr.lastUsed, &kr.revoked}
}

func (kr *keyRow) key() (keys.Key, error) {
	k := keys.Key{
		ID: kr.id, Name: kr.name, Tenant: kr.tenant, Role: keys.Role(kr.role),
		Limits:   keys.Limits{BudgetMonth: llm.Money(kr.budget), RPM: kr.rpm, TPM: kr.tpm},
		Created:  fromMicros(kr.created),
		LastUsed: fromMicros(kr.lastUsed),
		Revoked:  fromMicros(kr.revoked),
	}
	if err := json.Unmarshal([]byte(kr.tags), &k.Tags); err != nil {
		return keys.Key{}, fmt.Errorf("key %s: tags: %w", kr.id, err)
	}
	if len(k.Tags) == 0 {
		k.Tags = nil
	}
	return k, nil
}

// List implements keys.Store.
func (s *KeyStore) List(ctx context.Context, f keys.Filter) ([]keys.Key, error) {
	q := `SELECT ` + keyColumns + ` FROM api_keys WHERE 1 = 1`
	var args []any
	if f.Tenant != "" {
		q += ` AND tenant = ?`
		args = append(args, f.Tenant)
	}
	if f.Active {
		q += ` AND revoked_us = 0`
	}
	q += ` ORDER BY created_us, id`
	rows, err := s.db.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []keys.Key
	for rows.Next() {
		var kr keyRow
		if err := rows.Scan(kr.dest()...); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		k, err := kr.key()
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// Revoke implements keys.Store.
func (s *KeyStore) Revoke(ctx context.Context, id string, t time.Time) error {
	res, err := s.db.wdb.ExecContext(ctx, `UPDATE api_keys SET revoked_us = ? WHERE id = ? AND revoked_us = 0`, micros(t), id)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var one int
	err = s.db.wdb.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("revoke key %s: %w", id, keys.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	return nil
}

// MarkUsed implements keys.Store.
func (s *KeyStore) MarkUsed(ctx context.Context, id string, t time.Time) error {
	us := micros(t)
	if _, err := s.db.wdb.ExecContext(ctx, `UPDATE api_keys SET last_used_us = ? WHERE id = ? AND last_used_us < ?`, us, id, us); err != nil {
		return fmt.Errorf("mark key %s used: %w", id, err)
	}
	return nil
}

// SealedKeys returns how many keys that are not revoked have a sealed
// SigV4 secret, so a command can warn when it runs without the server key
// secret that opens them.
func (s *KeyStore) SealedKeys(ctx context.Context) (int, error) {
	var n int
	err := s.db.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE secret_form = ? AND revoked_us = 0`, formSealed).Scan(&n)
	return n, err
}

// roleOf is the role column's value of r: "" is a tenant key.
func roleOf(r keys.Role) keys.Role {
	if r == "" {
		return keys.RoleTenant
	}
	return r
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
