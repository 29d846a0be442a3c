package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// penny runs the CLI with args as the binary would and returns its stdout.
func penny(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetArgs(args)
	err := root.Execute()
	return stdout.String(), err
}

func mustPenny(t *testing.T, args ...string) string {
	t.Helper()
	out, err := penny(t, args...)
	if err != nil {
		t.Fatalf("penny %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func TestHelpListsEveryCommand(t *testing.T) {
	out := mustPenny(t, "--help")
	root := newRoot(nil, nil)
	want := []string{"serve", "demo", "report", "models", "bench"}
	for _, c := range root.Commands() {
		want = append(want, c.Name())
	}
	for _, name := range want {
		if !regexp.MustCompile(`(?m)^\s+` + name + `\s+\S`).MatchString(out) {
			t.Errorf("penny --help does not list %q:\n%s", name, out)
		}
	}
}

func TestModels(t *testing.T) {
	table := mustPenny(t, "models")
	if !regexp.MustCompile(`(?m)^nova-micro\s+economy\s+128k\s+0\.035\s+0\.14\s`).MatchString(table) {
		t.Errorf("models table has no nova-micro row at $0.035 in / $0.14 out:\n%s", table)
	}

	var doc struct {
		Models []struct {
			ID           string            `json:"id"`
			Prices       map[string]string `json:"prices_usd_per_million_tokens"`
			Capabilities map[string]any    `json:"capabilities"`
		} `json:"models"`
	}
	out := mustPenny(t, "models", "--format", "json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("models --format json: %v\n%s", err, out)
	}
	found := false
	for _, m := range doc.Models {
		if m.ID != "nova-micro" {
			continue
		}
		found = true
		if m.Prices["input"] != "0.035" || m.Prices["output"] != "0.14" {
			t.Errorf("nova-micro prices = %v", m.Prices)
		}
		if m.Capabilities["streaming"] != true || m.Capabilities["prompt_cache"] == nil {
			t.Errorf("nova-micro capabilities = %v, want snake_case keys", m.Capabilities)
		}
	}
	if !found {
		t.Error("models --format json has no nova-micro")
	}

	if _, err := penny(t, "models", "--format", "xml"); err == nil || !strings.Contains(err.Error(), `--format "xml"`) {
		t.Errorf("models --format xml: err = %v", err)
	}
}

// jsonReport is the shape of `penny report --format json`.
type jsonReport struct {
	By    string    `json:"by"`
	Rows  []jsonRow `json:"rows"`
	Total jsonRow   `json:"total"`
}

type jsonRow struct {
	Key            string   `json:"key"`
	Requests       int64    `json:"requests"`
	Errors         int64    `json:"errors"`
	InputTokens    int64    `json:"input_tokens"`
	CostUSD        string   `json:"cost_usd"`
	BaselineUSD    string   `json:"baseline_cost_usd"`
	SavingsUSD     string   `json:"savings_usd"`
	SavingsPercent *float64 `json:"savings_percent"`
}

func sameRow(a, b jsonRow) bool {
	pa, pb := a.SavingsPercent, b.SavingsPercent
	a.SavingsPercent, b.SavingsPercent = nil, nil
	return a == b && (pa == nil) == (pb == nil) && (pa == nil || *pa == *pb)
}

// nanos parses a 9-decimal dollar string back into exact Money.
func nanos(t *testing.T, s string) llm.Money {
	t.Helper()
	if !regexp.MustCompile(`^-?\d+\.\d{9}$`).MatchString(s) {
		t.Fatalf("money %q does not have exactly 9 decimals", s)
	}
	n, err := strconv.ParseInt(strings.Replace(s, ".", "", 1), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return llm.Money(n)
}

// demoFigures reads a row of the demo's first side-by-side table (the
// routing story): its four values, one per route.
func demoFigures(t *testing.T, out, label string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `((?:\s{2,}\S+(?: / \S+)?){4})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo output has no %q row:\n%s", label, out)
	}
	return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(m[1]), -1)
}

// demoRoutes are the routes of the demo's routing story, in the order of
// its table's columns.
var demoRoutes = []string{"support-all-pro", "support", "support-learned", "support-agent"}

func TestDemoThenReport(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	demoOut := mustPenny(t, "demo", "--requests", "30", "--time-scale", "0", "--quiet", "--concurrency", "4", "--db", db)
	if r := demoFigures(t, demoOut, "requests"); strings.Join(r, " ") != "30 30 30 30" {
		t.Fatalf("demo requests = %v; want 30 each\n%s", r, demoOut)
	}
	demoCost, demoIn := map[string]string{}, map[string]string{}
	costs, tokens := demoFigures(t, demoOut, "cost"), demoFigures(t, demoOut, "input / output tokens")
	for i, r := range demoRoutes {
		demoCost[r] = costs[i]
		demoIn[r], _, _ = strings.Cut(tokens[i], " / ")
	}
	// Six routes of 30 requests, the moderation route's 30 posts on demand
	// and 30 in a batch job, and the router's training labels: 600
	// prompts answered by two models, each answer graded.
	const requests = 8*30 + 4*600

	report := func(t *testing.T, by, format string) string {
		t.Helper()
		return mustPenny(t, "report", "--db", db, "--by", by, "--format", format)
	}

	// The exact figures per route must be what the demo printed.
	var byRoute jsonReport
	if err := json.Unmarshal([]byte(report(t, "route", "json")), &byRoute); err != nil {
		t.Fatal(err)
	}
	if len(byRoute.Rows) != 8 {
		t.Fatalf("report by route: %+v", byRoute.Rows)
	}
	var routeSum llm.Money
	for _, r := range byRoute.Rows {
		routeSum += nanos(t, r.CostUSD)
		if _, ok := demoCost[r.Key]; !ok {
			continue // the caching story's routes: checked in internal/demo
		}
		if got := fmt.Sprintf("$%.4f", nanos(t, r.CostUSD).Dollars()); got != demoCost[r.Key] {
			t.Errorf("route %s: report cost %s (%s), demo printed %s", r.Key, r.CostUSD, got, demoCost[r.Key])
		}
		if got := strconv.FormatInt(r.InputTokens, 10); got != demoIn[r.Key] {
			t.Errorf("route %s: report input tokens %s, demo printed %s", r.Key, got, demoIn[r.Key])
		}
	}
	total := byRoute.Total
	if total.Requests != requests || total.Errors != 0 || total.Key != "TOTAL" {
		t.Fatalf("report total = %+v, want %d requests, no errors", total, requests)
	}
	totalCost := nanos(t, total.CostUSD)
	if routeSum != totalCost {
		t.Errorf("route costs add up to %s, total %s", routeSum, total.CostUSD)
	}
	if p := total.SavingsPercent; p == nil || *p <= 0 || *p >= 100 {
		t.Errorf("total savings_percent = %v, want a number between 0 and 100", p)
	}

	groupings := []struct {
		by   string
		rows int // how many groups
		// copies is how many groups each record counts in: "tag" counts a
		// record once per tag, and every demo request has two.
		copies int64
	}{
		{"model", 3, 1},
		{"route", 8, 1}, // seven and none (the training labels)
		{"tenant", 1, 1},
		// support|caching|router-training|router-judge|moderation-on-demand|moderation-batch (batch
		// records carry penny_batch and penny_batch_id tags besides: "tag" counts them four times)
		{"tag:demo", 6, 1},
		{"day", 1, 1}, // unless the test runs across midnight UTC
		{"tag:app", 3, 1},
	}
	for _, g := range groupings {
		t.Run(g.by, func(t *testing.T) {
			var doc jsonReport
			out := report(t, g.by, "json")
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("json: %v\n%s", err, out)
			}
			if doc.By != g.by || !sameRow(doc.Total, total) {
				t.Errorf("json: by %q total %+v; want %q %+v", doc.By, doc.Total, g.by, total)
			}
			if len(doc.Rows) != g.rows && !(g.by == "day" && len(doc.Rows) == 2) {
				t.Errorf("json: %d rows, want %d: %+v", len(doc.Rows), g.rows, doc.Rows)
			}
			var sum llm.Money
			var requests int64
			for _, r := range doc.Rows {
				sum += nanos(t, r.CostUSD)
				requests += r.Requests
			}
			if sum != llm.Money(g.copies)*totalCost || requests != g.copies*total.Requests {
				t.Errorf("json: rows add up to %d requests, %s; want %d × total %d, %s", requests, sum, g.copies, total.Requests, totalCost)
			}

			records, err := csv.NewReader(strings.NewReader(report(t, g.by, "csv"))).ReadAll()
			if err != nil {
				t.Fatalf("csv: %v", err)
			}
			if len(records) != len(doc.Rows)+1 || records[0][0] != g.by || records[0][7] != "cost_usd" {
				t.Fatalf("csv: want a header and %d rows, got %q", len(doc.Rows), records)
			}
			sixDecimals := regexp.MustCompile(`^-?\d+\.\d{6}$`)
			for i, rec := range records[1:] {
				if rec[0] != doc.Rows[i].Key {
					t.Errorf("csv row %d key %q, json %q", i, rec[0], doc.Rows[i].Key)
				}
				for _, money := range rec[7:10] {
					if !sixDecimals.MatchString(money) {
						t.Errorf("csv row %d: money %q is not at 6 decimals", i, money)
					}
				}
				if rec[7] != ledger.USDFixed(nanos(t, doc.Rows[i].CostUSD), 6) {
					t.Errorf("csv row %d: cost %s, json %s", i, rec[7], doc.Rows[i].CostUSD)
				}
				if _, err := strconv.ParseFloat(rec[10], 64); err != nil {
					t.Errorf("csv row %d: savings_percent %q is not a number", i, rec[10])
				}
				for _, cell := range rec {
					if cell == "TOTAL" || strings.Contains(cell, "—") {
						t.Errorf("csv row %d has %q: %q", i, cell, rec)
					}
				}
			}

			table := report(t, g.by, "table")
			lines := strings.Split(strings.TrimSpace(table), "\n")
			if !strings.HasPrefix(lines[0], strings.ToUpper(g.by)+" ") {
				t.Errorf("table header %q", lines[0])
			}
			totalLine := regexp.MustCompile(`(?m)^TOTAL\s+` + strconv.FormatInt(total.Requests, 10) + `\s+0\s.*\s` + regexp.QuoteMeta(ledger.USDFixed(totalCost, 6)) + `\s`)
			if !totalLine.MatchString(table) {
				t.Errorf("table has no TOTAL row with %d requests and cost %s:\n%s", total.Requests, ledger.USDFixed(totalCost, 6), table)
			}
			// Right-aligned figures end in the same column.
			width := len([]rune(lines[0]))
			for _, l := range lines[1 : len(doc.Rows)+2] {
				if len([]rune(l)) != width {
					t.Errorf("table row %q is not as wide as the header (%d)", l, width)
				}
			}
		})
	}
}

func TestReportErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	mustPenny(t, "demo", "--requests", "1", "--concurrency", "1", "--time-scale", "0", "--quiet", "--db", empty)
	missing := filepath.Join(dir, "missing.db")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing ledger", []string{"--db", missing}, "no ledger at " + missing + " (run penny serve or penny demo first)"},
		{"missing ledger URL", []string{"--db", "sqlite://" + missing}, "no ledger at " + missing},
		{"missing directory", []string{"--db", filepath.Join(dir, "nope", "penny.db")}, "no ledger at "},
		{"postgres", []string{"--db", "postgres://localhost/penny"}, "PostgreSQL ledgers are not supported yet; use sqlite://"},
		{"bad --by", []string{"--db", empty, "--by", "colour"},
			`--by "colour" is not one of model, route, tenant, key, day, api, status, provider, mode, tier, upstream, cache, strategy, tag, tag:KEY, all`},
		{"bad --since", []string{"--db", empty, "--since", "yesterday"}, `--since: "yesterday" is not a duration`},
		{"negative --since", []string{"--db", empty, "--since", "-2h"}, "--since: "},
		{"bad --until", []string{"--db", empty, "--until", "soon"}, "--until: "},
		{"--until before --since", []string{"--db", empty, "--since", "2026-01-02", "--until", "2026-01-01"}, "is not after --since"},
		{"bad --format", []string{"--db", empty, "--format", "xml"}, `--format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := penny(t, append([]string{"report"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("report created the missing ledger")
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); err == nil {
		t.Error("report created the missing directory")
	}

	// A period with no requests: a message, an empty CSV, JSON with no rows.
	old := []string{"report", "--db", empty, "--since", "2000-01-01", "--until", "2000-01-02"}
	if out := mustPenny(t, old...); !strings.Contains(out, "No requests") {
		t.Errorf("empty period, table: %q", out)
	}
	if out := mustPenny(t, append(old, "--format", "csv")...); strings.Count(out, "\n") != 1 {
		t.Errorf("empty period, csv: %q, want the header only", out)
	}
	var doc jsonReport
	if err := json.Unmarshal([]byte(mustPenny(t, append(old, "--format", "json")...)), &doc); err != nil || doc.Rows == nil || len(doc.Rows) != 0 || doc.Total.SavingsPercent != nil {
		t.Errorf("empty period, json: %+v, %v; want rows [] and savings_percent null", doc, err)
	}
}

func TestDemoFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--time-scale", "-1"},
		{"--requests", "0"},
		{"--concurrency", "0"},
	} {
		if _, err := penny(t, append([]string{"demo", "--quiet"}, args...)...); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("demo %v: err = %v, want it to name %s", args, err, args[0])
		}
	}
}

// Summaries with no baseline have no savings percentage: null in JSON, an
// empty cell in CSV, "—" in the table.
func TestWriteReportNoBaseline(t *testing.T) {
	rows := []ledger.Summary{
		{Key: "nova-lite", Requests: 2, Cost: 1_500, BaselineCost: 6_000, Savings: 4_500},
		{Key: "", Requests: 1, Cost: 700, Savings: -700},
	}
	total := ledger.Total(rows)

	var js bytes.Buffer
	if err := writeReport(&js, "json", "model", rows, total, nil); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(js.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if p := raw.Rows[0]["savings_percent"]; p != 75.0 {
		t.Errorf("savings_percent = %#v, want the number 75", p)
	}
	if p, ok := raw.Rows[1]["savings_percent"]; !ok || p != nil {
		t.Errorf("savings_percent = %#v, want null", p)
	}
	if c := raw.Rows[0]["cost_usd"]; c != "0.000001500" {
		t.Errorf("cost_usd = %#v, want \"0.000001500\"", c)
	}
	if k := raw.Rows[1]["key"]; k != ledger.NoneLabel {
		t.Errorf("key = %#v, want %q", k, ledger.NoneLabel)
	}

	var cs bytes.Buffer
	if err := writeReport(&cs, "csv", "model", rows, total, nil); err != nil {
		t.Fatal(err)
	}
	want := "model,requests,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,baseline_cost_usd,savings_usd,savings_percent,avg_latency_ms\n" +
		"nova-lite,2,0,0,0,0,0,0.000002,0.000006,0.000005,75.0,0.0\n" +
		"(none),1,0,0,0,0,0,0.000001,0.000000,-0.000001,,0.0\n"
	if cs.String() != want {
		t.Errorf("csv:\n%s\nwant:\n%s", cs.String(), want)
	}

	var tb bytes.Buffer
	if err := writeReport(&tb, "table", "model", rows, total, nil); err != nil {
		t.Fatal(err)
	}
	wantTable := "" +
		"MODEL      REQUESTS  ERRORS  INPUT TOK  OUTPUT TOK  CACHE R/W TOK    COST $  BASELINE $    SAVED $  SAVED  AVG MS\n" +
		"nova-lite         2       0          0           0            0/0  0.000002    0.000006   0.000005  75.0%       0\n" +
		"(none)            1       0          0           0            0/0  0.000001    0.000000  -0.000001      —       0\n" +
		"TOTAL             3       0          0           0            0/0  0.000002    0.000006   0.000004  63.3%       0\n"
	if tb.String() != wantTable {
		t.Errorf("table:\n%s\nwant:\n%s", tb.String(), wantTable)
	}
}
