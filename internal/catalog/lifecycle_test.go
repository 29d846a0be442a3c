package catalog

import (
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCheckServable(t *testing.T) {
	c := MustBuiltin()
	// A user's model that goes legacy and then retires on given days.
	aging := &Model{ID: "aging", BedrockID: "vendor.aging-v1:0", Lifecycle: Lifecycle{
		LegacySince: Date{day("2026-06-01")}, Retires: Date{day("2026-12-01")}, Replacement: "claude-haiku-4-5"}}
	cases := []struct {
		model   *Model
		now     string
		status  Status
		warning string // substring; "" is none
		err     string // substring of a not_found error; "" is none
	}{
		{c.mustModel(t, "claude-sonnet-4-5"), "2026-12-04", StatusActive, "", ""},
		{c.mustModel(t, "claude-3-7-sonnet"), "2026-12-04", StatusRetired, "", "retired on Bedrock on 2026-04-28 and is no longer served; use claude-sonnet-4-5 instead"},
		{c.mustModel(t, "claude-sonnet-4"), "2026-12-04", StatusRetired, "", "2026-10-14"},
		{c.mustModel(t, "claude-3-5-sonnet"), "2026-12-04", StatusRetired, "", "use claude-sonnet-4-5"},
		{c.mustModel(t, "claude-opus-4"), "2026-12-04", StatusRetired, "", "use claude-opus-4-5"},
		{c.mustModel(t, "claude-3-5-haiku"), "2026-12-04", StatusLegacy, "model claude-3-5-haiku is legacy on Bedrock; use claude-haiku-4-5 instead", ""},
		{aging, "2026-05-31", StatusActive, "", ""},
		{aging, "2026-06-01", StatusLegacy, "is legacy on Bedrock and retires on 2026-12-01; use claude-haiku-4-5 instead", ""},
		{aging, "2026-11-30", StatusLegacy, "retires on 2026-12-01", ""},
		{aging, "2026-12-01", StatusRetired, "", "retired on Bedrock on 2026-12-01"},
	}
	for _, tc := range cases {
		now := day(tc.now).Add(13 * time.Hour)
		if got := tc.model.Status(now); got != tc.status {
			t.Errorf("%s on %s: status %s, want %s", tc.model.ID, tc.now, got, tc.status)
		}
		warning, err := tc.model.CheckServable(now)
		if tc.err == "" && err != nil || tc.err != "" && (llm.KindOf(err) != llm.KindNotFound || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s on %s: err = %v, want not_found containing %q", tc.model.ID, tc.now, err, tc.err)
		}
		if tc.warning == "" && warning != "" || !strings.Contains(warning, tc.warning) {
			t.Errorf("%s on %s: warning %q, want %q", tc.model.ID, tc.now, warning, tc.warning)
		}
	}
}

func TestLifecycleValidation(t *testing.T) {
	base := "models:\n  - id: x\n    bedrock_id: y\n    tier: economy\n    prices: {input: \"1\"}\n    lifecycle: "
	for _, tc := range []struct{ lifecycle, want string }{
		{"{status: dead}", "status"},
		{"{status: retired, replacement: nope}", "replacement \"nope\""},
		{"{retires: 2026-13-01}", "YYYY-MM-DD"},
		{"{legacy_since: 2026-06-01, retires: 2026-01-01}", "before legacy_since"},
		{"{status: legacy, source: nowhere}", "source \"nowhere\""},
	} {
		_, err := Parse([]byte(base + tc.lifecycle + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lifecycle %s: err = %v, want mention of %q", tc.lifecycle, err, tc.want)
		}
	}
}
