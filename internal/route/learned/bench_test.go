package learned

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	shortPrompt = "How do I reset my password? I tried the link in the email but it says it expired."
	longPrompt  = func() string {
		words := strings.Fields(`The quarterly report shows revenue of 4,210 million dollars, up 12 percent from last year,
while operating costs grew 7 percent. Explain which factors drove the change, compute the operating margin,
and write a Python function def margin(revenue, costs): that returns it rounded to two decimals? Then
summarise the risks mentioned in the appendix in three bullet points for the board.`)
		var b strings.Builder
		for i := 0; i < 500; i++ {
			b.WriteString(words[i%len(words)])
			b.WriteByte(' ')
		}
		return b.String()
	}()
)

// benchModel is a model with every weight set, so that no lookup is
// skipped.
func benchModel() *Model {
	m := newModel(DefaultFeatures(), nil)
	for i := range m.weights {
		m.weights[i] = float32(i%7-3) * 0.01
	}
	m.Threshold = 0.5
	return m
}

var benchPrompts = []struct{ name, text string }{{"short", shortPrompt}, {"500words", longPrompt}}

// BenchmarkScore is the router's decision time; it reports the p50 and p99
// of single calls besides the mean.
func BenchmarkScore(b *testing.B) {
	m := benchModel()
	for _, tc := range benchPrompts {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.text)))
			lat := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				start := time.Now()
				m.Route(tc.text)
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(start))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

func BenchmarkExtract(b *testing.B) {
	f := DefaultFeatures()
	for _, tc := range benchPrompts {
		b.Run(tc.name, func(b *testing.B) {
			var v vec
			for b.Loop() {
				f.extract(tc.text, &v)
			}
		})
	}
}
