package batch_test

import (
	"context"
	"flag"
	"fmt"
	"path"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/penny-gateway/penny/internal/account"
	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/batchsim"
	"github.com/penny-gateway/penny/internal/bedrockbatch"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
	"github.com/penny-gateway/penny/internal/tokens"
)

// records is the size of TestEngineLargeJob's job: small by default, so
// the suite stays fast; docs/benchmarks.md runs it with 50000.
var records = flag.Int("batch.records", 500, "records in TestEngineLargeJob's job")

// heapPeak samples the live heap every 10 ms until stopped.
type heapPeak struct {
	max  atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func watchHeap() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > h.max.Load() {
				h.max.Store(ms.HeapAlloc)
			}
			select {
			case <-h.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return h
}

func (h *heapPeak) done() uint64 { close(h.stop); h.wg.Wait(); return h.max.Load() }

// TestEngineLargeJob queues -batch.records requests of one model, and
// times the engine through one Bedrock job on the wire-level fakes (S3 on
// disk, so that the fake's storage is not counted): writing and uploading
// the input, the job, and mapping every record back to its request,
// priced and recorded in a real SQLite ledger. It reports the time of
// each phase and the peak live heap, and checks every record is in the
// ledger once at batch prices.
func TestEngineLargeJob(t *testing.T) {
	n := *records
	ctx := context.Background()
	cat, err := catalog.Load("")
	if err != nil {
		t.Fatal(err)
	}
	counter, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	simulator := sim.New(cat, counter, sim.Options{Seed: 1, TimeScale: 0})
	s3srv, err := batchsim.NewS3Dir(t.TempDir(), "penny-jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer s3srv.Close()
	cp := batchsim.NewControlPlane(batchsim.Options{S3: s3srv.Client(), Concurrency: 2,
		Run: func(ctx context.Context, _ string, req *llm.Request) (*llm.Response, error) {
			return simulator.Invoke(ctx, req)
		}})
	defer cp.Close()
	db := sqlitetest.MustOpen(t)
	store := sqlite.NewBatchStore(db)
	lstore := sqlite.NewLedgerStore(db)
	w := ledger.NewWriter(lstore, ledger.WriterOptions{})
	e, err := batch.New(batch.Options{Store: store, Jobs: bedrockbatch.New(s3srv.Client(), cp.Client(), ""), Recorder: w,
		Account: account.Stage(account.Options{Catalog: cat, Counter: counter}), OnDemand: simulator, Catalog: cat, InLedger: store.HasRequest,
		Policy: batch.Policy{S3URI: "s3://penny-jobs/batch/", RoleARN: "arn:aws:iam::111122223333:role/penny-batch",
			MinRecords: 100, MaxRecords: 50_000, PollMin: time.Millisecond, PollMax: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	for i := range n {
		req := &llm.Request{Model: "nova-micro", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{
			llm.TextBlock(fmt.Sprintf("Moderate post %d: is this spam? Limited offer, buy cheap watches today, link in bio.", i))}}}}
		req.Meta = llm.Meta{RequestID: fmt.Sprintf("req%021d", i), Tenant: "acme", API: "converse", Received: start,
			Mode: llm.ModeBatch, UpstreamModel: "us.amazon.nova-micro-v1:0", Provider: "sim", Cache: llm.CacheBypass}
		if err := e.Defer(ctx, req); llm.KindOf(err) != llm.KindDeferred {
			t.Fatalf("defer %d: %v", i, err)
		}
	}
	queued := time.Since(start)
	runtime.GC()
	heap := watchHeap()
	var ticks []time.Duration
	jobStart := time.Now()
	for {
		t0 := time.Now()
		if err := e.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		ticks = append(ticks, time.Since(t0))
		if len(cp.Statuses()) > 0 && cp.Statuses()[0] == batch.JobCompleted && doneAll(t, store, ctx) {
			break
		}
		if time.Since(jobStart) > 10*time.Minute {
			t.Fatalf("job not done: %v", cp.Statuses())
		}
		time.Sleep(2 * time.Millisecond)
	}
	total := time.Since(jobStart)
	peak := heap.done()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := lstore.Records(ctx, ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.RequestID] || r.Mode != "batch" || r.Cost*2 > r.BaselineCost+1 || r.Cost*2 < r.BaselineCost-1 {
			t.Fatalf("record %+v (seen %v)", r, seen[r.RequestID])
		}
		seen[r.RequestID] = true
	}
	if len(recs) != n || cp.Creates() != 1 {
		t.Fatalf("%d records for %d requests, %d jobs", len(recs), n, cp.Creates())
	}
	upload, mapping := ticks[0], ticks[len(ticks)-1]
	objs, err := s3srv.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("penny-jobs")})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []string
	for _, o := range objs.Contents {
		sizes = append(sizes, fmt.Sprintf("%s %.1f MB", path.Base(aws.ToString(o.Key)), float64(aws.ToInt64(o.Size))/1e6))
	}
	t.Logf("%d records: queued in %s; upload+create %s, job on the fake %s, mapping+pricing+ledger %s (engine total %s); peak live heap %.1f MiB; S3: %v",
		n, queued.Round(time.Millisecond), upload.Round(time.Millisecond), (total - upload - mapping).Round(time.Millisecond),
		mapping.Round(time.Millisecond), total.Round(time.Millisecond), float64(peak)/(1<<20), sizes)
	if peak > 256<<20 {
		t.Errorf("peak live heap %d MiB: the engine should stream, not hold the job", peak>>20)
	}
}

// doneAll reports whether no item is queued or running.
func doneAll(t *testing.T, s *sqlite.BatchStore, ctx context.Context) bool {
	t.Helper()
	g, err := s.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.ActiveJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return len(g) == 0 && len(jobs) == 0
}
