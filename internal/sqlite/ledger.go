package sqlite

import (
	"context"
	"database/sql"
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
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const insertTagSQL = `INSERT INTO request_tags (request_id, key, value) VALUES (?, ?, ?)`

// insertRecords inserts records and their tags within tx and stores the
// new row ids in ids, which has the same length as records.
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
		res, err := rec.ExecContext(ctx,
			r.Time.UnixMicro(), r.RequestID, r.Tenant, r.KeyID, r.Route, r.API, r.Stream,
			r.ModelRequested, r.Model, r.BaselineModel, r.Provider, r.Mode,
			r.Status, r.ErrorKind, r.HTTPStatus, r.ErrorMessage,
			r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens,
			r.Latency.Microseconds(), r.TTFT.Microseconds(), int64(r.Cost), int64(r.BaselineCost), r.Cache, r.Strategy, r.UsageEstimated, r.PromptHash, r.PromptTokensSaved, r.Attempts,
			r.ServiceTier, r.CacheWrite1hTokens, r.UpstreamModel, r.PriceEstimated, r.MaxTokens)
		if err != nil {
			return fmt.Errorf("record %q: %w", r.RequestID, err)
		}
		if ids[i], err = res.LastInsertId(); err != nil {
			return err
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
