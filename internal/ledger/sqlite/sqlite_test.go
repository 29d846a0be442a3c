package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/ledger/sqlite"
	"github.com/penny-gateway/penny/internal/ledger/sqlite/sqlitetest"
	"github.com/penny-gateway/penny/internal/llm"
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
			InputTokens: 200, OutputTokens: 100, CacheWriteTokens: 20,
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
	s := sqlitetest.MustOpen(t)
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
	s := sqlitetest.MustOpen(t)
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
	s := sqlitetest.MustOpen(t)
	for _, by := range []string{"bogus", "tag:", "Model", "tags"} {
		_, err := s.Summarize(context.Background(), ledger.SummaryQuery{By: by})
		if !errors.Is(err, ledger.ErrUnknownGrouping) || llm.KindOf(err) != llm.KindValidation {
			t.Errorf("Summarize(By %q) error = %v, want ErrUnknownGrouping of kind validation", by, err)
		}
	}
}

func TestAppendRecordsRoundTrip(t *testing.T) {
	s := sqlitetest.MustOpen(t)
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
	s := sqlitetest.MustOpen(t)
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
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	s := sqlitetest.MustOpen(t)
	if err := s.Append(context.Background(), nil); err != nil {
		t.Errorf("Append(nil) = %v", err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "penny.db")
	for i := range 3 {
		s, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := s.Append(context.Background(), fixture()); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	var versions, requests int
	var mode string
	queryRaw(t, path, `SELECT COUNT(*) FROM schema_migrations`, &versions)
	queryRaw(t, path, `SELECT COUNT(*) FROM requests`, &requests)
	queryRaw(t, path, `PRAGMA journal_mode`, &mode)
	if versions != 1 {
		t.Errorf("schema_migrations has %d rows, want 1", versions)
	}
	if requests != 3*len(fixture()) {
		t.Errorf("requests has %d rows, want %d", requests, 3*len(fixture()))
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "penny.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	execRaw(t, path, `INSERT INTO schema_migrations (version, name, applied_us) VALUES (999, 'future.sql', 0)`)

	_, err = sqlite.Open(path)
	if !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		url  string
		file string // expected database file, "" for in-memory
	}{
		{"sqlite://" + filepath.Join(dir, "abs.db"), "abs.db"},
		{"sqlite://rel.db", "rel.db"},
		{"sqlite:bare.db", "bare.db"},
		{filepath.Join(dir, "plain.db"), "plain.db"},
		{"odd?name#.db", "odd?name#.db"},
		{"sqlite::memory:", ""},
		{":memory:", ""},
		{"sqlite://:memory:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := sqlite.OpenURL(tt.url)
			if err != nil {
				t.Fatalf("OpenURL: %v", err)
			}
			defer s.Close()
			appendFixture(t, s)
			got, err := s.Summarize(context.Background(), ledger.SummaryQuery{})
			if err != nil || len(got) != 1 || got[0].Requests != 5 {
				t.Errorf("Summarize = %+v, %v; want 5 requests", got, err)
			}
			if tt.file != "" {
				if _, err := os.Stat(filepath.Join(dir, tt.file)); err != nil {
					t.Errorf("database file: %v", err)
				}
			}
		})
	}

	for _, bad := range []string{"", "sqlite://", "sqlite:", "postgres://localhost/penny", "sqlite://p.db?mode=ro"} {
		if s, err := sqlite.OpenURL(bad); err == nil {
			s.Close()
			t.Errorf("OpenURL(%q) succeeded, want an error", bad)
		}
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		url, path string
	}{
		{"sqlite:///var/lib/penny.db", "/var/lib/penny.db"},
		{"sqlite://rel/penny.db", "rel/penny.db"},
		{"sqlite:bare.db", "bare.db"},
		{"/plain/penny.db", "/plain/penny.db"},
		{"penny.db", "penny.db"},
		{"odd?name#.db", "odd?name#.db"},
		{"sqlite::memory:", sqlite.MemoryPath},
		{"sqlite://:memory:", sqlite.MemoryPath},
		{":memory:", sqlite.MemoryPath},
	}
	for _, tt := range tests {
		got, err := sqlite.ParsePath(tt.url)
		if err != nil || got != tt.path {
			t.Errorf("ParsePath(%q) = %q, %v; want %q", tt.url, got, err, tt.path)
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct {
		url  string
		kind llm.ErrorKind
		want string // in the message
		not  string // must not be in the message
	}{
		{"", llm.KindValidation, "names no database", ""},
		{"sqlite://", llm.KindValidation, "names no database", ""},
		{"sqlite:", llm.KindValidation, "names no database", ""},
		{"sqlite://p.db?mode=ro", llm.KindValidation, "query parameters are not supported", ""},
		{"mysql://localhost/penny", llm.KindValidation, "is not a sqlite:// URL or a file path", ""},
		{"postgres://localhost/penny", llm.KindUnsupported, "PostgreSQL ledgers are not supported yet; use sqlite://", ""},
		{"postgresql://penny:s3cret@db.example.com:5432/penny", llm.KindUnsupported,
			"postgresql://penny:xxxxx@db.example.com:5432/penny", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := sqlite.ParsePath(tt.url)
			if err == nil {
				t.Fatal("no error")
			}
			if k := llm.KindOf(err); k != tt.kind {
				t.Errorf("kind = %s, want %s", k, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("err = %q leaks %q", err, tt.not)
			}
		})
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
	}{
		{filepath.Join(dir, "no", "such", "penny.db"), "directory " + filepath.Join(dir, "no", "such") + " does not exist"},
		{filepath.Join(file, "penny.db"), file + " is not a directory"},
	}
	for _, tt := range tests {
		s, err := sqlite.Open(tt.path)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", tt.path)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q): err = %q, want it to contain %q", tt.path, err, tt.want)
		}
		if fi, err := os.Stat(filepath.Dir(tt.path)); err == nil && fi.IsDir() {
			t.Errorf("Open(%q) created the directory", tt.path)
		}
	}
}

// execRaw and queryRaw reach the database file behind the store's back.
func execRaw(t *testing.T, path, query string) {
	t.Helper()
	db := rawDB(t, path)
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func queryRaw(t *testing.T, path, query string, dest any) {
	t.Helper()
	db := rawDB(t, path)
	if err := db.QueryRow(query).Scan(dest); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
