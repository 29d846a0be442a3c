package gateway

import (
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

// FuzzParseTags: any x-penny-tags value parses to clean key=value pairs or
// a validation error.
func FuzzParseTags(f *testing.F) {
	f.Add("team=support,app=chat")
	f.Add(" a = b , ,c=")
	f.Add("=x")
	f.Add(strings.Repeat("k=v,", 100))
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := ParseTags(s)
		if err != nil {
			if llm.KindOf(err) != llm.KindValidation {
				t.Fatalf("error of kind %q: %v", llm.KindOf(err), err)
			}
			return
		}
		for k, v := range tags {
			if k == "" || strings.ContainsAny(k, ",=") || strings.Contains(v, ",") || k != strings.TrimSpace(k) || v != strings.TrimSpace(v) {
				t.Fatalf("tag %q=%q from %q", k, v, s)
			}
		}
	})
}
