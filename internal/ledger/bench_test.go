package ledger_test

import (
	"context"
	"testing"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

// discardStore appends instantly, so the benchmarks below measure the
// Writer's own cost, not the database's.
type discardStore struct{ ledger.Store }

func (discardStore) Append(context.Context, []ledger.Record) error { return nil }

// BenchmarkWriterWrite measures Write on the request hot path: the cost to a
// request of recording its usage while the store keeps up.
func BenchmarkWriterWrite(b *testing.B) {
	w := ledger.NewWriter(discardStore{}, ledger.WriterOptions{Logger: quietLogger()})
	defer w.Close(context.Background())
	r := record("bench")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriterWriteParallel(b *testing.B) {
	w := ledger.NewWriter(discardStore{}, ledger.WriterOptions{Logger: quietLogger()})
	defer w.Close(context.Background())
	r := record("bench")
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Write(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkWriterSQLite measures sustained throughput into a real SQLite
// file: once the queue is full, Write runs at the store's pace.
func BenchmarkWriterSQLite(b *testing.B) {
	s := sqlitetest.MustOpenLedger(b)
	w := ledger.NewWriter(s, ledger.WriterOptions{Logger: quietLogger()})
	r := record("bench")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
