package demo

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/penny-gateway/penny/internal/advise"
	"github.com/penny-gateway/penny/internal/app"
)

// adviseOn runs the advisor over this run's records, as `penny advise`
// would over a month of them: the support traffic is steady, so its
// minute is a fair sample of a month.
func adviseOn(ctx context.Context, a *app.App, start time.Time) (*advise.Report, error) {
	return advise.Analyze(ctx, a.Store, advise.Options{Since: start, Now: time.Now(), Catalog: a.Catalog})
}

// adviceKinds are the consumption levers the demo shows the advisor for.
var adviceKinds = []string{advise.KindProvisioned, advise.KindFlex, advise.KindBatch}

// printAdvice writes the steady-traffic story: what the advisor says about
// Flex, batch and Provisioned Throughput for this run's traffic.
func (r *Result) printAdvice(w io.Writer) {
	rep := r.Advice
	if rep == nil {
		return
	}
	fmt.Fprintf(w, "\nSteady traffic: the advisor (penny advise) on this run's %d requests, as if they came all month (×%.0f)\n\n",
		rep.Requests, rep.Scale)
	shown := 0
	for _, kind := range adviceKinds {
		for _, rec := range rep.Recommendations {
			if rec.Kind != kind {
				continue
			}
			saving := "unknown (no published price)"
			if rec.Known {
				saving = usd(rec.MonthlySaving) + " a month"
				if rec.Estimated {
					saving += " (est.)"
				}
			}
			fmt.Fprintf(w, "  %-12s %s\n  %-12s %s\n  %-12s saves %s\n", kind, rec.Subject(), "", rec.Action, "", saving)
			for _, f := range rec.Evidence {
				fmt.Fprintf(w, "  %-12s   %s: %s\n", "", f.Name, f.Value)
			}
			fmt.Fprintln(w)
			shown++
			break // the largest of each kind
		}
	}
	if shown == 0 {
		fmt.Fprintln(w, "  nothing to say about consumption modes for this traffic")
	}
	fmt.Fprintln(w, "  Provisioned Throughput and Flex prices are not published per model: bring your quote with --pt-hourly.")
}
