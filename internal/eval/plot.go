package eval

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
)

// WriteCSV writes every point of the curves, one line each, under the
// header curve,threshold,strong_share,quality,pgr,cost_usd (threshold
// empty where a point has none, cost_usd at 9 decimals).
func WriteCSV(w io.Writer, curves []Curve) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"curve", "threshold", "strong_share", "quality", "pgr", "cost_usd"}); err != nil {
		return err
	}
	for _, c := range curves {
		for _, p := range c.Points {
			th := ""
			if !math.IsNaN(p.Threshold) && !math.IsInf(p.Threshold, 0) {
				th = strconv.FormatFloat(p.Threshold, 'g', 8, 64)
			}
			err := cw.Write([]string{
				c.Name, th,
				strconv.FormatFloat(p.StrongShare, 'f', 6, 64),
				strconv.FormatFloat(p.Quality, 'f', 6, 64),
				strconv.FormatFloat(c.PGR(p.Quality), 'f', 6, 64),
				strconv.FormatFloat(p.Cost.Dollars(), 'f', 9, 64),
			})
			if err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// plotColors are the series colours, the router's first.
var plotColors = []string{"#d62728", "#7f7f7f", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// WriteSVG draws the curves as a line chart: the share of calls to the
// strong model (0–100 %) against quality, with dashed lines at
// always-cheap's and always-strong's quality and a dotted one at
// targetQuality × always-strong's (none when targetQuality is 0). Curves of
// many points are thinned to at most 500 for drawing.
func WriteSVG(w io.Writer, title string, curves []Curve, targetQuality float64) error {
	if len(curves) == 0 {
		return fmt.Errorf("plot: no curves")
	}
	const (
		width, height          = 760, 480
		left, right, top, bot  = 70, 120, 40, 55
		plotW, plotH           = width - left - right, height - top - bot
		maxPoints              = 500
		fontFamily             = "font-family=\"Helvetica, Arial, sans-serif\""
		axisColor, gridColor   = "#333", "#ddd"
		cheapColor, strongLine = "#555", "#000"
	)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, c := range curves {
		for _, p := range c.Points {
			lo, hi = math.Min(lo, p.Quality), math.Max(hi, p.Quality)
		}
		lo, hi = math.Min(lo, c.Cheap), math.Max(hi, c.Strong)
	}
	pad := (hi - lo) * 0.05
	if pad == 0 {
		pad = 0.5
	}
	lo, hi = lo-pad, hi+pad
	x := func(share float64) float64 { return left + share*plotW }
	y := func(q float64) float64 { return top + (hi-q)/(hi-lo)*plotH }

	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s font-size="12">`+"\n", width, height, width, height, fontFamily)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))

	// Grid and axes.
	for i := 0; i <= 10; i++ {
		s := float64(i) / 10
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x(s), top, x(s), top+plotH, gridColor)
		p(`<text x="%.1f" y="%d" text-anchor="middle">%d%%</text>`+"\n", x(s), top+plotH+18, i*10)
	}
	for i := 0; i <= 8; i++ {
		q := lo + (hi-lo)*float64(i)/8
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", left, y(q), left+plotW, y(q), gridColor)
		p(`<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y(q), strconv.FormatFloat(q, 'f', 3, 64))
	}
	p(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s"/>`+"\n", left, top, plotW, plotH, axisColor)
	p(`<text x="%.1f" y="%d" text-anchor="middle">share of calls to the strong model</text>`+"\n", x(0.5), height-12)
	p(`<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">quality</text>`+"\n", y((lo+hi)/2))

	// Reference lines.
	ref := curves[0]
	hline := func(q float64, color, dash, label string) {
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-dasharray="%s"/>`+"\n", left, y(q), left+plotW, y(q), color, dash)
		p(`<text x="%d" y="%.1f" dominant-baseline="middle" fill="%s">%s</text>`+"\n", left+plotW+6, y(q), color, html.EscapeString(label))
	}
	hline(ref.Cheap, cheapColor, "6 4", "always-cheap")
	hline(ref.Strong, strongLine, "6 4", "always-strong")
	if targetQuality > 0 {
		hline(targetQuality*ref.Strong, strongLine, "2 3", fmt.Sprintf("%g %% of strong", 100*targetQuality))
	}

	// Curves, and the legend in the bottom right corner, which the curves
	// (rising from always-cheap to always-strong) leave empty.
	legendX, legendY := left+plotW-230, top+plotH-18*len(curves)-12
	p(`<rect x="%d" y="%d" width="222" height="%d" fill="white" fill-opacity="0.9" stroke="%s"/>`+"\n", legendX, legendY, 18*len(curves)+6, gridColor)
	for i, c := range curves {
		color := plotColors[i%len(plotColors)]
		pts := c.Points
		step := 1
		if len(pts) > maxPoints {
			step = (len(pts) + maxPoints - 1) / maxPoints
		}
		p(`<polyline fill="none" stroke="%s" stroke-width="%s" points="`, color, map[bool]string{true: "2.5", false: "1.5"}[i == 0])
		for k := 0; k < len(pts); k += step {
			p("%.1f,%.1f ", x(pts[k].StrongShare), y(pts[k].Quality))
		}
		last := pts[len(pts)-1]
		p(`%.1f,%.1f"/>`+"\n", x(last.StrongShare), y(last.Quality))
		ly := legendY + 12 + 18*i
		p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5"/>`+"\n", legendX+8, ly, legendX+28, ly, color)
		p(`<text x="%d" y="%d" dominant-baseline="middle">%s (APGR %.3f)</text>`+"\n", legendX+34, ly, html.EscapeString(c.Name), c.APGR())
	}
	p("</svg>\n")
	return bw.Flush()
}
