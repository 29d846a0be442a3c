package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/batch"
)

// BatchStore is a batch.Store in a DB: tables batch_files, batches,
// batch_items and batch_jobs. It is safe for concurrent use.
type BatchStore struct{ db *DB }

var _ batch.Store = (*BatchStore)(nil)

// NewBatchStore returns the batch queue in db. The store has no resources
// of its own: closing db ends it.
func NewBatchStore(db *DB) *BatchStore { return &BatchStore{db: db} }

func us(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromUS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return batch.ErrNotFound
	}
	return err
}

// PutFile implements batch.Store.
func (s *BatchStore) PutFile(ctx context.Context, f *batch.File, content []byte) error {
	_, err := s.db.wdb.ExecContext(ctx, `INSERT INTO batch_files (id, tenant, purpose, filename, bytes, lines, created_us, batch_id, kind, content)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, f.ID, f.Tenant, f.Purpose, f.Filename, f.Bytes, f.Lines, us(f.Created), f.BatchID, f.Kind, content)
	if err != nil {
		return fmt.Errorf("sqlite: store file %s: %w", f.ID, err)
	}
	return nil
}

// GetFile implements batch.Store.
func (s *BatchStore) GetFile(ctx context.Context, tenant, id string) (*batch.File, error) {
	f := &batch.File{ID: id, Tenant: tenant}
	var created int64
	err := s.db.rdb.QueryRowContext(ctx, `SELECT purpose, filename, bytes, lines, created_us, batch_id, kind FROM batch_files WHERE id = ? AND tenant = ?`,
		id, tenant).Scan(&f.Purpose, &f.Filename, &f.Bytes, &f.Lines, &created, &f.BatchID, &f.Kind)
	if err != nil {
		return nil, notFound(err)
	}
	f.Created = fromUS(created)
	return f, nil
}

// FileContent implements batch.Store.
func (s *BatchStore) FileContent(ctx context.Context, tenant, id string) ([]byte, error) {
	var b []byte
	err := s.db.rdb.QueryRowContext(ctx, `SELECT content FROM batch_files WHERE id = ? AND tenant = ?`, id, tenant).Scan(&b)
	return b, notFound(err)
}

// DeleteFile implements batch.Store.
func (s *BatchStore) DeleteFile(ctx context.Context, tenant, id string) error {
	res, err := s.db.wdb.ExecContext(ctx, `DELETE FROM batch_files WHERE id = ? AND tenant = ?`, id, tenant)
	if err != nil {
		return fmt.Errorf("sqlite: delete file %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return batch.ErrNotFound
	}
	return nil
}

// CreateBatch implements batch.Store.
func (s *BatchStore) CreateBatch(ctx context.Context, b *batch.Batch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, err = s.db.wdb.ExecContext(ctx, `INSERT INTO batches (id, tenant, created_us, status, data) VALUES (?, ?, ?, ?, ?)`,
		b.ID, b.Tenant, us(b.Created), b.Status, string(data))
	if err != nil {
		return fmt.Errorf("sqlite: store batch %s: %w", b.ID, err)
	}
	return nil
}

// UpdateBatch implements batch.Store.
func (s *BatchStore) UpdateBatch(ctx context.Context, b *batch.Batch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, err = s.db.wdb.ExecContext(ctx, `UPDATE batches SET status = ?, data = ? WHERE id = ?`, b.Status, string(data), b.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update batch %s: %w", b.ID, err)
	}
	return nil
}

func scanBatches(rows *sql.Rows) ([]*batch.Batch, error) { return scanJSON[batch.Batch](rows, "batch") }

// scanJSON decodes rows of one JSON column (what names them in errors)
// and closes them.
func scanJSON[T any](rows *sql.Rows, what string) ([]*T, error) {
	defer rows.Close()
	var out []*T
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		v := new(T)
		if err := json.Unmarshal([]byte(data), v); err != nil {
			return nil, fmt.Errorf("sqlite: read %s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// GetBatch implements batch.Store.
func (s *BatchStore) GetBatch(ctx context.Context, tenant, id string) (*batch.Batch, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT data FROM batches WHERE id = ? AND tenant = ?`, id, tenant)
	if err != nil {
		return nil, err
	}
	bs, err := scanBatches(rows)
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 {
		return nil, batch.ErrNotFound
	}
	return bs[0], nil
}

// ListBatches implements batch.Store.
func (s *BatchStore) ListBatches(ctx context.Context, tenant, after string, limit int) ([]*batch.Batch, bool, error) {
	q := `SELECT data FROM batches WHERE tenant = ?`
	args := []any{tenant}
	if after != "" {
		q += ` AND rowid < (SELECT rowid FROM batches WHERE id = ? AND tenant = ?)`
		args = append(args, after, tenant)
	}
	rows, err := s.db.rdb.QueryContext(ctx, q+` ORDER BY rowid DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, false, err
	}
	bs, err := scanBatches(rows)
	if err != nil {
		return nil, false, err
	}
	if len(bs) > limit {
		return bs[:limit], true, nil
	}
	return bs, false, nil
}

// ActiveBatches implements batch.Store.
func (s *BatchStore) ActiveBatches(ctx context.Context) ([]*batch.Batch, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT data FROM batches WHERE status IN (?, ?, ?, ?) ORDER BY rowid`,
		batch.StatusValidating, batch.StatusInProgress, batch.StatusFinalizing, batch.StatusCancelling)
	if err != nil {
		return nil, err
	}
	return scanBatches(rows)
}

