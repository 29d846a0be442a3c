package promptpolicy_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/promptpolicy"
	"github.com/penny-gateway/penny/internal/tokens"
)

func TestNormalize(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"unchanged", "Hello world", "Hello world"},
		{"runs of spaces", "a   b \t c", "a b c"},
		{"tabs only kept", "a\t\tb", "a\t\tb"},
		{"trailing spaces", "line one   \nline two\t\n", "line one\nline two\n"},
		{"crlf", "a\r\nb", "a\nb"},
		{"blank lines", "a\n\n\n\n\nb", "a\n\nb"},
		{"whitespace-only lines are blank", "a\n  \n\t\n \nb", "a\n\nb"},
		{"indent kept", "list:\n    - item  one", "list:\n    - item one"},
		{"last line edge kept", "word   ", "word   "},
		{"fence untouched", "x  y\n```go\nfunc  f() {   \n\n\n\n}\n```\nz   w",
			"x y\n```go\nfunc  f() {   \n\n\n\n}\n```\nz w"},
		{"tilde fence", "~~~\na    b\n~~~\na    b", "~~~\na    b\n~~~\na b"},
		{"longer closing fence needed", "````\n```\na  b\n````\na  b", "````\n```\na  b\n````\na b"},
		{"unclosed fence", "a  b\n```\nc   d\n\n\n\ne", "a b\n```\nc   d\n\n\n\ne"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := promptpolicy.Normalize(tc.in)
			if got != tc.want {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := promptpolicy.Normalize(got); again != got {
				t.Errorf("not idempotent: %q -> %q", got, again)
			}
		})
	}
}

func intp(v int) *int { return &v }

