package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

// BenchmarkAppend appends batches of 256 records, the Writer's default
// batch size, to a WAL file database, as a gateway would: times increase,
// request ids are random.
func BenchmarkAppend(b *testing.B) {
	for _, tags := range []int{0, 2} {
		b.Run(fmt.Sprintf("batch=256/tags=%d", tags), func(b *testing.B) {
			s := sqlitetest.MustOpenLedger(b)
			batch := make([]ledger.Record, 256)
			rng := rand.New(rand.NewPCG(1, 2))
			now := day1
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				for i := range batch {
					r := fixture()[i%5]
					now = now.Add(time.Millisecond)
					r.Time = now
					r.RequestID = fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
					r.Tags = nil
					if tags > 0 {
						r.Tags = map[string]string{"team": "search", "env": "prod"}
					}
					batch[i] = r
				}
				if err := s.Append(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkSummarize groups 100k records by model and by tag.
func BenchmarkSummarize(b *testing.B) {
	s := sqlitetest.MustOpenLedger(b)
	ctx := context.Background()
	models := []string{"nova-micro", "nova-lite", "nova-pro", "claude-haiku", "claude-sonnet"}
	batch := make([]ledger.Record, 1000)
	for n := range 100 {
		for i := range batch {
			r := fixture()[0]
			r.Time = day1.Add(time.Duration(n*len(batch)+i) * time.Second)
			r.Model = models[i%len(models)]
			r.Tags = map[string]string{"team": models[(i/5)%len(models)]}
			batch[i] = r
		}
		if err := s.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	for _, by := range []string{"model", "day", "tag"} {
		b.Run("by="+by, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Summarize(ctx, ledger.SummaryQuery{By: by}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
