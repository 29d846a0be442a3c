package ledger

import (
	"math"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestUSDFixed(t *testing.T) {
	tests := []struct {
		m      llm.Money
		places int
		want   string
	}{
		{0, 6, "0.000000"},
		{1, 6, "0.000000"},
		{499, 6, "0.000000"},
		{500, 6, "0.000001"}, // half rounds away from zero
		{1_499, 6, "0.000001"},
		{-500, 6, "-0.000001"},
		{-499, 6, "0.000000"}, // no "-0"
		{123_456_789, 6, "0.123457"},
		{12 * llm.Dollar, 6, "12.000000"},
		{999_999_999_500, 6, "1000.000000"},
		{123_456_789, 9, "0.123456789"},
		{-1, 9, "-0.000000001"},
		{1_500_000_000, 0, "2"},
		{math.MaxInt64, 9, "9223372036.854775807"},
		{math.MinInt64, 9, "-9223372036.854775808"},
		{math.MinInt64, 6, "-9223372036.854776"},
	}
	for _, tt := range tests {
		if got := USDFixed(tt.m, tt.places); got != tt.want {
			t.Errorf("USDFixed(%d, %d) = %q, want %q", int64(tt.m), tt.places, got, tt.want)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"7d", now.AddDate(0, 0, -7), false},
		{"0d", now, false},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), false},
		{"2026-11-01T10:00:00Z", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), false},
		{"2026-11-01T10:00:00.25+02:00", time.Date(2026, 11, 1, 8, 0, 0, 250e6, time.UTC), false},
		{"yesterday", time.Time{}, true},
		{"-1h", time.Time{}, true},
		{"-3d", time.Time{}, true},
		{"d", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseWhen(tt.in, now)
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("ParseWhen(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