// AddItems implements batch.Store.
func (s *BatchStore) AddItems(ctx context.Context, items []*batch.Item) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO batch_items (id, tenant, batch_id, line, custom_id, api, model, upstream_model,
			shape, state, job_id, size, created_us, deadline_us, expires_us, finished_us, request, how, result, notify)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, it := range items {
			res, err := resultJSON(it.Result)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, it.ID, it.Tenant, it.BatchID, it.Line, it.CustomID, it.API, it.Model, it.UpstreamModel,
				string(it.Shape), string(it.State), it.JobID, it.Size, us(it.Created), us(it.Deadline), us(it.Expires), us(it.Finished),
				string(it.Request), it.How, res, it.Notify); err != nil {
				return fmt.Errorf("sqlite: queue item %s: %w", it.ID, err)
			}
		}
		return nil
	})
}

func resultJSON(r *batch.Result) (any, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	return string(b), err
}

// tx runs fn in a write transaction.
func (s *BatchStore) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

const itemColumns = `id, tenant, batch_id, line, custom_id, api, model, upstream_model, shape, state, job_id, size,
	created_us, deadline_us, expires_us, finished_us, request, how, result, notify`

func scanItem(sc interface{ Scan(...any) error }) (*batch.Item, error) {
	it := &batch.Item{}
	var shape, state, request string
	var res sql.NullString
	var created, deadline, expires, finished int64
	if err := sc.Scan(&it.ID, &it.Tenant, &it.BatchID, &it.Line, &it.CustomID, &it.API, &it.Model, &it.UpstreamModel, &shape, &state,
		&it.JobID, &it.Size, &created, &deadline, &expires, &finished, &request, &it.How, &res, &it.Notify); err != nil {
		return nil, err
	}
	it.Shape, it.State, it.Request = batch.Shape(shape), batch.ItemState(state), json.RawMessage(request)
	it.Created, it.Deadline, it.Expires, it.Finished = fromUS(created), fromUS(deadline), fromUS(expires), fromUS(finished)
	if res.Valid {
		it.Result = &batch.Result{}
		if err := json.Unmarshal([]byte(res.String), it.Result); err != nil {
			return nil, fmt.Errorf("sqlite: item %s: result: %w", it.ID, err)
		}
	}
	return it, nil
}

// GetItem implements batch.Store.
func (s *BatchStore) GetItem(ctx context.Context, tenant, id string) (*batch.Item, error) {
	it, err := scanItem(s.db.rdb.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM batch_items WHERE id = ? AND tenant = ?`, id, tenant))
	return it, notFound(err)
}

// Item implements batch.Store.
func (s *BatchStore) Item(ctx context.Context, id string) (*batch.Item, error) {
	it, err := scanItem(s.db.rdb.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM batch_items WHERE id = ?`, id))
	return it, notFound(err)
}

// UpdateItems implements batch.Store.
func (s *BatchStore) UpdateItems(ctx context.Context, items []*batch.Item) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE batch_items SET state = ?, job_id = ?, finished_us = ?, how = ?, result = ?, notify = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, it := range items {
			res, err := resultJSON(it.Result)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, string(it.State), it.JobID, us(it.Finished), it.How, res, it.Notify, it.ID); err != nil {
				return fmt.Errorf("sqlite: update item %s: %w", it.ID, err)
			}
		}
		return nil
	})
}

