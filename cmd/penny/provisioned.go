package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/texttable"
)

// ptRow is one Provisioned Throughput purchase over a report window: what
// its commitment cost, what it served, and what that would have cost on
// demand.
type ptRow struct {
	Name       string   `json:"name"`
	ARN        string   `json:"arn"`
	Model      string   `json:"model"`
	ModelUnits int      `json:"model_units"`
	Hours      float64  `json:"hours"`
	Amortised  string   `json:"amortised_cost_usd"`
	OnDemand   string   `json:"on_demand_equivalent_usd"`
	Net        string   `json:"net_saving_usd"`
	Requests   int64    `json:"requests"`
	Tokens     int64    `json:"tokens"`
	Capacity   int64    `json:"capacity_tokens,omitempty"`
	Use        *float64 `json:"utilisation_percent"`
}

// provisionedReport prices each configured Provisioned Throughput over
// [since, until): the hours of the window after its start, at its hourly
// price per model unit, against the on-demand price of the tokens its ARN
// served (from the ledger's upstream model), and its utilisation when the
// config gives its capacity per model unit.
func provisionedReport(ctx context.Context, store ledger.Store, cfg config.Config, since, until, now time.Time) ([]ptRow, error) {
	if len(cfg.Provisioned) == 0 {
		return nil, nil
	}
	cat, err := cfg.LoadCatalog()
	if err != nil {
		return nil, err
	}
	sums, err := store.Summarize(ctx, ledger.SummaryQuery{Since: since, Until: until, By: ledger.ByUpstream})
	if err != nil {
		return nil, err
	}
	if until.IsZero() {
		until = now
	}
	var rows []ptRow
	for _, p := range cfg.Provisioned {
		start := since
		if p.Since != "" {
			s, _ := time.Parse("2006-01-02", p.Since) // validated by config
			if s.After(start) {
				start = s
			}
		}
		d := until.Sub(start)
		if start.IsZero() {
			d = 0 // an unbounded window and no start date: no hours to charge
		}
		hourly, _ := catalog.ParseDollars(p.HourlyUSD)
		amort := catalog.Amortised(hourly, p.ModelUnits, d)
		var s ledger.Summary
		for _, x := range sums {
			if x.Key == p.ARN {
				s = x
			}
		}
		var onDemand llm.Money
		if t, err := cat.Resolve(p.Model); err == nil && t.Model != nil {
			onDemand, _ = t.Model.Cost(llm.Usage{InputTokens: int(s.InputTokens), OutputTokens: int(s.OutputTokens),
				CacheReadTokens: int(s.CacheReadTokens), CacheWriteTokens: int(s.CacheWriteTokens)}, catalog.Terms{})
		}
		name := p.Name
		if name == "" {
			name = p.ARN[strings.LastIndex(p.ARN, "/")+1:]
		}
		r := ptRow{Name: name, ARN: p.ARN, Model: p.Model, ModelUnits: p.ModelUnits, Hours: d.Hours(),
			Amortised: ledger.USDFixed(amort, 6), OnDemand: ledger.USDFixed(onDemand, 6), Net: ledger.USDFixed(onDemand-amort, 6),
			Requests: s.Requests, Tokens: s.InputTokens + s.OutputTokens + s.CacheReadTokens + s.CacheWriteTokens}
		if p.CapacityTPM > 0 && d > 0 {
			r.Capacity = int64(float64(p.CapacityTPM*p.ModelUnits) * d.Minutes())
			u := 100 * float64(r.Tokens) / float64(r.Capacity)
			r.Use = &u
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// writeProvisioned prints the Provisioned Throughput block under a table
// report.
func writeProvisioned(w io.Writer, rows []ptRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nProvisioned Throughput (commitment amortised over the window; requests through it cost nothing per token):")
	t := [][]string{{"name", "model", "units", "hours", "amortised", "on-demand equiv.", "net saving", "requests", "tokens", "utilisation"}}
	for _, r := range rows {
		use := "unknown (set capacity_tpm)"
		if r.Use != nil {
			use = fmt.Sprintf("%.1f %%", *r.Use)
		}
		t = append(t, []string{r.Name, r.Model, fmt.Sprint(r.ModelUnits), fmt.Sprintf("%.1f", r.Hours), r.Amortised, r.OnDemand, r.Net,
			fmt.Sprint(r.Requests), fmt.Sprint(r.Tokens), use})
	}
	texttable.WriteLeft(w, t, 2, 2)
}
