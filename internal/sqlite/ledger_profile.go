package sqlite

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

var _ ledger.Profiler = (*LedgerStore)(nil)

// answered selects the requests a model answered, response-cache hits
// included (their tokens are the original answer's); callers exclude hits
// where capacity or spend is counted.
const answered = `r.status = 'ok' AND r.model != ''`

// promptSQL is a record's whole prompt: input, cache-read and cache-write
// tokens.
const promptSQL = `(r.input_tokens + r.cache_read_tokens + r.cache_write_tokens)`

// timeWhere appends the AND-ed time bounds of q to cond.
func timeWhere(cond string, args []any, q ledger.ProfileQuery) (string, []any) {
	if !q.Since.IsZero() {
		cond += " AND r.time_us >= ?"
		args = append(args, q.Since.UnixMicro())
	}
	if !q.Until.IsZero() {
		cond += " AND r.time_us < ?"
		args = append(args, q.Until.UnixMicro())
	}
	return cond, args
}

// MinuteUsage sums on-demand tokens per route, model and UTC minute in SQL.
func (s *LedgerStore) MinuteUsage(ctx context.Context, q ledger.ProfileQuery) ([]ledger.MinuteUsage, error) {
	where, args := timeWhere(answered+` AND r.cache != 'hit' AND r.mode IN ('', 'on_demand')`, nil, q)
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT r.route, r.model, r.time_us / 60000000 AS minute,
		COUNT(*), SUM(`+promptSQL+`), SUM(r.output_tokens), SUM(r.cost_nano)
	FROM requests r WHERE `+where+`
	GROUP BY r.route, r.model, minute
	ORDER BY r.route, r.model, minute`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: minute usage: %w", err)
	}
	defer rows.Close()
	var out []ledger.MinuteUsage
	for rows.Next() {
		var (
			u      ledger.MinuteUsage
			minute int64
			cost   int64
		)
		if err := rows.Scan(&u.Route, &u.Model, &minute, &u.Requests, &u.PromptTokens, &u.OutputTokens, &cost); err != nil {
			return nil, fmt.Errorf("sqlite: minute usage: %w", err)
		}
		u.Minute = time.Unix(minute*60, 0).UTC()
		u.Cost = llm.Money(cost)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: minute usage: %w", err)
	}
	return out, nil
}

// PromptReuse finds repeated prompt hashes and the gaps between their uses
// with a window function (LAG over each tenant, route, model and hash, in
// time order), aggregated in SQL.
func (s *LedgerStore) PromptReuse(ctx context.Context, q ledger.ReuseQuery) ([]ledger.PromptReuse, error) {
	ttl := q.ResponseTTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	where, args := timeWhere(answered+` AND r.prompt_hash != ''`, nil, q.ProfileQuery)
	const m5, m60 = int64(5 * time.Minute / time.Microsecond), int64(time.Hour / time.Microsecond)
	ttlUS := ttl.Microseconds()
	args = append(args, m5, m5, m60, m60, ttlUS, ttlUS)
	rows, err := s.db.rdb.QueryContext(ctx, `WITH u AS (
		SELECT r.tenant, r.route, r.model, r.prompt_hash, r.cache, r.cost_nano,
			`+promptSQL+` AS prompt, r.cache_read_tokens AS cr, r.cache_write_tokens AS cw,
			r.time_us - LAG(r.time_us) OVER (
				PARTITION BY r.tenant, r.route, r.model, r.prompt_hash ORDER BY r.time_us, r.id) AS gap
		FROM requests r WHERE `+where+`
	)
	SELECT tenant, route, model, prompt_hash, COUNT(*), MIN(prompt), SUM(prompt), SUM(cr), SUM(cw),
		COALESCE(SUM(gap <= ?), 0), COALESCE(SUM(gap > ? AND gap <= ?), 0), COALESCE(SUM(gap > ?), 0),
		SUM(cache = 'hit'),
		COALESCE(SUM(gap <= ? AND cache != 'hit'), 0),
		COALESCE(SUM(CASE WHEN gap <= ? AND cache != 'hit' THEN cost_nano END), 0),
		SUM(cost_nano)
	FROM u
	GROUP BY tenant, route, model, prompt_hash
	HAVING COUNT(*) >= 2
	ORDER BY COUNT(*) DESC, tenant, route, model, prompt_hash`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prompt reuse: %w", err)
	}
	defer rows.Close()
	var out []ledger.PromptReuse
	for rows.Next() {
		var (
			p                ledger.PromptReuse
			repeatCost, cost int64
		)
		if err := rows.Scan(&p.Tenant, &p.Route, &p.Model, &p.PromptHash, &p.Uses, &p.MinPromptTokens, &p.PromptTokens,
			&p.CacheReadTokens, &p.CacheWriteTokens, &p.GapsWithin5m, &p.Gaps5to60m, &p.GapsOver60m,
			&p.Hits, &p.RepeatsWithinTTL, &repeatCost, &cost); err != nil {
			return nil, fmt.Errorf("sqlite: prompt reuse: %w", err)
		}
		p.RepeatCost, p.Cost = llm.Money(repeatCost), llm.Money(cost)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: prompt reuse: %w", err)
	}
	return out, nil
}

// UsageGroups groups answered requests (response-cache hits excluded: they
// cost nothing and drew on no capacity) in SQL. The tolerance, slowness and
// long-context flags are computed per record from bound arguments.
func (s *LedgerStore) UsageGroups(ctx context.Context, q ledger.GroupQuery) ([]ledger.UsageGroup, error) {
	slow := q.SlowAfter
	if slow <= 0 {
		slow = time.Minute
	}
	var args []any
	tolerant := "0"
	if len(q.TolerantWords) > 0 {
		var conds []string
		for _, w := range q.TolerantWords {
			pat := "%" + strings.ToLower(w) + "%"
			conds = append(conds, `lower(r.tenant) LIKE ?`)
			args = append(args, pat)
		}
		var tagConds []string
		for _, w := range q.TolerantWords {
			pat := "%" + strings.ToLower(w) + "%"
			tagConds = append(tagConds, `lower(t.key) LIKE ? OR lower(t.value) LIKE ?`)
			args = append(args, pat, pat)
		}
		tolerant = `(` + strings.Join(conds, " OR ") + ` OR EXISTS (SELECT 1 FROM request_tags t
			WHERE t.request_id = r.id AND (` + strings.Join(tagConds, " OR ") + `)))`
	}
	args = append(args, slow.Microseconds())
	long := "0"
	if len(q.LongContext) > 0 {
		models := make([]string, 0, len(q.LongContext))
		for m := range q.LongContext {
			models = append(models, m)
		}
		sort.Strings(models)
		var b strings.Builder
		b.WriteString("CASE r.model")
		for _, m := range models {
			b.WriteString(" WHEN ? THEN " + promptSQL + " > ?")
			args = append(args, m, q.LongContext[m])
		}
		b.WriteString(" ELSE 0 END")
		long = b.String()
	}
	where, args := timeWhere(answered+` AND r.cache != 'hit'`, args, q.ProfileQuery)
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT r.route, r.model, r.tenant, r.api,
		CASE r.mode WHEN '' THEN 'on_demand' ELSE r.mode END AS mode,
		CASE r.service_tier WHEN '' THEN 'default' ELSE r.service_tier END AS tier,
		`+tolerant+` AS tolerant, r.latency_us >= ? AS slow, `+long+` AS long,
		COUNT(*), SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.cache_read_tokens), SUM(r.cache_write_tokens),
		SUM(r.cache_write_1h_tokens), SUM(r.cost_nano), SUM(r.baseline_cost_nano),
		SUM(r.max_tokens > 0), SUM(r.max_tokens), SUM(CASE WHEN r.max_tokens > 0 THEN r.output_tokens ELSE 0 END),
		SUM(r.max_tokens > 0 AND r.output_tokens >= r.max_tokens), MAX(r.output_tokens)
	FROM requests r WHERE `+where+`
	GROUP BY r.route, r.model, r.tenant, r.api, mode, tier, tolerant, slow, long
	ORDER BY SUM(r.cost_nano) DESC, r.route, r.model, r.tenant, r.api, mode, tier, tolerant, slow, long`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage groups: %w", err)
	}
	defer rows.Close()
	var out []ledger.UsageGroup
	for rows.Next() {
		var (
			g          ledger.UsageGroup
			cost, base int64
		)
		if err := rows.Scan(&g.Route, &g.Model, &g.Tenant, &g.API, &g.Mode, &g.ServiceTier, &g.Tolerant, &g.Slow, &g.Long,
			&g.Requests, &g.InputTokens, &g.OutputTokens, &g.CacheReadTokens, &g.CacheWriteTokens, &g.CacheWrite1hTokens,
			&cost, &base, &g.WithMaxTokens, &g.MaxTokensSum, &g.OutputOfLimited, &g.AtLimit, &g.MaxOutput); err != nil {
			return nil, fmt.Errorf("sqlite: usage groups: %w", err)
		}
		g.Cost, g.BaselineCost = llm.Money(cost), llm.Money(base)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: usage groups: %w", err)
	}
	return out, nil
}
