package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
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
			switch format {
			case "table", "json", "csv":
			default:
				return fmt.Errorf("--format %q is not table, json or csv", format)
			}
			now := time.Now()
			q, err := ledger.ParseQuery(by, since, until, now, "--")
			if err != nil {
				return err
			}
			q.Tenant = tenant
			ldb, err := openLedger(db)
			if err != nil {
				return err
			}
			defer ldb.Close()
			store := sqlite.NewLedgerStore(ldb)
			rows, tot, err := ledger.SummarizeWithTotal(cmd.Context(), store, q)
			if err != nil {
				return err
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

// writeReport writes rows and their total in format (table, json or csv).
// JSON carries exact money (9 decimals, as strings); table and CSV round it
// to 6 decimals. CSV has no total row, so that every line is a group.
func writeReport(w io.Writer, format, by string, rows []ledger.Summary, total ledger.Summary, pt []ptRow) error {
	places := 6
	if format == "json" {
		places = 9
	}
	rep := ledger.NewReport(by, rows, total, places)
	out, tot := rep.Rows, rep.Total
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			ledger.Report
			Provisioned []ptRow `json:"provisioned,omitempty"`
		}{rep, pt})
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
