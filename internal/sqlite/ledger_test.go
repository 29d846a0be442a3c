package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

var (
	day1 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	day2 = day1.AddDate(0, 0, 1)
	// plus5 makes a record whose local date differs from its UTC date.
	plus5 = time.FixedZone("+05", 5*60*60)
)

// fixture returns five records whose latencies are multiples of 60ms, so
// that every group's mean latency is a whole number of milliseconds.
func fixture() []ledger.Record {
	return []ledger.Record{
		{
			Time: day1.Add(10 * time.Hour), RequestID: "r1", Tenant: "acme", KeyID: "k1", Route: "chat",
			API: "openai", Stream: true, ModelRequested: "gpt-4o", Model: "nova-lite", BaselineModel: "nova-pro",
			Provider: "bedrock", Mode: "on_demand", Status: ledger.StatusOK, HTTPStatus: 200,
			InputTokens: 100, OutputTokens: 50, CacheReadTokens: 10,
			Latency: 120 * time.Millisecond, TTFT: 35 * time.Millisecond, Cost: 1000, BaselineCost: 4000,
			Cache: "miss", Strategy: "routing,prompt_cache", Tags: map[string]string{"team": "search", "env": "prod"},
		},
		{
			Time: day1.Add(11 * time.Hour), RequestID: "r2", Tenant: "acme", KeyID: "k2", Route: "chat",
			API: "converse", ModelRequested: "nova-pro", Model: "nova-pro", BaselineModel: "nova-pro",
			Provider: "bedrock", Mode: "on_demand", Status: ledger.StatusOK, HTTPStatus: 200,
			InputTokens: 200, OutputTokens: 100, CacheWriteTokens: 20, CacheWrite1hTokens: 15, ServiceTier: "flex", MaxTokens: 256,
			UpstreamModel: "global.amazon.nova-pro-v1:0", PriceEstimated: true,
			Latency: 300 * time.Millisecond, Cost: 5000, BaselineCost: 5000,
			Cache: "miss", Tags: map[string]string{"team": "ads"},
		},
		{
			Time: day1.Add(12 * time.Hour), RequestID: "r3", Tenant: "globex", KeyID: "k3", Route: "summarize",
			API: "openai", ModelRequested: "auto", Model: "nova-lite", BaselineModel: "nova-pro",
			Provider: "bedrock", Mode: "on_demand", Status: ledger.StatusError,
			ErrorKind: string(llm.KindThrottled), HTTPStatus: 429, ErrorMessage: "too many requests",
			Latency: 60 * time.Millisecond, Cache: "bypass",
		},
		{
			Time: day2.Add(23*time.Hour + 30*time.Minute).In(plus5), RequestID: "r4", Tenant: "globex", KeyID: "k3",
			Route: "chat", API: "openai", ModelRequested: "auto", BaselineModel: "nova-pro",
			Provider: "sim", Mode: "on_demand", Status: ledger.StatusOK, HTTPStatus: 200,
			Latency: 60 * time.Millisecond, BaselineCost: 4000, Cache: "hit", Strategy: "response_cache",
			Tags: map[string]string{"env": "prod"},
		},
		{
			Time: day2.Add(24*time.Hour - time.Microsecond), RequestID: "r5", Tenant: "acme", KeyID: "k1",
			Route: "summarize", API: "openai", ModelRequested: "auto", Model: "nova-lite", BaselineModel: "nova-pro",
			Provider: "bedrock", Mode: "batch", Status: ledger.StatusOK, HTTPStatus: 200,
			InputTokens: 1000, OutputTokens: 500,
			Latency: 1200 * time.Millisecond, Cost: 2000, BaselineCost: 8000,
			Cache: "miss", Strategy: "routing,batch", Tags: map[string]string{"team": "search"},
		},
	}
}

