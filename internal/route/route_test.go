package route

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/route/learned"
)

func known(model string) (string, error) {
	switch model {
	case "nova-micro", "nova-lite", "nova-pro":
		return model, nil
	case "pro":
		return "nova-pro", nil
	}
	return "", fmt.Errorf("unknown model %q", model)
}

func support(t *testing.T) *Table {
	t.Helper()
	yes := true
	tb, err := NewTable([]Config{{
		Name: "support", Baseline: "nova-pro",
		Tiers: []Tier{{Name: "simple", Model: "nova-micro", MaxTokens: 300}, {Name: "complex", Model: "nova-lite", System: "Think step by step."}, {Name: "vision", Model: "nova-pro"}},
		Rules: []Rule{
			{Tier: "vision", When: Match{HasImages: &yes}},
			{Tier: "complex", When: Match{Keywords: []string{"error", "stack trace"}}},
			{Tier: "complex", When: Match{MinChars: 200}},
			{Tier: "complex", When: Match{Tenants: []string{"bigcorp"}, Tags: map[string]string{"tier": "gold"}}},
			{Tier: "complex", When: Match{Headers: map[string]string{"X-Priority": "high"}}},
			{Tier: "complex", When: Match{Regex: `(?i)\bticket #\d+`}},
		},
		Default: "simple",
	}}, known)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func userReq(text string) *llm.Request {
	return &llm.Request{Model: "support", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(text)}}}}
}

func TestPick(t *testing.T) {
	tb := support(t)
	r, _ := tb.Get("SUPPORT")
	img := userReq("what is this?")
	img.Messages[0].Content = append(img.Messages[0].Content, llm.Block{Type: llm.BlockImage, Image: &llm.Image{Format: "png", Bytes: []byte{1}}})
	gold := userReq("hi")
	gold.Meta.Tenant, gold.Meta.Tags = "bigcorp", map[string]string{"tier": "gold"}
	silver := userReq("hi")
	silver.Meta.Tenant, silver.Meta.Tags = "bigcorp", map[string]string{"tier": "silver"}
	cases := []struct {
		name   string
		req    *llm.Request
		header map[string]string
		want   string
	}{
		{"short question", userReq("How do I reset my password?"), nil, "simple"},
		{"keyword", userReq("I get an Error when I log in"), nil, "complex"},
		{"keyword is a whole word", userReq("terrors of the deep"), nil, "simple"},
		{"phrase keyword", userReq("here is the stack trace"), nil, "complex"},
		{"long", userReq(strings.Repeat("word ", 50)), nil, "complex"},
		{"image", img, nil, "vision"},
		{"tenant and tag", gold, nil, "complex"},
		{"tenant without tag", silver, nil, "simple"},
		{"header", userReq("hi"), map[string]string{"x-priority": "high"}, "complex"},
		{"regex", userReq("about Ticket #123"), nil, "complex"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := func(k string) string { return tc.header[strings.ToLower(k)] }
			if got := r.Pick(tc.req, Input{Header: h}).Name; got != tc.want {
				t.Errorf("tier = %s, want %s", got, tc.want)
			}
		})
	}
}

type recorder struct{ got *llm.Request }

func (r *recorder) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	cp := *req
	r.got = &cp
	return &llm.Response{}, nil
}
func (r *recorder) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	r.Invoke(ctx, req)
	return &llm.SliceStream{}, nil
}

func TestStage(t *testing.T) {
	rec := &recorder{}
	inv := Stage(support(t))(rec)
	ctx := context.Background()

	req := userReq("my deploy fails with an error")
	if _, err := inv.Invoke(ctx, req); err != nil {
		t.Fatal(err)
	}
	if rec.got.Model != "nova-lite" || req.Meta.Route != "support" || req.Meta.BaselineModel != "nova-pro" {
		t.Errorf("routed to %s via %q baseline %q", rec.got.Model, req.Meta.Route, req.Meta.BaselineModel)
	}
	if len(rec.got.System) != 1 || rec.got.System[0].Text != "Think step by step." {
		t.Errorf("tier system prompt not applied: %+v", rec.got.System)
	}

	big := 1000
	req = userReq("hello")
	req.Config.MaxTokens = &big
	inv.Stream(ctx, req)
	if rec.got.Model != "nova-micro" || *rec.got.Config.MaxTokens != 300 {
		t.Errorf("simple tier: model %s max %d", rec.got.Model, *rec.got.Config.MaxTokens)
	}

	plain := userReq("hello")
	plain.Model = "nova-pro"
	inv.Invoke(ctx, plain)
	if rec.got.Model != "nova-pro" || plain.Meta.Route != "" {
		t.Errorf("plain model was routed: %+v", plain.Meta)
	}

	byHeader := userReq("hello")
	byHeader.Model = "anything"
	byHeader.Meta.Route = "nope"
	if _, err := inv.Invoke(ctx, byHeader); llm.KindOf(err) != llm.KindNotFound {
		t.Errorf("unknown route header: %v", err)
	}
}