func counter(tb testing.TB) *tokens.Counter {
	tb.Helper()
	c, err := tokens.New()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestApply(t *testing.T) {
	c := counter(t)
	messy := "Describe   the   product.\n\n\n\n\nBe   brief.   \n"
	cases := []struct {
		name      string
		p         promptpolicy.Policy
		maxTokens *int
		system    []llm.SystemBlock
		wantMax   *int
		wantSys   []llm.SystemBlock
		wantText  string
		check     func(t *testing.T, e promptpolicy.Effect)
	}{
		{name: "default set", p: promptpolicy.Policy{DefaultMaxTokens: 300}, wantMax: intp(300), wantText: messy,
			check: func(t *testing.T, e promptpolicy.Effect) {
				if !e.MaxTokensSet || e.MaxTokensCapped || e.MaxTokens != 300 {
					t.Errorf("effect %+v", e)
				}
			}},
		{name: "default clamped by max", p: promptpolicy.Policy{DefaultMaxTokens: 300, MaxMaxTokens: 100}, wantMax: intp(100), wantText: messy},
		{name: "client value kept", p: promptpolicy.Policy{DefaultMaxTokens: 300, MaxMaxTokens: 1000}, maxTokens: intp(50), wantMax: intp(50), wantText: messy,
			check: func(t *testing.T, e promptpolicy.Effect) {
				if e.Changed() {
					t.Errorf("effect %+v reports a change", e)
				}
			}},
		{name: "client value capped", p: promptpolicy.Policy{MaxMaxTokens: 500}, maxTokens: intp(4096), wantMax: intp(500), wantText: messy,
			check: func(t *testing.T, e promptpolicy.Effect) {
				if !e.MaxTokensCapped || e.MaxTokensSet {
					t.Errorf("effect %+v", e)
				}
			}},
		{name: "format appended", p: promptpolicy.Policy{OutputFormat: "Respond in JSON only."},
			system:   []llm.SystemBlock{{Text: "You write product copy."}},
			wantSys:  []llm.SystemBlock{{Text: "You write product copy."}, {Text: "Respond in JSON only."}},
			wantText: messy,
			check: func(t *testing.T, e promptpolicy.Effect) {
				if !e.FormatAdded || e.FormatTokens == 0 {
					t.Errorf("effect %+v", e)
				}
			}},
		{name: "format to empty system", p: promptpolicy.Policy{OutputFormat: "Respond in JSON only."},
			wantSys: []llm.SystemBlock{{Text: "Respond in JSON only."}}, wantText: messy},
		{name: "format already there", p: promptpolicy.Policy{OutputFormat: "Respond in JSON only."},
			system:   []llm.SystemBlock{{Text: "Be short. Respond in JSON only.\n"}, {CachePoint: &llm.CachePoint{}}},
			wantSys:  []llm.SystemBlock{{Text: "Be short. Respond in JSON only.\n"}, {CachePoint: &llm.CachePoint{}}},
			wantText: messy},
		{name: "normalised", p: promptpolicy.Policy{NormalizeWhitespace: true},
			system:   []llm.SystemBlock{{Text: "You   write copy.  \n"}},
			wantSys:  []llm.SystemBlock{{Text: "You write copy.\n"}},
			wantText: "Describe the product.\n\nBe brief.\n",
			check: func(t *testing.T, e promptpolicy.Effect) {
				if e.TokensSaved <= 0 || e.BlocksNormalized != 2 {
					t.Errorf("effect %+v, want tokens saved in 2 blocks", e)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			toolInput := json.RawMessage(`{"q":  "a    b"}`)
			req := &llm.Request{
				System: tc.system,
				Messages: []llm.Message{
					{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(messy)}},
					{Role: llm.RoleAssistant, Content: []llm.Block{
						{Type: llm.BlockReasoning, Text: "think   hard  ", Signature: "sig"},
						{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "t1", Name: "find", Input: toolInput}},
					}},
					{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{
						ToolUseID: "t1", Content: []llm.ToolResultContent{{Text: "found   it  \n\n\n\nok"}}}}}},
				},
				Config: llm.InferenceConfig{MaxTokens: tc.maxTokens},
			}
			e := promptpolicy.Apply(tc.p, req, c)
			if !reflect.DeepEqual(req.Config.MaxTokens, tc.wantMax) {
				t.Errorf("max_tokens %v, want %v", deref(req.Config.MaxTokens), deref(tc.wantMax))
			}
			wantSys := tc.wantSys
			if wantSys == nil {
				wantSys = tc.system
			}
			if !reflect.DeepEqual(req.System, wantSys) {
				t.Errorf("system %+v, want %+v", req.System, wantSys)
			}
			if got := req.Messages[0].Content[0].Text; got != tc.wantText {
				t.Errorf("user text %q, want %q", got, tc.wantText)
			}
			if got := req.Messages[1].Content[0].Text; got != "think   hard  " {
				t.Errorf("reasoning changed: %q", got)
			}
			if got := string(req.Messages[1].Content[1].ToolUse.Input); got != string(toolInput) {
				t.Errorf("tool input changed: %s", got)
			}
			if got := req.Messages[2].Content[0].ToolResult.Content[0].Text; got != "found   it  \n\n\n\nok" {
				t.Errorf("tool result changed: %q", got)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
			// Idempotent: a second pass changes nothing more.
			before := deepCopy(req)
			e2 := promptpolicy.Apply(tc.p, req, c)
			if e2.Changed() || !reflect.DeepEqual(req, before) {
				t.Errorf("second Apply changed the request: %+v", e2)
			}
		})
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func deepCopy(r *llm.Request) *llm.Request {
	c := *r
	c.System = append([]llm.SystemBlock(nil), r.System...)
	c.Messages = nil
	for _, m := range r.Messages {
		m.Content = append([]llm.Block(nil), m.Content...)
		c.Messages = append(c.Messages, m)
	}
	return &c
}

func TestApplyDoesNotMutateInputs(t *testing.T) {
	system := []llm.SystemBlock{{Text: "Sys   prompt"}}
	content := []llm.Block{llm.TextBlock("a   b"), llm.TextBlock("clean")}
	msgs := []llm.Message{{Role: llm.RoleUser, Content: content}}
	mt := 9000
	req := &llm.Request{System: system, Messages: msgs, Config: llm.InferenceConfig{MaxTokens: &mt}}
	p := promptpolicy.Policy{MaxMaxTokens: 100, OutputFormat: "JSON only.", NormalizeWhitespace: true}
	promptpolicy.Apply(p, req, nil)

	if system[0].Text != "Sys   prompt" || len(system) != 1 {
		t.Errorf("caller's system changed: %+v", system)
	}
	if content[0].Text != "a   b" || msgs[0].Content[0].Text != "a   b" {
		t.Errorf("caller's messages changed: %+v", msgs)
	}
	if mt != 9000 {
		t.Errorf("caller's max_tokens changed to %d", mt)
	}
	if req.System[0].Text != "Sys prompt" || req.Messages[0].Content[0].Text != "a b" || *req.Config.MaxTokens != 100 {
		t.Errorf("request not updated: %+v", req)
	}
}

func TestPolicyValidate(t *testing.T) {
	cases := []struct {
		p  promptpolicy.Policy
		ok bool
	}{
		{promptpolicy.Policy{}, true},
		{promptpolicy.Policy{DefaultMaxTokens: 200, MaxMaxTokens: 1000}, true},
		{promptpolicy.Policy{DefaultMaxTokens: -1}, false},
		{promptpolicy.Policy{MaxMaxTokens: -1}, false},
		{promptpolicy.Policy{DefaultMaxTokens: 2000, MaxMaxTokens: 1000}, false},
	}
	for _, tc := range cases {
		err := tc.p.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v", tc.p, err)
		}
		if err != nil && llm.KindOf(err) != llm.KindValidation {
			t.Errorf("kind %s", llm.KindOf(err))
		}
	}
}

