package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/texttable"
)

func newReport() *cobra.Command {
	var (
		since, until, by, format, db, tenant, cfgPath string
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print cost, baseline cost and savings from the ledger",
		Long: `Print what requests cost, what they would have cost without Penny (the baseline:
the route's baseline model, on demand, no cache) and the savings, grouped by
model, route, tenant, tag, day and more.

  --by ` + strings.Join(ledger.Groupings, "|") + `
  --since 24h | 7d | 2026-11-01 | 2026-11-01T10:00:00Z
  --format table | json | csv

Money is in USD: table and CSV round to 6 decimals, JSON gives the exact
amount (9 decimals) as a string. The table ends with a TOTAL row; JSON has a
"total" object; CSV has the grouped rows only. With --by tag a request with
n tags counts in n rows, while the total counts it once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cfgErr := loadConfig(cfgPath)
			if cfgErr != nil && cfgPath != "" {
				return cfgErr
			}
			if !cmd.Flags().Changed("db") {
				db = cfg.Database
				if cfgErr != nil {
					db = config.Defaults().Database
				}
			}
			now := time.Now()
			q := ledger.SummaryQuery{By: by, Tenant: tenant}
			var err error
			if _, err := ledger.ParseGrouping(by); err != nil {
				return fmt.Errorf("--by %q is not one of %s", by, strings.Join(ledger.Groupings, ", "))
			}
			switch format {
			case "table", "json", "csv":
			default:
				return fmt.Errorf("--format %q is not table, json or csv", format)
			}
			if q.Since, err = parseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if q.Until, err = parseWhen(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if !q.Until.IsZero() && !q.Until.After(q.Since) {
				return fmt.Errorf("--until %s is not after --since %s", q.Until.Format(time.RFC3339), q.Since.Format(time.RFC3339))
			}
			ldb, err := openLedger(db)
			if err != nil {
				return err
			}
			defer ldb.Close()
			store := sqlite.NewLedgerStore(ldb)
			rows, err := store.Summarize(cmd.Context(), q)
			if err != nil {
				return err
			}
			total, err := store.Summarize(cmd.Context(), ledger.SummaryQuery{Since: q.Since, Until: q.Until, Tenant: tenant, By: ledger.ByAll})
			if err != nil {
				return err
			}
			var tot ledger.Summary
			if len(total) > 0 {
				tot = total[0]
			}
			var pt []ptRow
			if cfgErr == nil && tenant == "" {
				if pt, err = provisionedReport(cmd.Context(), store, cfg, q.Since, q.Until, now); err != nil {
					return err
				}
			}
			return writeReport(cmd.OutOrStdout(), format, by, rows, tot, pt)
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "24h", "start: a duration back from now (24h, 7d) or a date/time; \"\" for all time")
	f.StringVar(&until, "until", "", "end (exclusive), same forms as --since; default now")
	f.StringVar(&by, "by", "model", "grouping (the values above)")
	f.StringVar(&format, "format", "table", "table, json or csv")
	f.StringVar(&db, "db", "", "ledger: a sqlite:// URL or a file path (default: the config's database, "+config.Defaults().Database+" unless --config or PENNY_DATABASE sets one)")
	f.StringVar(&tenant, "tenant", "", "only this tenant")
	f.StringVar(&cfgPath, "config", "", "config file whose database to read")
	return cmd
}

// openLedger opens an existing ledger for reading. Unlike sqlite.OpenURL it
// refuses to create a database: a report on a mistyped path would otherwise
// leave an empty file behind and print nothing useful.
func openLedger(url string) (*sqlite.DB, error) {
	path, err := sqlite.ParsePath(url)
	if err != nil {
		return nil, err
	}
	if path != sqlite.MemoryPath {
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("no ledger at %s (run penny serve or penny demo first)", path)
		case err != nil:
			return nil, err
		case fi.IsDir():
			return nil, fmt.Errorf("%s is a directory, not a ledger database", path)
		}
	}
	return sqlite.Open(path)
}

// parseWhen accepts "24h", "7d", "2026-11-01" (midnight UTC) or RFC 3339;
// "" is the zero time (no bound).
func parseWhen(s string, now time.Time) (time.Time, error) {
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

// usdFixed formats m in dollars with exactly places decimals (0 to 9),
// rounding half away from zero, in integer arithmetic so that no amount is
// ever off by a float's rounding.
func usdFixed(m llm.Money, places int) string {
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

// savingsPercent is saved as a percentage of base, to one decimal, or nil
// when there is no baseline to compare with. It is a ratio for display, not
// money, so a float is fine.
func savingsPercent(saved, base llm.Money) *float64 {
	if base <= 0 {
		return nil
	}
	p := math.Round(float64(saved)*1000/float64(base)) / 10
	return &p
}

type reportRow struct {
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

// toRow converts a summary, with money at the given number of decimals.
func toRow(s ledger.Summary, places int) reportRow {
	return reportRow{Key: s.Label(), Requests: s.Requests, Errors: s.Errors, InputTokens: s.InputTokens,
		OutputTokens: s.OutputTokens, CacheReadTokens: s.CacheReadTokens, CacheWriteTokens: s.CacheWriteTokens,
		CostUSD: usdFixed(s.Cost, places), BaselineCostUSD: usdFixed(s.BaselineCost, places),
		SavingsUSD:     usdFixed(s.Savings, places),
		SavingsPercent: savingsPercent(s.Savings, s.BaselineCost),
		AvgLatencyMS:   float64(s.AvgLatency.Microseconds()) / 1000}
}

// writeReport writes rows and their total in format (table, json or csv).
// JSON carries exact money (9 decimals, as strings); table and CSV round it
// to 6 decimals. CSV has no total row, so that every line is a group.
func writeReport(w io.Writer, format, by string, rows []ledger.Summary, total ledger.Summary, pt []ptRow) error {
	places := 6
	if format == "json" {
		places = 9
	}
	out := make([]reportRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, toRow(r, places))
	}
	tot := toRow(total, places)
	tot.Key = "TOTAL"
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			By          string      `json:"by"`
			Rows        []reportRow `json:"rows"`
			Total       reportRow   `json:"total"`
			Provisioned []ptRow     `json:"provisioned,omitempty"`
		}{by, out, tot, pt})
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{by, "requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
			"cost_usd", "baseline_cost_usd", "savings_usd", "savings_percent", "avg_latency_ms"})
		for _, r := range out {
			pct := ""
			if r.SavingsPercent != nil {
				pct = strconv.FormatFloat(*r.SavingsPercent, 'f', 1, 64)
			}
			cw.Write([]string{r.Key, itoa(r.Requests), itoa(r.Errors), itoa(r.InputTokens), itoa(r.OutputTokens),
				itoa(r.CacheReadTokens), itoa(r.CacheWriteTokens), r.CostUSD, r.BaselineCostUSD, r.SavingsUSD,
				pct, strconv.FormatFloat(r.AvgLatencyMS, 'f', 1, 64)})
		}
		cw.Flush()
		return cw.Error()
	case "table":
	default:
		return fmt.Errorf("--format %q is not table, json or csv", format)
	}
	if total.Requests == 0 {
		fmt.Fprintln(w, "No requests in the ledger for this period.")
		return nil
	}
	table := [][]string{{strings.ToUpper(by), "REQUESTS", "ERRORS", "INPUT TOK", "OUTPUT TOK", "CACHE R/W TOK",
		"COST $", "BASELINE $", "SAVED $", "SAVED", "AVG MS"}}
	for _, r := range append(out, tot) {
		pct := "—"
		if r.SavingsPercent != nil {
			pct = strconv.FormatFloat(*r.SavingsPercent, 'f', 1, 64) + "%"
		}
		table = append(table, []string{r.Key, itoa(r.Requests), itoa(r.Errors), itoa(r.InputTokens), itoa(r.OutputTokens),
			itoa(r.CacheReadTokens) + "/" + itoa(r.CacheWriteTokens), r.CostUSD, r.BaselineCostUSD, r.SavingsUSD, pct,
			strconv.FormatFloat(r.AvgLatencyMS, 'f', 0, 64)})
	}
	if err := texttable.Write(w, table, 2); err != nil {
		return err
	}
	if by == ledger.ByTag {
		fmt.Fprintln(w, "\nA request with several tags counts once per tag; TOTAL counts it once.")
	}
	writeProvisioned(w, pt)
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
