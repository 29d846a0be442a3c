package ledger

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// Report is a summary of the ledger as `penny report --format json` prints
// it and GET /v1/penny/usage answers: the grouped rows and their total.
type Report struct {
	By    string      `json:"by"`
	Rows  []ReportRow `json:"rows"`
	Total ReportRow   `json:"total"`
}

// ReportRow is one group of a Report. Money is in USD, as a string with a
// fixed number of decimals (9, exact, in JSON).
type ReportRow struct {
	Key              string   `json:"key"`
	Requests         int64    `json:"requests"`
	Errors           int64    `json:"errors"`
	InputTokens      int64    `json:"input_tokens"`
	OutputTokens     int64    `json:"output_tokens"`
	CacheReadTokens  int64    `json:"cache_read_tokens"`
	CacheWriteTokens int64    `json:"cache_write_tokens"`
	CostUSD          string   `json:"cost_usd"`
	BaselineCostUSD  string   `json:"baseline_cost_usd"`
	SavingsUSD       string   `json:"savings_usd"`
	SavingsPercent   *float64 `json:"savings_percent"`
	AvgLatencyMS     float64  `json:"avg_latency_ms"`
}

// TotalLabel is the Key of a Report's total row.
const TotalLabel = "TOTAL"

// NewReport turns summaries and their total into a Report with money at
// places decimals (0 to 9). Rows is never nil.
func NewReport(by string, rows []Summary, total Summary, places int) Report {
	r := Report{By: by, Rows: make([]ReportRow, 0, len(rows)), Total: NewReportRow(total, places)}
	for _, s := range rows {
		r.Rows = append(r.Rows, NewReportRow(s, places))
	}
	r.Total.Key = TotalLabel
	return r
}

// NewReportRow converts one summary, with money at places decimals.
func NewReportRow(s Summary, places int) ReportRow {
	return ReportRow{Key: s.Label(), Requests: s.Requests, Errors: s.Errors, InputTokens: s.InputTokens,
		OutputTokens: s.OutputTokens, CacheReadTokens: s.CacheReadTokens, CacheWriteTokens: s.CacheWriteTokens,
		CostUSD: USDFixed(s.Cost, places), BaselineCostUSD: USDFixed(s.BaselineCost, places),
		SavingsUSD:     USDFixed(s.Savings, places),
		SavingsPercent: SavingsPercent(s.Savings, s.BaselineCost),
		AvgLatencyMS:   float64(s.AvgLatency.Microseconds()) / 1000}
}

// Summarizer is the part of a Store a report reads.
type Summarizer interface {
	Summarize(ctx context.Context, q SummaryQuery) ([]Summary, error)
}

// SummarizeWithTotal returns q's groups and their exact total (By "all" over the
// same records: a request with several tags counts once in it).
func SummarizeWithTotal(ctx context.Context, s Summarizer, q SummaryQuery) (rows []Summary, total Summary, err error) {
	if rows, err = s.Summarize(ctx, q); err != nil {
		return nil, Summary{}, err
	}
	all := q
	all.By = ByAll
	tot, err := s.Summarize(ctx, all)
	if err != nil {
		return nil, Summary{}, err
	}
	if len(tot) > 0 {
		total = tot[0]
	}
	return rows, total, nil
}

// ParseQuery reads a report's grouping and period as `penny report` and
// the usage endpoints take them: by one of Groupings, since and until a
// duration back from now ("24h", "7d"), a UTC date or an RFC 3339 time,
// "" for no bound. Errors are of kind llm.KindValidation and name the
// parameter with prefix before it ("--" for flags, "" for a URL query).
func ParseQuery(by, since, until string, now time.Time, prefix string) (SummaryQuery, error) {
	q := SummaryQuery{By: by}
	if _, err := ParseGrouping(by); err != nil {
		return q, llm.Errorf(llm.KindValidation, "%sby %q is not one of %s", prefix, by, strings.Join(Groupings, ", "))
	}
	var err error
	if q.Since, err = ParseWhen(since, now); err != nil {
		return q, llm.Errorf(llm.KindValidation, "%ssince: %v", prefix, err)
	}
	if q.Until, err = ParseWhen(until, now); err != nil {
		return q, llm.Errorf(llm.KindValidation, "%suntil: %v", prefix, err)
	}
	if !q.Until.IsZero() && !q.Until.After(q.Since) {
		return q, llm.Errorf(llm.KindValidation, "%suntil %s is not after %ssince %s",
			prefix, q.Until.Format(time.RFC3339), prefix, q.Since.Format(time.RFC3339))
	}
	return q, nil
}

// ParseWhen accepts "24h", "7d", "2026-11-01" (midnight UTC) or RFC 3339;
// "" is the zero time (no bound).
func ParseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	bad := fmt.Errorf("%q is not a duration (24h, 7d) or a date (2006-01-02, RFC 3339)", s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return time.Time{}, bad
		}
		return now.Add(-time.Duration(n) * 24 * time.Hour), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration back from now must not be negative", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, bad
}

// USDFixed formats m in dollars with exactly places decimals (0 to 9),
// rounding half away from zero, in integer arithmetic so that no amount is
// ever off by a float's rounding.
func USDFixed(m llm.Money, places int) string {
	places = min(max(places, 0), 9)
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u // two's complement: right for math.MinInt64 too
	}
	unit := pow10(9 - places)
	u = u/unit + (u%unit*2)/unit // + 1 when the remainder is at least half
	scale := pow10(places)
	s := strconv.FormatUint(u/scale, 10)
	if places > 0 {
		f := strconv.FormatUint(u%scale, 10)
		s += "." + strings.Repeat("0", places-len(f)) + f
	}
	if neg && u != 0 {
		s = "-" + s
	}
	return s
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// SavingsPercent is saved as a percentage of base, to one decimal, or nil
// when there is no baseline to compare with. It is a ratio for display, not
// money, so a float is fine.
func SavingsPercent(saved, base llm.Money) *float64 {
	if base <= 0 {
		return nil
	}
	p := math.Round(float64(saved)*1000/float64(base)) / 10
	return &p
}