type recorder struct{ got *llm.Request }

func (r *recorder) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	r.got = req
	return &llm.Response{}, nil
}

func (r *recorder) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	r.got = req
	return &llm.SliceStream{}, nil
}

func TestStage(t *testing.T) {
	var effects []promptpolicy.Effect
	var ids []string
	o := promptpolicy.Options{
		Default: promptpolicy.Policy{DefaultMaxTokens: 256},
		PolicyFor: func(req *llm.Request) (promptpolicy.Policy, bool) {
			if req.Meta.Route == "copy" {
				return promptpolicy.Policy{MaxMaxTokens: 100, OutputFormat: "Respond in JSON only.", NormalizeWhitespace: true}, true
			}
			return promptpolicy.Policy{}, false
		},
		OnApply: func(req *llm.Request, e promptpolicy.Effect) {
			ids = append(ids, req.Meta.RequestID)
			effects = append(effects, e)
		},
	}
	rec := &recorder{}
	inv := llm.Chain(rec, promptpolicy.Stage(o))

	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi    there")}}},
		Config: llm.InferenceConfig{MaxTokens: intp(4000)}, Meta: llm.Meta{RequestID: "r1", Route: "copy"}}
	if _, err := inv.Invoke(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if *rec.got.Config.MaxTokens != 100 || rec.got.Messages[0].Content[0].Text != "hi there" || len(rec.got.System) != 1 {
		t.Errorf("route policy not applied: %+v", rec.got)
	}

	plain := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi    there")}}},
		Meta: llm.Meta{RequestID: "r2"}}
	if _, err := inv.Stream(context.Background(), plain); err != nil {
		t.Fatal(err)
	}
	if *rec.got.Config.MaxTokens != 256 || rec.got.Messages[0].Content[0].Text != "hi    there" || rec.got.System != nil {
		t.Errorf("default policy not applied as configured: %+v", rec.got)
	}

	unchanged := &llm.Request{Config: llm.InferenceConfig{MaxTokens: intp(10)}, Meta: llm.Meta{RequestID: "r3"}}
	inv.Invoke(context.Background(), unchanged)

	if !reflect.DeepEqual(ids, []string{"r1", "r2"}) {
		t.Fatalf("OnApply called for %v, want r1 and r2 only", ids)
	}
	if e := effects[0]; !e.MaxTokensCapped || !e.FormatAdded || e.TokensSaved < 0 || e.BlocksNormalized != 1 {
		t.Errorf("effect r1 %+v", e)
	}
	if e := effects[1]; !e.MaxTokensSet || e.MaxTokens != 256 {
		t.Errorf("effect r2 %+v", e)
	}
}
