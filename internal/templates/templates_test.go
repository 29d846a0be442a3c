package templates_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/templates"
)

func mustLoad(tb testing.TB) *templates.Store {
	tb.Helper()
	s, err := templates.Load("testdata/ok")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown key", map[string]string{"a.yaml": "name: a\nversions:\n  - version: 1\n    user: hi\n    temprature: 1\n"}, "field temprature not found"},
		{"duplicate version", map[string]string{"a.yaml": "name: a\nversions:\n  - {version: 1, user: hi}\n  - {version: 1, user: ho}\n"}, "duplicate version 1"},
		{"bad syntax", map[string]string{"a.yaml": "name: a\nversions:\n  - {version: 1, user: 'hi {{.x'}\n"}, "versions[0]: user"},
		{"no name", map[string]string{"a.yaml": "versions:\n  - {version: 1, user: hi}\n"}, "name is required"},
		{"no user", map[string]string{"a.yaml": "name: a\nversions:\n  - {version: 1, system: hi}\n"}, "user is required"},
		{"bad version", map[string]string{"a.yaml": "name: a\nversions:\n  - {version: 0, user: hi}\n"}, "positive integer"},
		{"duplicate name", map[string]string{"a.yaml": "name: a\nversions: [{version: 1, user: hi}]\n", "b.yaml": "name: a\nversions: [{version: 1, user: hi}]\n"}, "already defined"},
		{"half example", map[string]string{"a.yaml": "name: a\nversions: [{version: 1, user: hi, examples: [{user: q}]}]\n"}, "examples[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := templates.Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := templates.Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}

func TestRender(t *testing.T) {
	s := mustLoad(t)
	if got := s.Names(); !reflect.DeepEqual(got, []string{"product-copy", "support-answer"}) {
		t.Errorf("Names %v", got)
	}
	vars := map[string]string{"product": "headphones", "question": "How do I pair them?"}
	cases := []struct {
		ref, wantRef string
		wantMsgs     int
		wantMax      int
	}{
		{"support-answer", "support-answer@2", 3, 200},
		{"support-answer@latest", "support-answer@2", 3, 200},
		{"support-answer@2", "support-answer@2", 3, 200},
		{"support-answer@1", "support-answer@1", 1, 0},
	}
	for _, tc := range cases {
		r, err := s.Render(tc.ref, vars)
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		if r.Ref != tc.wantRef || len(r.Messages) != tc.wantMsgs {
			t.Errorf("%s: ref %s, %d messages", tc.ref, r.Ref, len(r.Messages))
		}
		if (tc.wantMax == 0) != (r.MaxTokens == nil) || (r.MaxTokens != nil && *r.MaxTokens != tc.wantMax) {
			t.Errorf("%s: max_tokens %v", tc.ref, r.MaxTokens)
		}
		last := r.Messages[len(r.Messages)-1]
		if last.Role != llm.RoleUser || last.Content[0].Text != "How do I pair them?" {
			t.Errorf("%s: user message %+v", tc.ref, last)
		}
		if !strings.Contains(r.System[0].Text, "support agent for headphones") {
			t.Errorf("%s: system %q", tc.ref, r.System[0].Text)
		}
	}
	r, _ := s.Render("support-answer@2", vars)
	if r.Messages[0].Role != llm.RoleUser || r.Messages[0].Content[0].Text != "My headphones will not turn on." ||
		r.Messages[1].Role != llm.RoleAssistant || !strings.HasPrefix(r.Messages[1].Content[0].Text, `{"answer"`) {
		t.Errorf("examples %+v", r.Messages[:2])
	}
	if !reflect.DeepEqual(r.Vars, []string{"product", "question"}) {
		t.Errorf("vars %v", r.Vars)
	}
	r, err := s.Render("product-copy", map[string]string{"product": "a kettle", "tone": ""})
	if err != nil || r.System != nil || r.Messages[0].Content[0].Text != "Write a one-line description of a kettle." {
		t.Errorf("product-copy: %+v, %v", r, err)
	}
}

func TestRenderErrors(t *testing.T) {
	s := mustLoad(t)
	cases := []struct {
		ref  string
		vars map[string]string
		kind llm.ErrorKind
		want string
	}{
		{"nope", nil, llm.KindNotFound, `prompt template "nope" is not configured`},
		{"support-answer@7", nil, llm.KindNotFound, "has no version 7 (latest is 2)"},
		{"support-answer@x", nil, llm.KindValidation, "not a positive integer"},
		{"support-answer@2", map[string]string{"product": "headphones"}, llm.KindValidation, "missing variable question"},
		{"support-answer", nil, llm.KindValidation, "missing variable product, question"},
	}
	for _, tc := range cases {
		_, err := s.Render(tc.ref, tc.vars)
		if llm.KindOf(err) != tc.kind || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Render(%s) = %v (%s), want %s containing %q", tc.ref, err, llm.KindOf(err), tc.kind, tc.want)
		}
	}
	var nilStore *templates.Store
	if _, err := nilStore.Render("a", nil); llm.KindOf(err) != llm.KindNotFound {
		t.Errorf("nil store: %v", err)
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

func text(m llm.Message) string {
	var parts []string
	for _, b := range m.Content {
		parts = append(parts, b.Text)
	}
	return string(m.Role) + ":" + strings.Join(parts, "|")
}

func TestStage(t *testing.T) {
	s := mustLoad(t)
	tags := func() map[string]string {
		return map[string]string{"penny_template": "support-answer", "product": "headphones",
			"question": "How do I pair them?", "user": "u-1"}
	}
	cases := []struct {
		name     string
		system   []llm.SystemBlock
		messages []llm.Message
		max      *int
		want     []string
		wantSys  int
		wantMax  int
	}{
		{name: "no messages", want: []string{"user:My headphones will not turn on.", `assistant:{"answer": "Charge it for 30 minutes, then hold the power button for 5 seconds.", "escalate": false}`, "user:How do I pair them?"}, wantSys: 1, wantMax: 200},
		{name: "history", system: []llm.SystemBlock{{Text: "client"}}, max: intp(50),
			messages: []llm.Message{
				{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("earlier")}},
				{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("reply")}},
			},
			want:    []string{"user:My headphones will not turn on.", `assistant:{"answer": "Charge it for 30 minutes, then hold the power button for 5 seconds.", "escalate": false}`, "user:earlier", "assistant:reply", "user:How do I pair them?"},
			wantSys: 2, wantMax: 50},
		{name: "trailing user merged",
			messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("order #123")}}},
			want:     []string{"user:My headphones will not turn on.", `assistant:{"answer": "Charge it for 30 minutes, then hold the power button for 5 seconds.", "escalate": false}`, "user:order #123|How do I pair them?"},
			wantSys:  1, wantMax: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			inv := llm.Chain(rec, templates.Stage(s))
			in := tags()
			msgs := append([]llm.Message(nil), tc.messages...)
			req := &llm.Request{Model: "support", System: tc.system, Messages: msgs,
				Config: llm.InferenceConfig{MaxTokens: tc.max}, Meta: llm.Meta{Tags: in}}
			if _, err := inv.Invoke(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range rec.got.Messages {
				got = append(got, text(m))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("messages\n got %q\nwant %q", got, tc.want)
			}
			if len(rec.got.System) != tc.wantSys || !strings.Contains(rec.got.System[0].Text, "headphones") {
				t.Errorf("system %+v", rec.got.System)
			}
			if *rec.got.Config.MaxTokens != tc.wantMax {
				t.Errorf("max_tokens %d, want %d", *rec.got.Config.MaxTokens, tc.wantMax)
			}
			wantTags := map[string]string{"penny_template": "support-answer@2", "user": "u-1"}
			if !reflect.DeepEqual(rec.got.Meta.Tags, wantTags) {
				t.Errorf("tags %v, want %v", rec.got.Meta.Tags, wantTags)
			}
			if !reflect.DeepEqual(in, tags()) {
				t.Errorf("caller's tag map changed: %v", in)
			}
			if !reflect.DeepEqual(msgs, tc.messages) {
				t.Errorf("caller's messages changed: %+v", msgs)
			}
		})
	}

	// Without the tag the request passes untouched; errors stop the chain.
	rec := &recorder{}
	inv := llm.Chain(rec, templates.Stage(s))
	plain := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("hi")}}},
		Meta: llm.Meta{Tags: map[string]string{"product": "x"}}}
	if _, err := inv.Stream(context.Background(), plain); err != nil || len(rec.got.Messages) != 1 || rec.got.Meta.Tags["product"] != "x" {
		t.Errorf("plain request changed: %+v, %v", rec.got, err)
	}
	rec.got = nil
	bad := &llm.Request{Meta: llm.Meta{Tags: map[string]string{"penny_template": "support-answer@2", "product": "x"}}}
	if _, err := inv.Invoke(context.Background(), bad); llm.KindOf(err) != llm.KindValidation || rec.got != nil {
		t.Errorf("missing variable: %v, reached next: %v", err, rec.got != nil)
	}
	if _, err := llm.Chain(rec, templates.Stage(nil)).Invoke(context.Background(), bad); llm.KindOf(err) != llm.KindNotFound {
		t.Errorf("nil store: %v", err)
	}
}

func intp(v int) *int { return &v }
