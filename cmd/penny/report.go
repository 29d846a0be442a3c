package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/ledger/sqlite"
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

  --by model|route|tenant|key|day|api|status|provider|mode|cache|tag|tag:KEY|all
  --since 24h | 7d | 2026-11-01 | 2026-11-01T10:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("db") {
				if cfg, err := loadConfig(cfgPath); err == nil {
					db = cfg.Database
				} else if cfgPath != "" {
					return err
				}
			}
			now := time.Now()
			q := ledger.SummaryQuery{By: by, Tenant: tenant}
			var err error
			if q.Since, err = parseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if until != "" {
				if q.Until, err = parseWhen(until, now); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			store, err := sqlite.OpenURL(db)
			if err != nil {
				return err
			}
			defer store.Close()
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
			return writeReport(cmd.OutOrStdout(), format, by, rows, tot)
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "24h", "start: a duration back from now (24h, 7d) or a date/time")
	f.StringVar(&until, "until", "", "end (exclusive), same forms as --since; default now")
	f.StringVar(&by, "by", "model", "grouping")
	f.StringVar(&format, "format", "table", "table, json or csv")
	f.StringVar(&db, "db", "sqlite://penny.db", "ledger database URL")
	f.StringVar(&tenant, "tenant", "", "only this tenant")
	f.StringVar(&cfgPath, "config", "", "config file whose database to read")
	return cmd
}

// parseWhen accepts "24h", "7d", "2026-11-01" or RFC 3339.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a duration (24h, 7d) or a date (2006-01-02, RFC 3339)", s)
}

func pct(saved, base int64) string {
	if base <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", float64(saved)*100/float64(base))
}

type reportRow struct {
	Key              string  `json:"key"`
	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"`
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	CacheReadTokens  int64   `json:"cache_read_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	CostUSD          string  `json:"cost_usd"`
	BaselineCostUSD  string  `json:"baseline_cost_usd"`
	SavingsUSD       string  `json:"savings_usd"`
	SavingsPercent   string  `json:"savings_percent"`
	AvgLatencyMS     float64 `json:"avg_latency_ms"`
}

func toRow(s ledger.Summary) reportRow {
	return reportRow{Key: s.Label(), Requests: s.Requests, Errors: s.Errors, InputTokens: s.InputTokens,
		OutputTokens: s.OutputTokens, CacheReadTokens: s.CacheReadTokens, CacheWriteTokens: s.CacheWriteTokens,
		CostUSD: s.Cost.String(), BaselineCostUSD: s.BaselineCost.String(), SavingsUSD: s.Savings.String(),
		SavingsPercent: pct(int64(s.Savings), int64(s.BaselineCost)),
		AvgLatencyMS:   float64(s.AvgLatency.Microseconds()) / 1000}
}

func writeReport(w io.Writer, format, by string, rows []ledger.Summary, total ledger.Summary) error {
	out := make([]reportRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, toRow(r))
	}
	tot := toRow(total)
	tot.Key = "TOTAL"
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"by": by, "rows": out, "total": tot})
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{by, "requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd", "baseline_cost_usd", "savings_usd", "savings_percent", "avg_latency_ms"})
		for _, r := range append(out, tot) {
			cw.Write([]string{r.Key, fmt.Sprint(r.Requests), fmt.Sprint(r.Errors), fmt.Sprint(r.InputTokens), fmt.Sprint(r.OutputTokens),
				fmt.Sprint(r.CacheReadTokens), fmt.Sprint(r.CacheWriteTokens), r.CostUSD, r.BaselineCostUSD, r.SavingsUSD,
				strings.TrimSuffix(r.SavingsPercent, "%"), fmt.Sprintf("%.1f", r.AvgLatencyMS)})
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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tREQUESTS\tERRORS\tINPUT TOK\tOUTPUT TOK\tCACHE R/W TOK\tCOST $\tBASELINE $\tSAVED $\tSAVED\tAVG MS\t\n", strings.ToUpper(by))
	for _, r := range append(out, tot) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d/%d\t%s\t%s\t%s\t%s\t%.0f\t\n", r.Key, r.Requests, r.Errors, r.InputTokens, r.OutputTokens,
			r.CacheReadTokens, r.CacheWriteTokens, r.CostUSD, r.BaselineCostUSD, r.SavingsUSD, r.SavingsPercent, r.AvgLatencyMS)
	}
	return tw.Flush()
}
