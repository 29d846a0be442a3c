package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// groupExprs maps each grouping to the SQL expression of its key. Only these
// fixed strings are ever spliced into a query; user input is bound.
var groupExprs = map[string]string{
	ledger.ByAll:      "'" + ledger.TotalKey + "'",
	ledger.ByModel:    "r.model",
	ledger.ByRoute:    "r.route",
	ledger.ByTenant:   "r.tenant",
	ledger.ByKeyID:    "r.key_id",
	ledger.ByAPI:      "r.api",
	ledger.ByStatus:   "r.status",
	ledger.ByProvider: "r.provider",
	ledger.ByMode:     "r.mode",
	ledger.ByTier:     "CASE r.service_tier WHEN '' THEN 'default' ELSE r.service_tier END",
	ledger.ByUpstream: "r.upstream_model",
	ledger.ByCache:    "r.cache",
	ledger.ByStrategy: "r.strategy",
	ledger.ByDay:      "strftime('%Y-%m-%d', r.time_us / 1000000, 'unixepoch')",
	// A record without tags joins no row and falls in group "".
	ledger.ByTag:    "COALESCE(t.key || '=' || t.value, '')",
	ledger.ByTagKey: "COALESCE(t.value, '')",
}

// Summarize aggregates the matching records in SQL, grouped by q.By, sorted
// by cost descending then key.
func (s *LedgerStore) Summarize(ctx context.Context, q ledger.SummaryQuery) ([]ledger.Summary, error) {
	g, err := ledger.ParseGrouping(q.By)
	if err != nil {
		return nil, err
	}
	expr, ok := groupExprs[g.Dim]
	if !ok {
		return nil, llm.Errorf(llm.KindUnsupported, "sqlite: summary grouping %q is not supported", q.By)
	}

	var args []any
	var join string
	switch g.Dim {
	case ledger.ByTag:
		join = "LEFT JOIN request_tags t ON t.request_id = r.id"
	case ledger.ByTagKey:
		// The primary key (request_id, key) makes this join at most one
		// row per record.
		join = "LEFT JOIN request_tags t ON t.request_id = r.id AND t.key = ?"
		args = append(args, g.TagKey)
	}
	where, args := whereClause(args, q.Since, q.Until, q.Tenant, "")

	query := `SELECT ` + expr + ` AS k,
		COUNT(*),
		COALESCE(SUM(r.status = 'error'), 0),
		COALESCE(SUM(r.cache = 'hit'), 0),
		COALESCE(SUM(r.input_tokens), 0),
		COALESCE(SUM(r.output_tokens), 0),
		COALESCE(SUM(r.cache_read_tokens), 0),
		COALESCE(SUM(r.cache_write_tokens), 0),
		COALESCE(SUM(r.cost_nano), 0),
		COALESCE(SUM(r.baseline_cost_nano), 0),
		COALESCE(AVG(r.latency_us), 0)
	FROM requests r ` + join + where + `
	GROUP BY k
	ORDER BY SUM(r.cost_nano) DESC, k`

	rows, err := s.db.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: summarize by %s: %w", q.By, err)
	}
	defer rows.Close()
	var out []ledger.Summary
	for rows.Next() {
		var (
			sum        ledger.Summary
			cost, base int64
			avgLatency float64 // microseconds
		)
		if err := rows.Scan(&sum.Key, &sum.Requests, &sum.Errors, &sum.CacheHits,
			&sum.InputTokens, &sum.OutputTokens, &sum.CacheReadTokens, &sum.CacheWriteTokens,
			&cost, &base, &avgLatency); err != nil {
			return nil, fmt.Errorf("sqlite: summarize by %s: %w", q.By, err)
		}
		sum.Cost, sum.BaselineCost = llm.Money(cost), llm.Money(base)
		sum.Savings = sum.BaselineCost - sum.Cost
		sum.AvgLatency = time.Duration(avgLatency * float64(time.Microsecond))
		out = append(out, sum)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: summarize by %s: %w", q.By, err)
	}
	return out, nil
}

