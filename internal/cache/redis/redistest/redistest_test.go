package redistest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/cache/redis/redistest"
)

// recorder stands in for a *testing.T to see whether URL skips or fails.
type recorder struct {
	testing.TB
	skipped, failed string
}

type stop struct{}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	panic(stop{})
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(stop{})
}

func run(r *recorder) (url string) {
	defer func() {
		if v := recover(); v != nil && v != (stop{}) {
			panic(v)
		}
	}()
	return redistest.URL(r)
}

func TestURL(t *testing.T) {
	tests := []struct {
		name, url, ci      string
		want, skip, failed bool
	}{
		{"set", "redis://127.0.0.1:6379/0", "", true, false, false},
		{"set under CI", "redis://127.0.0.1:6379/0", "true", true, false, false},
		{"unset skips", "", "", false, true, false},
		{"unset under CI fails", "", "true", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(redistest.EnvURL, tt.url)
			t.Setenv("CI", tt.ci)
			r := &recorder{}
			got := run(r)
			if (got != "") != tt.want || (r.skipped != "") != tt.skip || (r.failed != "") != tt.failed {
				t.Fatalf("URL = %q, skipped %q, failed %q", got, r.skipped, r.failed)
			}
			if tt.failed && !strings.Contains(r.failed, redistest.EnvURL) {
				t.Fatalf("failure message does not name %s: %s", redistest.EnvURL, r.failed)
			}
		})
	}
}
