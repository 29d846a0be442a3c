package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

type okInvoker struct{ got string }

func (o *okInvoker) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	o.got = req.Model
	return &llm.Response{}, nil
}

func (o *okInvoker) Stream(context.Context, *llm.Request) (llm.Stream, error) { return nil, nil }

// The dispatcher refuses a retired model, names its replacement, and
// notes a legacy one on Meta; it records the id it called.
func TestDispatchLifecycle(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) }
	cases := []struct {
		model, upstream, warning, err string
	}{
		{"claude-sonnet-4-5", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", ""},
		{"global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "", ""},
		{"claude-3-5-haiku", "us.anthropic.claude-3-5-haiku-20241022-v1:0", "legacy on Bedrock; use claude-haiku-4-5", ""},
		{"us.anthropic.claude-3-7-sonnet-20250219-v1:0", "", "", "retired on Bedrock on 2026-04-28"},
		{"sonnet-4", "", "", "use claude-sonnet-4-5 instead"},
	}
	for _, tc := range cases {
		up := &okInvoker{}
		d := &dispatcher{cat: catalog.MustBuiltin(), providers: map[string]llm.Invoker{"bedrock": up}, region: "us-east-1", now: now}
		req := &llm.Request{Model: tc.model, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}}}
		_, err := d.Invoke(context.Background(), req)
		if tc.err != "" {
			if llm.KindOf(err) != llm.KindNotFound || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want not_found with %q", tc.model, err, tc.err)
			}
			if up.got != "" {
				t.Errorf("%s: a retired model was called upstream", tc.model)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if up.got != tc.upstream || req.Meta.UpstreamModel != tc.upstream || !strings.Contains(req.Meta.ModelWarning, tc.warning) ||
			tc.warning == "" && req.Meta.ModelWarning != "" {
			t.Errorf("%s: called %q, meta upstream %q, warning %q", tc.model, up.got, req.Meta.UpstreamModel, req.Meta.ModelWarning)
		}
	}
}
