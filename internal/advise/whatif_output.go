package advise

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/texttable"
)

func moves(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

func diffPercent(r RouteWhatIf) string {
	if r.Recorded <= 0 {
		return "—"
	}
	return fmt.Sprintf("%+.1f%%", float64(r.Difference())*100/float64(r.Recorded))
}

// WriteWhatIfTable prints recorded and counterfactual cost per route, side
// by side, then how each route was mapped and what cannot be known.
func WriteWhatIfTable(w io.Writer, rep *WhatIfReport) error {
	from := "the first record"
	if !rep.Since.IsZero() {
		from = rep.Since.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "penny whatif: recorded traffic from %s to %s re-priced under the candidate configuration\n\n",
		from, rep.Until.UTC().Format(time.RFC3339))
	if rep.Total.Requests == 0 {
		fmt.Fprintln(w, "No requests in the ledger for this period.")
		return nil
	}
	rows := [][]string{{"ROUTE", "REQUESTS", "RECORDED $", "WHAT-IF $", "DIFFERENCE $", "DIFF", "CACHE HITS", "MODEL MOVES"}}
	for _, r := range append(rep.Routes, rep.Total) {
		what := dollars(r.Counterfactual)
		if !r.Exact {
			what += " (est.)"
		}
		rows = append(rows, []string{orNone(r.Route), strconv.FormatInt(r.Requests, 10), dollars(r.Recorded), what,
			dollars(r.Difference()), diffPercent(r), fmt.Sprintf("%d → %d", r.RecordedHits, r.Hits), moves(r.Moves)})
	}
	if err := texttable.Write(w, rows, 2); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nHow requests were mapped:")
	for _, r := range rep.Routes {
		fmt.Fprintf(w, "  %s: %s\n", orNone(r.Route), strings.Join(r.How, "; "))
	}
	if len(rep.Quality) > 0 {
		fmt.Fprintln(w, "\nQuality of the models requests moved to (eval results):")
		for _, f := range rep.Quality {
			fmt.Fprintf(w, "  %s: %s\n", f.Name, f.Value)
		}
	}
	fmt.Fprintln(w, "\nWhat this cannot know:")
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "  - %s\n", n)
	}
	return nil
}

type jsonRouteWhatIf struct {
	Route          string           `json:"route"`
	Requests       int64            `json:"requests"`
	Recorded       string           `json:"recorded_usd"`
	Counterfactual string           `json:"whatif_usd"`
	Difference     string           `json:"difference_usd"`
	Exact          bool             `json:"exact"`
	RecordedHits   int64            `json:"recorded_cache_hits"`
	Hits           int64            `json:"whatif_cache_hits"`
	Moves          map[string]int64 `json:"model_moves"`
	How            []string         `json:"how"`
}

func toJSONWhatIf(r RouteWhatIf) jsonRouteWhatIf {
	return jsonRouteWhatIf{Route: r.Route, Requests: r.Requests, Recorded: r.Recorded.Exact(),
		Counterfactual: r.Counterfactual.Exact(), Difference: r.Difference().Exact(), Exact: r.Exact,
		RecordedHits: r.RecordedHits, Hits: r.Hits, Moves: r.Moves, How: r.How}
}

// WriteWhatIfJSON writes the re-pricing with exact money strings.
func WriteWhatIfJSON(w io.Writer, rep *WhatIfReport) error {
	out := struct {
		Routes  []jsonRouteWhatIf `json:"routes"`
		Total   jsonRouteWhatIf   `json:"total"`
		Quality []Figure          `json:"quality"`
		Notes   []string          `json:"notes"`
	}{Routes: []jsonRouteWhatIf{}, Total: toJSONWhatIf(rep.Total), Quality: rep.Quality, Notes: rep.Notes}
	for _, r := range rep.Routes {
		out.Routes = append(out.Routes, toJSONWhatIf(r))
	}
	if out.Quality == nil {
		out.Quality = []Figure{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
