package advise

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/texttable"
)

// dollars formats money for tables: dollars to the cent from $100, to four
// decimals from a cent, else six (Money.String), rounded half away from
// zero in integer arithmetic.
func dollars(m llm.Money) string {
	a := max(m, -m)
	var unit llm.Money
	switch {
	case a >= 100*llm.Dollar:
		unit = llm.Dollar / 100
	case a >= llm.Dollar/100:
		unit = llm.Dollar / 10_000
	default:
		unit = llm.Dollar / 1_000_000
	}
	r := (a + unit/2) / unit * unit
	if m < 0 {
		r = -r
	}
	s := r.String() // at least six decimals
	dot := strings.IndexByte(s, '.')
	keep := map[llm.Money]int{llm.Dollar / 100: 2, llm.Dollar / 10_000: 4, llm.Dollar / 1_000_000: 6}[unit]
	return "$" + s[:dot+1+keep]
}

func saving(r Recommendation) string {
	if !r.Known {
		return "unknown"
	}
	s := dollars(r.MonthlySaving)
	if r.Estimated {
		s += " (est.)"
	}
	return s
}

func amount(a catalog.Amount) string {
	if !a.Known {
		return "unknown"
	}
	return dollars(a.Money)
}

// WriteTable prints the report for a terminal: the ranked table, then each
// recommendation's figures, the ladder and the notes.
func WriteTable(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "penny advise: %d requests, %s, from %s to %s (%s of traffic); monthly figures are that window extrapolated to 30 days (× %.1f)\n\n",
		rep.Requests, dollars(rep.Cost), when(rep.Since, rep.Until.Add(-rep.Span)), rep.Until.UTC().Format(time.RFC3339),
		rep.Span.Round(time.Second), rep.Scale)
	if len(rep.Recommendations) == 0 {
		fmt.Fprintln(w, "No recommendations: the window holds no traffic the advisor can improve on.")
	} else {
		rows := [][]string{{"#", "KIND", "SUBJECT", "SAVED / MONTH"}}
		for i, r := range rep.Recommendations {
			rows = append(rows, []string{strconv.Itoa(i + 1), r.Kind, r.Subject(), saving(r)})
		}
		if err := texttable.WriteLeft(w, rows, 2, 3); err != nil {
			return err
		}
		for i, r := range rep.Recommendations {
			fmt.Fprintf(w, "\n%d. %s — %s: %s\n", i+1, r.Kind, r.Subject(), saving(r))
			fmt.Fprintf(w, "   do: %s\n", r.Action)
			for _, f := range r.Evidence {
				fmt.Fprintf(w, "   %s: %s\n", f.Name, f.Value)
			}
			fmt.Fprintf(w, "   confidence: %s\n", r.Confidence)
		}
	}
	if l := rep.Ladder; l != nil {
		vol := "given"
		if l.VolumeObserved {
			vol = "observed, extrapolated"
		}
		fmt.Fprintf(w, "\nCustomization ladder for %s at %d requests a month (%s), %d input and %d output tokens each:\n",
			l.Model, l.VolumePerMonth, vol, l.InputTokens, l.OutputTokens)
		rows := [][]string{{"RUNG", "OFFERED", "ONE-TIME", "MONTHLY"}}
		for _, r := range l.Rungs {
			rows = append(rows, []string{r.Name, r.Offered, amount(r.OneTime), amount(r.Monthly)})
		}
		if err := texttable.WriteLeft(w, rows, 2, 2); err != nil {
			return err
		}
		for _, r := range l.Rungs {
			fmt.Fprintf(w, "  %s:", r.Name)
			for i, f := range r.Basis {
				sep := ";"
				if i == 0 {
					sep = ""
				}
				fmt.Fprintf(w, "%s %s %s", sep, f.Name, f.Value)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "  quality per rung is not scored here: run penny eval on each rung's prompt to compare")
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	return nil
}

func when(since, first time.Time) string {
	if since.IsZero() || first.After(since) {
		return first.UTC().Format(time.RFC3339)
	}
	return since.UTC().Format(time.RFC3339)
}

// jsonMoney is exact money as a string with 9 decimals, or null.
func jsonMoney(m llm.Money, known bool) *string {
	if !known {
		return nil
	}
	s := m.Exact()
	return &s
}

type jsonRec struct {
	Recommendation
	Subject       string  `json:"subject"`
	MonthlySaving *string `json:"monthly_saving_usd"`
}

type jsonRung struct {
	Rung
	OneTime *string `json:"one_time_usd"`
	Monthly *string `json:"monthly_usd"`
}

// WriteJSON writes the report for machines: money as exact strings (9
// decimals), null where unknown.
func WriteJSON(w io.Writer, rep *Report) error {
	out := struct {
		Since           string    `json:"since,omitempty"`
		Until           string    `json:"until"`
		SpanSeconds     float64   `json:"span_seconds"`
		Scale           float64   `json:"scale_to_month"`
		Requests        int64     `json:"requests"`
		Cost            string    `json:"cost_usd"`
		Recommendations []jsonRec `json:"recommendations"`
		Ladder          any       `json:"ladder"`
		Notes           []string  `json:"notes"`
	}{Until: rep.Until.UTC().Format(time.RFC3339), SpanSeconds: rep.Span.Seconds(), Scale: rep.Scale,
		Requests: rep.Requests, Cost: rep.Cost.Exact(), Notes: rep.Notes, Recommendations: []jsonRec{}}
	if !rep.Since.IsZero() {
		out.Since = rep.Since.UTC().Format(time.RFC3339)
	}
	for _, r := range rep.Recommendations {
		if r.Evidence == nil {
			r.Evidence = []Figure{}
		}
		out.Recommendations = append(out.Recommendations, jsonRec{Recommendation: r, Subject: r.Subject(),
			MonthlySaving: jsonMoney(r.MonthlySaving, r.Known)})
	}
	if l := rep.Ladder; l != nil {
		rungs := make([]jsonRung, 0, len(l.Rungs))
		for _, r := range l.Rungs {
			rungs = append(rungs, jsonRung{Rung: r, OneTime: jsonMoney(r.OneTime.Money, r.OneTime.Known),
				Monthly: jsonMoney(r.Monthly.Money, r.Monthly.Known)})
		}
		out.Ladder = struct {
			*Ladder
			Rungs []jsonRung `json:"rungs"`
		}{l, rungs}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