// Groups implements batch.Store.
func (s *BatchStore) Groups(ctx context.Context) ([]batch.Group, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT upstream_model, shape, COUNT(*), COALESCE(SUM(size + 1), 0), MIN(deadline_us)
		FROM batch_items WHERE state = ? GROUP BY upstream_model, shape ORDER BY upstream_model, shape`, string(batch.ItemQueued))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []batch.Group
	for rows.Next() {
		var g batch.Group
		var shape string
		var oldest int64
		if err := rows.Scan(&g.UpstreamModel, &shape, &g.Count, &g.Bytes, &oldest); err != nil {
			return nil, err
		}
		g.Shape, g.Oldest = batch.Shape(shape), fromUS(oldest)
		out = append(out, g)
	}
	return out, rows.Err()
}

// each calls fn for every item a query returns. The rows are read in
// pages by rowid, so fn may write to the database meanwhile.
func (s *BatchStore) each(ctx context.Context, where string, args []any, fn func(*batch.Item) error) error {
	last := int64(-1)
	for {
		rows, err := s.db.rdb.QueryContext(ctx, `SELECT rowid, `+itemColumns+` FROM batch_items WHERE (`+where+`) AND rowid > ? ORDER BY rowid LIMIT 500`,
			append(append([]any{}, args...), last)...)
		if err != nil {
			return err
		}
		var page []*batch.Item
		for rows.Next() {
			var rowid int64
			it, err := scanItem(rowScanner{rows, &rowid})
			if err != nil {
				rows.Close()
				return err
			}
			last = rowid
			page = append(page, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, it := range page {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(page) < 500 {
			return nil
		}
	}
}

// rowScanner scans the rowid first, then the item's columns.
type rowScanner struct {
	rows  *sql.Rows
	rowid *int64
}

func (r rowScanner) Scan(dest ...any) error { return r.rows.Scan(append([]any{r.rowid}, dest...)...) }

// Queued implements batch.Store. Items are in the order they were queued.
func (s *BatchStore) Queued(ctx context.Context, upstreamModel string, shape batch.Shape, fn func(*batch.Item) error) error {
	return s.each(ctx, `state = ? AND upstream_model = ? AND shape = ?`, []any{string(batch.ItemQueued), upstreamModel, string(shape)}, fn)
}

// Assign implements batch.Store.
func (s *BatchStore) Assign(ctx context.Context, jobID, how string, ids []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE batch_items SET state = ?, job_id = ?, how = CASE WHEN ? = '' THEN how ELSE ? END WHERE id = ? AND state = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range ids {
			if _, err := st.ExecContext(ctx, string(batch.ItemRunning), jobID, how, how, id, string(batch.ItemQueued)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Claims implements batch.Store.
func (s *BatchStore) Claims(ctx context.Context, prefix string) ([]string, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT DISTINCT job_id FROM batch_items WHERE state = ? AND job_id LIKE ? ESCAPE '\'`,
		string(batch.ItemRunning), strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)+"%")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ItemsOfJob implements batch.Store.
func (s *BatchStore) ItemsOfJob(ctx context.Context, jobID string, fn func(*batch.Item) error) error {
	return s.each(ctx, `job_id = ?`, []any{jobID}, fn)
}

// ItemsOfBatch implements batch.Store. Items are read by rowid, which is
// line order: a batch's lines are admitted in order.
func (s *BatchStore) ItemsOfBatch(ctx context.Context, batchID string, fn func(*batch.Item) error) error {
	return s.each(ctx, `batch_id = ?`, []any{batchID}, fn)
}

// BatchCounts implements batch.Store.
func (s *BatchStore) BatchCounts(ctx context.Context, batchID string) (batch.Counts, error) {
	var c batch.Counts
	err := s.db.rdb.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(state = ?), 0), COALESCE(SUM(state = ?), 0) FROM batch_items WHERE batch_id = ?`,
		string(batch.ItemDone), string(batch.ItemFailed), batchID).Scan(&c.Total, &c.Completed, &c.Failed)
	return c, err
}

// Expired implements batch.Store.
func (s *BatchStore) Expired(ctx context.Context, now time.Time, fn func(*batch.Item) error) error {
	return s.each(ctx, `state IN (?, ?) AND expires_us <= ?`, []any{string(batch.ItemQueued), string(batch.ItemRunning), now.UnixMicro()}, fn)
}

// Notifying implements batch.Store.
func (s *BatchStore) Notifying(ctx context.Context, fn func(*batch.Item) error) error {
	return s.each(ctx, `notify = 1 AND state IN (?, ?)`, []any{string(batch.ItemDone), string(batch.ItemFailed)}, fn)
}

// CancelQueued implements batch.Store: the batch's queued items become
// running under the claim "cancelled", so that no job takes them, and
// are returned for the caller to finish.
func (s *BatchStore) CancelQueued(ctx context.Context, batchID string) ([]*batch.Item, error) {
	if _, err := s.db.wdb.ExecContext(ctx, `UPDATE batch_items SET state = ?, job_id = 'cancelled' WHERE batch_id = ? AND state = ?`,
		string(batch.ItemRunning), batchID, string(batch.ItemQueued)); err != nil {
		return nil, err
	}
	var out []*batch.Item
	err := s.each(ctx, `batch_id = ? AND state = ? AND job_id = 'cancelled'`, []any{batchID, string(batch.ItemRunning)}, func(it *batch.Item) error {
		out = append(out, it)
		return nil
	})
	return out, err
}

// PutJob implements batch.Store.
func (s *BatchStore) PutJob(ctx context.Context, j *batch.Job) error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = s.db.wdb.ExecContext(ctx, `INSERT INTO batch_jobs (id, state, data) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, data = excluded.data`, j.ID, j.State, string(data))
	if err != nil {
		return fmt.Errorf("sqlite: store job %s: %w", j.ID, err)
	}
	return nil
}

// ActiveJobs implements batch.Store.
func (s *BatchStore) ActiveJobs(ctx context.Context) ([]*batch.Job, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT data FROM batch_jobs WHERE state != ? ORDER BY rowid`, batch.JobDone)
	if err != nil {
		return nil, err
	}
	return scanJSON[batch.Job](rows, "job")
}

// HasRequest reports whether the ledger holds a record of requestID.
func (s *BatchStore) HasRequest(ctx context.Context, requestID string) (bool, error) {
	var n int
	err := s.db.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests WHERE request_id = ?`, requestID).Scan(&n)
	return n > 0, err
}
