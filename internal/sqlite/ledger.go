package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/penny-gateway/penny/internal/ledger"
)

// LedgerStore is a ledger.Store in a DB: tables requests and request_tags.
// It is safe for concurrent use.
type LedgerStore struct {
	db *DB
}

var _ ledger.Store = (*LedgerStore)(nil)

// NewLedgerStore returns the ledger in db. The store has no resources of its
// own: closing db ends it.
func NewLedgerStore(db *DB) *LedgerStore { return &LedgerStore{db: db} }

// Append stores records in one transaction and, on success, sets their IDs.
// On failure nothing is stored and the IDs are left unchanged.
//
// A record whose request id is already stored is not stored again (its ID
// is set to the stored one's): the ledger writer appends records again when
// it replays its spool, possibly after a crash in the middle of a replay,
// and a request must count once. Records with an empty request id are
// always stored.
//
// Append fails with an error wrapping ErrFileGone when the database file
// was removed or replaced: the commit then went to a file no one will read.
func (s *LedgerStore) Append(ctx context.Context, records []ledger.Record) error {
	if len(records) == 0 {
		return nil
	}
	tx, err := s.db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: append: %w", err)
	}
	defer tx.Rollback()

	ids := make([]int64, len(records))
	if err := insertRecords(ctx, tx, records, ids); err != nil {
		return fmt.Errorf("sqlite: append: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: append: commit: %w", err)
	}
	if err := s.db.checkFile(); err != nil {
		return fmt.Errorf("sqlite: append: %w", err)
	}
	for i := range records {
		records[i].ID = ids[i]
	}
	return nil
}

const insertRecordSQL = `INSERT INTO requests (
	time_us, request_id, tenant, key_id, route, api, stream,
	model_requested, model, baseline_model, provider, mode,
	status, error_kind, http_status, error_message,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
	latency_us, ttft_us, cost_nano, baseline_cost_nano, cache, strategy, usage_estimated, prompt_hash, prompt_tokens_saved, attempts,
	service_tier, cache_write_1h_tokens, upstream_model, price_estimated, max_tokens
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (request_id) WHERE request_id != '' DO NOTHING
RETURNING id`

// storedIDSQL finds the record a request id is already stored as.
const storedIDSQL = `SELECT id FROM requests WHERE request_id = ? AND request_id != ''`

const insertTagSQL = `INSERT INTO request_tags (request_id, key, value) VALUES (?, ?, ?)`

// insertRecords inserts records and their tags within tx and stores the
// new row ids in ids, which has the same length as records. A record whose
// request id is already stored gets the stored row's id and no new tags.
func insertRecords(ctx context.Context, tx *sql.Tx, records []ledger.Record, ids []int64) error {
	rec, err := tx.PrepareContext(ctx, insertRecordSQL)
	if err != nil {
		return err
	}
	defer rec.Close()
	var tag *sql.Stmt // prepared on the first tag
	defer func() {
		if tag != nil {
			tag.Close()
		}
	}()

	for i := range records {
		r := &records[i]
		err := rec.QueryRowContext(ctx,
			r.Time.UnixMicro(), r.RequestID, r.Tenant, r.KeyID, r.Route, r.API, r.Stream,
			r.ModelRequested, r.Model, r.BaselineModel, r.Provider, r.Mode,
			r.Status, r.ErrorKind, r.HTTPStatus, r.ErrorMessage,
			r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens,
			r.Latency.Microseconds(), r.TTFT.Microseconds(), int64(r.Cost), int64(r.BaselineCost), r.Cache, r.Strategy, r.UsageEstimated, r.PromptHash, r.PromptTokensSaved, r.Attempts,
			r.ServiceTier, r.CacheWrite1hTokens, r.UpstreamModel, r.PriceEstimated, r.MaxTokens).Scan(&ids[i])
		if errors.Is(err, sql.ErrNoRows) {
			// Stored before: by an earlier replay of the spool, or by a
			// commit that was slow to finish.
			if err := tx.QueryRowContext(ctx, storedIDSQL, r.RequestID).Scan(&ids[i]); err != nil {
				return fmt.Errorf("record %q: stored id: %w", r.RequestID, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("record %q: %w", r.RequestID, err)
		}
		for k, v := range r.Tags {
			if tag == nil {
				if tag, err = tx.PrepareContext(ctx, insertTagSQL); err != nil {
					return err
				}
			}
			if _, err := tag.ExecContext(ctx, ids[i], k, v); err != nil {
				return fmt.Errorf("record %q: tag %q: %w", r.RequestID, k, err)
			}
		}
	}
	return nil
}
