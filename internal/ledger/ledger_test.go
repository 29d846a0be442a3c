package ledger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

func TestParseGrouping(t *testing.T) {
	tests := []struct {
		by      string
		want    ledger.Grouping
		wantErr bool
	}{
		{"", ledger.Grouping{Dim: "all"}, false},
		{"all", ledger.Grouping{Dim: "all"}, false},
		{"model", ledger.Grouping{Dim: "model"}, false},
		{"route", ledger.Grouping{Dim: "route"}, false},
		{"tenant", ledger.Grouping{Dim: "tenant"}, false},
		{"day", ledger.Grouping{Dim: "day"}, false},
		{"tag", ledger.Grouping{Dim: "tag"}, false},
		{"tag:team", ledger.Grouping{Dim: "tag:", TagKey: "team"}, false},
		{"tag:a:b", ledger.Grouping{Dim: "tag:", TagKey: "a:b"}, false},
		{"api", ledger.Grouping{Dim: "api"}, false},
		{"status", ledger.Grouping{Dim: "status"}, false},
		{"tag:", ledger.Grouping{}, true},
		{"Model", ledger.Grouping{}, true},
		{"week", ledger.Grouping{}, true},
	}
	for _, tt := range tests {
		got, err := ledger.ParseGrouping(tt.by)
		if tt.wantErr {
			if !errors.Is(err, ledger.ErrUnknownGrouping) || llm.KindOf(err) != llm.KindValidation {
				t.Errorf("ParseGrouping(%q) error = %v, want ErrUnknownGrouping of kind validation", tt.by, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseGrouping(%q) = %+v, %v; want %+v", tt.by, got, err, tt.want)
		}
	}
}

// TestGroupingsParse keeps the list that help texts and errors show in step
// with what ParseGrouping accepts.
func TestGroupingsParse(t *testing.T) {
	for _, by := range ledger.Groupings {
		by = strings.Replace(by, "KEY", "team", 1)
		if _, err := ledger.ParseGrouping(by); err != nil {
			t.Errorf("Groupings lists %q: %v", by, err)
		}
	}
	_, err := ledger.ParseGrouping("week")
	if err == nil || !strings.Contains(err.Error(), strings.Join(ledger.Groupings, ", ")) {
		t.Errorf("ParseGrouping(week): %v; want it to list every grouping", err)
	}
}

func TestTotal(t *testing.T) {
	got := ledger.Total([]ledger.Summary{
		{Key: "a", Requests: 1, Errors: 1, InputTokens: 10, OutputTokens: 5, Cost: 100, BaselineCost: 300, Savings: 200, AvgLatency: 400 * time.Millisecond},
		{Key: "b", Requests: 3, CacheHits: 2, CacheReadTokens: 7, CacheWriteTokens: 1, Cost: 50, BaselineCost: 40, Savings: -10, AvgLatency: 100 * time.Millisecond},
	})
	want := ledger.Summary{
		Key: "total", Requests: 4, Errors: 1, CacheHits: 2, InputTokens: 10, OutputTokens: 5,
		CacheReadTokens: 7, CacheWriteTokens: 1, Cost: 150, BaselineCost: 340, Savings: 190,
		AvgLatency: 175 * time.Millisecond,
	}
	if got != want {
		t.Errorf("Total = %+v\nwant %+v", got, want)
	}
	if got := ledger.Total(nil); got != (ledger.Summary{Key: "total"}) {
		t.Errorf("Total(nil) = %+v", got)
	}
}

func TestSummaryLabel(t *testing.T) {
	if got := (ledger.Summary{}).Label(); got != "(none)" {
		t.Errorf("Label of empty key = %q", got)
	}
	if got := (ledger.Summary{Key: "nova"}).Label(); got != "nova" {
		t.Errorf("Label = %q", got)
	}
}

func TestRecordHelpers(t *testing.T) {
	r := ledger.Record{InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4, Cost: 10, BaselineCost: 25}
	if got := r.Usage(); got != (llm.Usage{InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4}) {
		t.Errorf("Usage = %+v", got)
	}
	if got := r.Savings(); got != 15 {
		t.Errorf("Savings = %v", got)
	}
}

// TestNewRecordMaxTokens: the record keeps the answer length a request
// reserved, and 0 when it set none, for the advisor's max_tokens check.
func TestNewRecordMaxTokens(t *testing.T) {
	n := 512
	for _, tc := range []struct {
		max  *int
		want int
	}{{&n, 512}, {nil, 0}} {
		req := &llm.Request{Model: "nova-micro", Config: llm.InferenceConfig{MaxTokens: tc.max},
			Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}}}
		now := time.Now()
		rec := ledger.NewRecord(req, ledger.Outcome{API: "openai", Received: now, Finished: now, HTTPStatus: 200})
		if rec.MaxTokens != tc.want {
			t.Errorf("MaxTokens = %d, want %d", rec.MaxTokens, tc.want)
		}
	}
}