// sum builds an expected Summary; latency is the mean in milliseconds.
func sum(key string, requests, errs, hits, in, out, cacheRead, cacheWrite int64, cost, baseline llm.Money, latencyMS int64) ledger.Summary {
	return ledger.Summary{
		Key: key, Requests: requests, Errors: errs, CacheHits: hits,
		InputTokens: in, OutputTokens: out, CacheReadTokens: cacheRead, CacheWriteTokens: cacheWrite,
		Cost: cost, BaselineCost: baseline, Savings: baseline - cost,
		AvgLatency: time.Duration(latencyMS) * time.Millisecond,
	}
}

func appendFixture(t *testing.T, s ledger.Store) []ledger.Record {
	t.Helper()
	recs := fixture()
	if err := s.Append(context.Background(), recs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	return recs
}

func TestSummarize(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	appendFixture(t, s)
	fix := fixture()

	tests := []struct {
		name string
		q    ledger.SummaryQuery
		want []ledger.Summary
	}{
		{"model", ledger.SummaryQuery{By: "model"}, []ledger.Summary{
			sum("nova-pro", 1, 0, 0, 200, 100, 0, 20, 5000, 5000, 300),
			sum("nova-lite", 3, 1, 0, 1100, 550, 10, 0, 3000, 12000, 460),
			sum("", 1, 0, 1, 0, 0, 0, 0, 0, 4000, 60),
		}},
		{"route", ledger.SummaryQuery{By: "route"}, []ledger.Summary{
			sum("chat", 3, 0, 1, 300, 150, 10, 20, 6000, 13000, 160),
			sum("summarize", 2, 1, 0, 1000, 500, 0, 0, 2000, 8000, 630),
		}},
		{"tenant", ledger.SummaryQuery{By: "tenant"}, []ledger.Summary{
			sum("acme", 3, 0, 0, 1300, 650, 10, 20, 8000, 17000, 540),
			sum("globex", 2, 1, 1, 0, 0, 0, 0, 0, 4000, 60),
		}},
		{"key", ledger.SummaryQuery{By: "key"}, []ledger.Summary{
			sum("k2", 1, 0, 0, 200, 100, 0, 20, 5000, 5000, 300),
			sum("k1", 2, 0, 0, 1100, 550, 10, 0, 3000, 12000, 660),
			sum("k3", 2, 1, 1, 0, 0, 0, 0, 0, 4000, 60),
		}},
		{"day in UTC", ledger.SummaryQuery{By: "day"}, []ledger.Summary{
			sum("2025-03-01", 3, 1, 0, 300, 150, 10, 20, 6000, 9000, 160),
			sum("2025-03-02", 2, 0, 1, 1000, 500, 0, 0, 2000, 12000, 630),
		}},
		{"api", ledger.SummaryQuery{By: "api"}, []ledger.Summary{
			sum("converse", 1, 0, 0, 200, 100, 0, 20, 5000, 5000, 300),
			sum("openai", 4, 1, 1, 1100, 550, 10, 0, 3000, 16000, 360),
		}},
		{"status", ledger.SummaryQuery{By: "status"}, []ledger.Summary{
			sum("ok", 4, 0, 1, 1300, 650, 10, 20, 8000, 21000, 420),
			sum("error", 1, 1, 0, 0, 0, 0, 0, 0, 0, 60),
		}},
		{"provider", ledger.SummaryQuery{By: "provider"}, []ledger.Summary{
			sum("bedrock", 4, 1, 0, 1300, 650, 10, 20, 8000, 17000, 420),
			sum("sim", 1, 0, 1, 0, 0, 0, 0, 0, 4000, 60),
		}},
		{"mode", ledger.SummaryQuery{By: "mode"}, []ledger.Summary{
			sum("on_demand", 4, 1, 1, 300, 150, 10, 20, 6000, 13000, 135),
			sum("batch", 1, 0, 0, 1000, 500, 0, 0, 2000, 8000, 1200),
		}},
		{"tier, unrecorded as default", ledger.SummaryQuery{By: "tier"}, []ledger.Summary{
			sum("flex", 1, 0, 0, 200, 100, 0, 20, 5000, 5000, 300),
			sum("default", 4, 1, 1, 1100, 550, 10, 0, 3000, 16000, 360),
		}},
		{"cache, ties by key", ledger.SummaryQuery{By: "cache"}, []ledger.Summary{
			sum("miss", 3, 0, 0, 1300, 650, 10, 20, 8000, 17000, 540),
			sum("bypass", 1, 1, 0, 0, 0, 0, 0, 0, 0, 60),
			sum("hit", 1, 0, 1, 0, 0, 0, 0, 0, 4000, 60),
		}},
		{"tag counts a record once per tag", ledger.SummaryQuery{By: "tag"}, []ledger.Summary{
			sum("team=ads", 1, 0, 0, 200, 100, 0, 20, 5000, 5000, 300),
			sum("team=search", 2, 0, 0, 1100, 550, 10, 0, 3000, 12000, 660),
			sum("env=prod", 2, 0, 1, 100, 50, 10, 0, 1000, 8000, 90),
			sum("", 1, 1, 0, 0, 0, 0, 0, 0, 0, 60),
		}},
		{"tag:team", ledger.SummaryQuery{By: "tag:team"}, []ledger.Summary{
			sum("ads", 1, 0, 0, 200, 100, 0, 20, 5000, 5000, 300),
			sum("search", 2, 0, 0, 1100, 550, 10, 0, 3000, 12000, 660),
			sum("", 2, 1, 1, 0, 0, 0, 0, 0, 4000, 60),
		}},
		{"tag:env", ledger.SummaryQuery{By: "tag:env"}, []ledger.Summary{
			sum("", 3, 1, 0, 1200, 600, 0, 20, 7000, 13000, 520),
			sum("prod", 2, 0, 1, 100, 50, 10, 0, 1000, 8000, 90),
		}},
		{"tag key nobody uses", ledger.SummaryQuery{By: "tag:owner"}, []ledger.Summary{
			sum("", 5, 1, 1, 1300, 650, 10, 20, 8000, 21000, 348),
		}},
		{"all", ledger.SummaryQuery{By: "all"}, []ledger.Summary{
			sum("total", 5, 1, 1, 1300, 650, 10, 20, 8000, 21000, 348),
		}},
		{"empty By is all", ledger.SummaryQuery{}, []ledger.Summary{
			sum("total", 5, 1, 1, 1300, 650, 10, 20, 8000, 21000, 348),
		}},
		{"tenant filter", ledger.SummaryQuery{By: "model", Tenant: "acme"}, []ledger.Summary{
			sum("nova-pro", 1, 0, 0, 200, 100, 0, 20, 5000, 5000, 300),
			sum("nova-lite", 2, 0, 0, 1100, 550, 10, 0, 3000, 12000, 660),
		}},
		{"since is inclusive", ledger.SummaryQuery{By: "all", Since: fix[3].Time}, []ledger.Summary{
			sum("total", 2, 0, 1, 1000, 500, 0, 0, 2000, 12000, 630),
		}},
		{"until is exclusive", ledger.SummaryQuery{By: "all", Since: day2, Until: fix[4].Time}, []ledger.Summary{
			sum("total", 1, 0, 1, 0, 0, 0, 0, 0, 4000, 60),
		}},
		{"nothing matches", ledger.SummaryQuery{By: "model", Tenant: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Summarize(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("Summarize: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Summarize(%+v)\n got %+v\nwant %+v", tt.q, got, tt.want)
			}
		})
	}
}

func TestSummarizeTotalMatchesAll(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	appendFixture(t, s)
	all, err := s.Summarize(context.Background(), ledger.SummaryQuery{By: "all"})
	if err != nil || len(all) != 1 {
		t.Fatalf("Summarize(all) = %v, %v", all, err)
	}
	for _, by := range []string{"model", "route", "tenant", "day", "api", "status", "tag:team"} {
		got, err := s.Summarize(context.Background(), ledger.SummaryQuery{By: by})
		if err != nil {
			t.Fatalf("Summarize(%s): %v", by, err)
		}
		if total := ledger.Total(got); total != all[0] {
			t.Errorf("Total(by %s) = %+v, want %+v", by, total, all[0])
		}
	}
}

func TestSummarizeUnknownGrouping(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	for _, by := range []string{"bogus", "tag:", "Model", "tags"} {
		_, err := s.Summarize(context.Background(), ledger.SummaryQuery{By: by})
		if !errors.Is(err, ledger.ErrUnknownGrouping) || llm.KindOf(err) != llm.KindValidation {
			t.Errorf("Summarize(By %q) error = %v, want ErrUnknownGrouping of kind validation", by, err)
		}
	}
}

func TestAppendRecordsRoundTrip(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	recs := appendFixture(t, s)
	for i, r := range recs {
		if r.ID == 0 {
			t.Fatalf("record %d: ID not set", i)
		}
		if i > 0 && r.ID <= recs[i-1].ID {
			t.Errorf("IDs not increasing: %d after %d", r.ID, recs[i-1].ID)
		}
	}
	// want returns fixture records i..., as Records returns them.
	want := func(is ...int) []ledger.Record {
		var out []ledger.Record
		for _, i := range is {
			r := recs[i]
			r.Time = r.Time.UTC()
			out = append(out, r)
		}
		return out
	}
	fix := fixture()

	tests := []struct {
		name string
		q    ledger.RecordQuery
		want []ledger.Record
	}{
		{"all, newest first", ledger.RecordQuery{}, want(4, 3, 2, 1, 0)},
		{"limit", ledger.RecordQuery{Limit: 2}, want(4, 3)},
		{"tenant", ledger.RecordQuery{Tenant: "globex"}, want(3, 2)},
		{"request id", ledger.RecordQuery{RequestID: "r2"}, want(1)},
		{"since inclusive, until exclusive", ledger.RecordQuery{Since: fix[1].Time, Until: fix[3].Time}, want(2, 1)},
		{"tenant and limit", ledger.RecordQuery{Tenant: "acme", Limit: 1}, want(4)},
		{"nothing", ledger.RecordQuery{RequestID: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Records(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("Records: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Records(%+v) returned %d records, want %d", tt.q, len(got), len(tt.want))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("record %d\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestRecordsSameTimeNewestIDFirst(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	at := day1.Add(time.Hour)
	recs := []ledger.Record{{Time: at, RequestID: "a"}, {Time: at, RequestID: "b"}}
	if err := s.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Records(context.Background(), ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RequestID != "b" || got[1].RequestID != "a" {
		t.Errorf("Records = %+v, want b then a", got)
	}
}

// TestAppendIsAtomic makes SQLite itself reject one record of a batch and
// checks that none of the batch is stored.
func TestAppendIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "penny.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := sqlite.NewLedgerStore(db)
	execRaw(t, path, `CREATE TRIGGER poison BEFORE INSERT ON requests WHEN NEW.request_id = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned record'); END`)

	recs := fixture()
	recs[3].RequestID = "poison"
	if err := s.Append(context.Background(), recs); err == nil {
		t.Fatal("Append with a poisoned record succeeded")
	}
	for i, r := range recs {
		if r.ID != 0 {
			t.Errorf("record %d: ID = %d after a failed Append, want 0", i, r.ID)
		}
	}
	got, err := s.Records(context.Background(), ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("%d records stored by a failed Append, want 0", len(got))
	}
	var tags int
	queryRaw(t, path, `SELECT COUNT(*) FROM request_tags`, &tags)
	if tags != 0 {
		t.Errorf("%d tags stored by a failed Append, want 0", tags)
	}
}

func TestAppendEmpty(t *testing.T) {
	s := sqlitetest.MustOpenLedger(t)
	if err := s.Append(context.Background(), nil); err != nil {
		t.Errorf("Append(nil) = %v", err)
	}
}