func TestCompileCanonicalIDs(t *testing.T) {
	r, err := Compile(Config{Name: "r", Baseline: "pro", Tiers: []Tier{{Name: "a", Model: "pro"}}}, known)
	if err != nil {
		t.Fatal(err)
	}
	if r.Baseline != "nova-pro" || r.Tiers[0].Model != "nova-pro" {
		t.Errorf("not canonical: baseline %s tier %s", r.Baseline, r.Tiers[0].Model)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{Baseline: "nova-pro", Tiers: []Tier{{Model: "nova-micro"}}}, "name is required"},
		{"no tiers", Config{Name: "r", Baseline: "nova-pro"}, "at least one tier"},
		{"unknown model", Config{Name: "r", Baseline: "nova-pro", Tiers: []Tier{{Model: "gpt-9"}}}, "gpt-9"},
		{"no baseline", Config{Name: "r", Tiers: []Tier{{Model: "nova-micro"}}}, "baseline is required"},
		{"bad default", Config{Name: "r", Baseline: "nova-pro", Tiers: []Tier{{Model: "nova-micro"}}, Default: "x"}, "default tier"},
		{"bad rule tier", Config{Name: "r", Baseline: "nova-pro", Tiers: []Tier{{Model: "nova-micro"}}, Rules: []Rule{{Tier: "y"}}}, "rules[0]"},
		{"bad regex", Config{Name: "r", Baseline: "nova-pro", Tiers: []Tier{{Name: "a", Model: "nova-micro"}}, Rules: []Rule{{Tier: "a", When: Match{Regex: "("}}}}, "regex"},
		{"bad strategy", Config{Name: "r", Baseline: "nova-pro", Strategy: "magic", Tiers: []Tier{{Model: "nova-micro"}}}, "strategy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.cfg, known)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLearnedStrategy trains a small router on synthetic data where the
// cheap model fails on arithmetic, and checks the route sends those to the
// strong tier.
func TestLearnedStrategy(t *testing.T) {
	var ex []learned.Example
	for i := 0; i < 400; i++ {
		ex = append(ex,
			learned.Correct(fmt.Sprintf("what is %d times %d plus %d", i, i*7+3, i%13), false, true),
			learned.Correct(fmt.Sprintf("how do I reset my password for account %d", i), true, true))
	}
	// Target 1: every prompt the cheap model fails must go up (at 0.95 the
	// router may rightly keep a tenth of the arithmetic on the cheap tier).
	m, err := learned.Train(ex, learned.TrainOptions{Seed: 1, TargetQuality: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "router.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := Compile(Config{Name: "support", Baseline: "nova-pro", Strategy: "learned", Default: "cheap",
		Tiers:   []Tier{{Name: "cheap", Model: "nova-micro"}, {Name: "strong", Model: "nova-pro"}},
		Learned: &LearnedConfig{Model: path, Strong: "strong"}}, known)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Pick(userReq("what is 4021 times 77 plus 5"), Input{}).Name; got != "strong" {
		t.Errorf("arithmetic went to %s", got)
	}
	if got := r.Pick(userReq("how do I reset my password for account 99999"), Input{}).Name; got != "cheap" {
		t.Errorf("password reset went to %s", got)
	}
	for _, bad := range []LearnedConfig{{Model: path, Strong: "nope"}, {Model: filepath.Join(t.TempDir(), "missing.json"), Strong: "strong"}, {Strong: "strong"}} {
		bad := bad
		if _, err := Compile(Config{Name: "x", Baseline: "nova-pro", Strategy: "learned", Default: "cheap",
			Tiers:   []Tier{{Name: "cheap", Model: "nova-micro"}, {Name: "strong", Model: "nova-pro"}},
			Learned: &bad}, known); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// A router trained with tags reads the request's tags (x-penny-tags).
func TestLearnedStrategyTags(t *testing.T) {
	var ex []learned.Example
	for i := 0; i < 400; i++ {
		e := learned.Correct(fmt.Sprintf("please help me with item %d", i), true, true)
		e.Tags = []string{"feature=chat"}
		if i%2 == 0 {
			e = learned.Correct(e.Text, false, true)
			e.Tags = []string{"feature=coding"}
		}
		ex = append(ex, e)
	}
	f := learned.DefaultFeatures()
	f.Tags = true
	m, err := learned.Train(ex, learned.TrainOptions{Features: &f, Seed: 1, TargetQuality: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "router.json")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(out); err != nil {
		t.Fatal(err)
	}
	out.Close()
	r, err := Compile(Config{Name: "assist", Baseline: "nova-pro", Strategy: "learned", Default: "cheap",
		Tiers:   []Tier{{Name: "cheap", Model: "nova-micro"}, {Name: "strong", Model: "nova-pro"}},
		Learned: &LearnedConfig{Model: path, Strong: "strong"}}, known)
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]string{"coding": "strong", "chat": "cheap"} {
		req := userReq("please help me with item 12345")
		req.Meta.Tags = map[string]string{"feature": tag, "team": "web"}
		if got := r.Pick(req, Input{}).Name; got != want {
			t.Errorf("feature=%s went to %s, want %s", tag, got, want)
		}
	}
}