// whereClause appends to args the arguments of a WHERE clause on requests
// aliased r, and returns the clause ("" if nothing filters) and args.
func whereClause(args []any, since, until time.Time, tenant, requestID string) (string, []any) {
	var conds []string
	if !since.IsZero() {
		conds = append(conds, "r.time_us >= ?")
		args = append(args, since.UnixMicro())
	}
	if !until.IsZero() {
		conds = append(conds, "r.time_us < ?")
		args = append(args, until.UnixMicro())
	}
	if tenant != "" {
		conds = append(conds, "r.tenant = ?")
		args = append(args, tenant)
	}
	if requestID != "" {
		conds = append(conds, "r.request_id = ?")
		args = append(args, requestID)
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

const recordColumns = `r.id, r.time_us, r.request_id, r.tenant, r.key_id, r.route, r.api, r.stream,
	r.model_requested, r.model, r.baseline_model, r.provider, r.mode,
	r.status, r.error_kind, r.http_status, r.error_message,
	r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens,
	r.latency_us, r.ttft_us, r.cost_nano, r.baseline_cost_nano, r.cache, r.strategy, r.usage_estimated, r.prompt_hash, r.prompt_tokens_saved, r.attempts,
	r.service_tier, r.cache_write_1h_tokens, r.upstream_model, r.price_estimated, r.max_tokens`

// Records returns the matching records, newest first (ties broken by ID,
// highest first), with their tags.
func (s *LedgerStore) Records(ctx context.Context, q ledger.RecordQuery) ([]ledger.Record, error) {
	// One read transaction, so the tags come from the same snapshot as the
	// records even while appends go on.
	tx, err := s.db.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: records: %w", err)
	}
	defer tx.Rollback()

	out, err := queryRecords(ctx, tx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: records: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: records: %w", err)
	}
	return out, nil
}

func queryRecords(ctx context.Context, tx *sql.Tx, q ledger.RecordQuery) ([]ledger.Record, error) {
	where, args := whereClause(nil, q.Since, q.Until, q.Tenant, q.RequestID)
	limit := int64(-1) // SQLite: no limit
	if q.Limit > 0 {
		limit = int64(q.Limit)
	}
	args = append(args, limit)
	selection := `FROM requests r` + where + ` ORDER BY r.time_us DESC, r.id DESC LIMIT ?`

	rows, err := tx.QueryContext(ctx, `SELECT `+recordColumns+` `+selection, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Record
	for rows.Next() {
		var (
			r                   ledger.Record
			timeUS, latUS, ttUS int64
			cost, baseline      int64
		)
		if err := rows.Scan(&r.ID, &timeUS, &r.RequestID, &r.Tenant, &r.KeyID, &r.Route, &r.API, &r.Stream,
			&r.ModelRequested, &r.Model, &r.BaselineModel, &r.Provider, &r.Mode,
			&r.Status, &r.ErrorKind, &r.HTTPStatus, &r.ErrorMessage,
			&r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheWriteTokens,
			&latUS, &ttUS, &cost, &baseline, &r.Cache, &r.Strategy, &r.UsageEstimated, &r.PromptHash, &r.PromptTokensSaved, &r.Attempts,
			&r.ServiceTier, &r.CacheWrite1hTokens, &r.UpstreamModel, &r.PriceEstimated, &r.MaxTokens); err != nil {
			return nil, err
		}
		r.Time = time.UnixMicro(timeUS).UTC()
		r.Latency = time.Duration(latUS) * time.Microsecond
		r.TTFT = time.Duration(ttUS) * time.Microsecond
		r.Cost, r.BaselineCost = llm.Money(cost), llm.Money(baseline)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}

	index := make(map[int64]int, len(out))
	for i := range out {
		index[out[i].ID] = i
	}
	tags, err := tx.QueryContext(ctx,
		`SELECT t.request_id, t.key, t.value FROM request_tags t
		WHERE t.request_id IN (SELECT r.id `+selection+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer tags.Close()
	for tags.Next() {
		var (
			id         int64
			key, value string
		)
		if err := tags.Scan(&id, &key, &value); err != nil {
			return nil, err
		}
		r := &out[index[id]]
		if r.Tags == nil {
			r.Tags = make(map[string]string)
		}
		r.Tags[key] = value
	}
	return out, tags.Err()
}
