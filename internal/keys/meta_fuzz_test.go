package keys

import (
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

// FuzzParseTags: any x-penny-tags value parses to clean name=value pairs
// within the limits, or a validation error.
func FuzzParseTags(f *testing.F) {
	f.Add("team=support,app=chat")
	f.Add(" a = b , ,c=")
	f.Add("=x")
	f.Add(strings.Repeat("k=v,", 100))
	f.Add(strings.Repeat("k", 65) + "=v")
	f.Fuzz(func(t *testing.T, s string) {
		l := DefaultMetaLimits
		tags, err := l.ParseTags("x-penny-tags", s)
		if err != nil {
			if llm.KindOf(err) != llm.KindValidation {
				t.Fatalf("error of kind %q: %v", llm.KindOf(err), err)
			}
			return
		}
		if len(tags) > l.MaxTags {
			t.Fatalf("%d tags from %q", len(tags), s)
		}
		for k, v := range tags {
			if k == "" || strings.ContainsAny(k, ",=") || strings.Contains(v, ",") || k != strings.TrimSpace(k) || v != strings.TrimSpace(v) ||
				len(k) > l.MaxTagKeyBytes || len(v) > l.MaxTagValueBytes {
				t.Fatalf("tag %q=%q from %q", k, v, s)
			}
		}
	})
}
