package route

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

// answer is what the fake next returns for one model.
type answer struct {
	text   string
	stop   llm.StopReason
	usage  llm.Usage
	err    error
	cached bool   // report a response-cache hit
	served string // rewrite req.Model, as a fallback or catalog would
}

// script is a fake chain below routing: it answers per model and records
// every call.
type script struct {
	mu      sync.Mutex
	answers map[string]answer
	calls   []call
}

type call struct {
	model, system, user string
	maxTokens           int
	temperature         *float64
	stream              bool
	meta                llm.Meta
}

func (s *script) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	return s.do(req, false)
}

func (s *script) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	resp, err := s.do(req, true)
	if err != nil {
		return nil, err
	}
	return &llm.SliceStream{Events: llm.EventsOf(resp)}, nil
}

func (s *script) do(req *llm.Request, stream bool) (*llm.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := call{model: req.Model, user: req.LastUserText(), temperature: req.Config.Temperature, stream: stream, meta: req.Meta}
	for _, b := range req.System {
		c.system += b.Text
	}
	if req.Config.MaxTokens != nil {
		c.maxTokens = *req.Config.MaxTokens
	}
	s.calls = append(s.calls, c)
	a, ok := s.answers[req.Model]
	if !ok {
		return nil, llm.Errorf(llm.KindNotFound, "no script for %s", req.Model)
	}
	if a.served != "" {
		req.Model = a.served
	}
	if a.cached {
		req.Meta.Cache = llm.CacheHit
	} else {
		req.Meta.Cache = llm.CacheMiss
	}
	if a.err != nil {
		return nil, a.err
	}
	stop := a.stop
	if stop == "" {
		stop = llm.StopEndTurn
	}
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock(a.text)}}, StopReason: stop, Usage: a.usage}, nil
}

func (s *script) models() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		out = append(out, c.model)
	}
	return out
}

func quiet() Option { return WithLogger(slog.New(slog.DiscardHandler)) }

func u(in, out int) llm.Usage { return llm.Usage{InputTokens: in, OutputTokens: out} }

func agentTable(t *testing.T) *Table {
	t.Helper()
	tb, err := NewTable([]Config{{
		Name: "support", Baseline: "nova-pro", Strategy: "agent",
		Tiers: []Tier{{Name: "cheap", Model: "nova-lite", MaxTokens: 200}, {Name: "strong", Model: "nova-pro", System: "Be thorough."}},
		Agent: &AgentConfig{Model: "nova-micro", Labels: map[string]string{"Simple": "cheap", "complex": "strong"}, Default: "cheap"},
	}}, known)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestAgentStrategy(t *testing.T) {
	classifierErr := llm.Errorf(llm.KindThrottled, "slow down")
	cases := []struct {
		name      string
		agent     answer
		wantModel string
		wantExtra []llm.Charge
	}{
		{"simple", answer{text: "simple", usage: u(50, 1)}, "nova-lite", []llm.Charge{{Model: "nova-micro", Usage: u(50, 1), Why: llm.ChargeRoutingAgent}}},
		{"complex, padded and upper-case", answer{text: "  COMPLEX\n", usage: u(50, 2)}, "nova-pro", []llm.Charge{{Model: "nova-micro", Usage: u(50, 2), Why: llm.ChargeRoutingAgent}}},
		{"unparseable goes to default", answer{text: "complex.", usage: u(50, 2)}, "nova-lite", []llm.Charge{{Model: "nova-micro", Usage: u(50, 2), Why: llm.ChargeRoutingAgent}}},
		{"chatty goes to default", answer{text: "I think complex", usage: u(50, 4)}, "nova-lite", []llm.Charge{{Model: "nova-micro", Usage: u(50, 4), Why: llm.ChargeRoutingAgent}}},
		{"cached classification is free", answer{text: "complex", usage: u(50, 1), cached: true}, "nova-pro", nil},
		{"charged to the model that answered", answer{text: "complex", usage: u(50, 1), served: "nova-micro-eu"}, "nova-pro", []llm.Charge{{Model: "nova-micro-eu", Usage: u(50, 1), Why: llm.ChargeRoutingAgent}}},
		{"failure goes to default", answer{err: classifierErr}, "nova-lite", nil},
	}
	for _, tc := range cases {
		for _, streamed := range []bool{false, true} {
			name := tc.name
			if streamed {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				next := &script{answers: map[string]answer{
					"nova-micro": tc.agent,
					"nova-lite":  {text: "lite answer", usage: u(10, 10)},
					"nova-pro":   {text: "pro answer", usage: u(10, 10)},
				}}
				inv := Stage(agentTable(t), quiet())(next)
				req := userReq("Why does my invoice show two charges?")
				req.Meta.Tenant, req.Meta.KeyID, req.Meta.Tags = "acme", "k1", map[string]string{"team": "a"}
				var err error
				if streamed {
					var st llm.Stream
					st, err = inv.Stream(context.Background(), req)
					if err == nil {
						_, err = llm.Collect(st)
					}
				} else {
					_, err = inv.Invoke(context.Background(), req)
				}
				if err != nil {
					t.Fatal(err)
				}
				if req.Model != tc.wantModel {
					t.Errorf("model = %s, want %s", req.Model, tc.wantModel)
				}
				if !reflect.DeepEqual(req.Meta.Extra, tc.wantExtra) {
					t.Errorf("extra = %+v, want %+v", req.Meta.Extra, tc.wantExtra)
				}
				if len(next.calls) != 2 {
					t.Fatalf("calls = %v", next.models())
				}
				cl := next.calls[0]
				if cl.model != "nova-micro" || cl.user != "Why does my invoice show two charges?" ||
					cl.temperature == nil || *cl.temperature != 0 || cl.maxTokens == 0 || cl.maxTokens > 10 {
					t.Errorf("classification call: %+v", cl)
				}
				if !strings.Contains(cl.system, "complex, simple") {
					t.Errorf("classification prompt does not list sorted labels: %q", cl.system)
				}
				if cl.meta.Tenant != "acme" || cl.meta.KeyID != "k1" || cl.meta.Tags["team"] != "a" || cl.meta.Route != "" || cl.meta.Stream {
					t.Errorf("classification meta: %+v", cl.meta)
				}
				if next.calls[1].stream != streamed {
					t.Errorf("answer streamed = %v", next.calls[1].stream)
				}
			})
		}
	}
}

func TestAgentPromptOverrideAndEmptyText(t *testing.T) {
	tb, err := NewTable([]Config{{
		Name: "r", Baseline: "nova-pro", Strategy: "agent", Default: "cheap",
		Tiers: []Tier{{Name: "cheap", Model: "nova-lite"}, {Name: "strong", Model: "nova-pro"}},
		Agent: &AgentConfig{Model: "nova-micro", Labels: map[string]string{"easy": "cheap", "hard": "strong"}, Prompt: "Pick one of {labels}."},
	}}, known)
	if err != nil {
		t.Fatal(err)
	}
	next := &script{answers: map[string]answer{"nova-micro": {text: "hard"}, "nova-lite": {}, "nova-pro": {}}}
	inv := Stage(tb, quiet())(next)
	req := userReq("prove Fermat's last theorem")
	req.Model = "r"
	if _, err := inv.Invoke(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if req.Model != "nova-pro" || next.calls[0].system != "Pick one of easy, hard." {
		t.Errorf("model %s, prompt %q", req.Model, next.calls[0].system)
	}
	// Without user text there is nothing to classify: no call, default tier.
	next.calls = nil
	empty := &llm.Request{Model: "r"}
	if _, err := inv.Invoke(context.Background(), empty); err != nil {
		t.Fatal(err)
	}
	if got := next.models(); !reflect.DeepEqual(got, []string{"nova-lite"}) {
		t.Errorf("calls = %v", got)
	}
}

func cascadeTable(t *testing.T, checks Checks) *Table {
	t.Helper()
	tb, err := NewTable([]Config{{
		Name: "support", Baseline: "nova-pro", Strategy: "cascade",
		Tiers:   []Tier{{Name: "small", Model: "nova-micro", System: "Be brief.", MaxTokens: 100}, {Name: "large", Model: "nova-pro"}},
		Cascade: &CascadeConfig{Cheap: "small", Strong: "large", Checks: checks},
	}}, known)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

const goodAnswer = "Open Settings, choose Security, then Reset password."

func TestCascade(t *testing.T) {
	schema := map[string]any{"type": "object", "required": []any{"answer"},
		"properties": map[string]any{"answer": map[string]any{"type": "string"}, "tags": map[string]any{"type": "array", "items": map[string]any{"enum": []any{"a", "b"}}}}}
	judge := &JudgeConfig{Model: "nova-lite", MinScore: 7}
	rejected := func(model string) []llm.Attempt {
		return []llm.Attempt{{Model: model, Kind: llm.KindCascadeRejected}}
	}
	cases := []struct {
		name         string
		checks       Checks
		cheap, judge answer
		wantModel    string
		wantAttempts []llm.Attempt
		wantExtra    []llm.Charge
	}{
		{name: "accepts a good answer", checks: Checks{MinChars: 20},
			cheap: answer{text: goodAnswer, usage: u(30, 12)}, wantModel: "nova-micro"},
		{name: "refusal", checks: Checks{MinChars: 20},
			cheap:     answer{text: "I'm sorry, but I can't help with that request.", usage: u(30, 9)},
			wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 9), Why: "cascade"}}},
		{name: "custom refusal pattern", checks: Checks{RefusalPatterns: []string{`(?i)contact support`}},
			cheap:     answer{text: "Please contact support for this.", usage: u(30, 7)},
			wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 7), Why: "cascade"}}},
		{name: "refusal check off", checks: Checks{RefusalPatterns: []string{}},
			cheap: answer{text: "I can't help with that."}, wantModel: "nova-micro"},
		{name: "too short", checks: Checks{MinChars: 20},
			cheap: answer{text: "Yes.", usage: u(30, 1)}, wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 1), Why: "cascade"}}},
		{name: "empty", cheap: answer{text: "  ", usage: u(30, 1)}, wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 1), Why: "cascade"}}},
		{name: "cut off at max tokens", cheap: answer{text: goodAnswer, stop: llm.StopMaxTokens, usage: u(30, 100)},
			wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 100), Why: "cascade"}}},
		{name: "stop reason allowed by config", checks: Checks{StopReasonsOK: []string{"end_turn", "max_tokens"}},
			cheap: answer{text: goodAnswer, stop: llm.StopMaxTokens}, wantModel: "nova-micro"},
		{name: "valid json", checks: Checks{JSONSchema: schema},
			cheap: answer{text: "```json\n{\"answer\": \"yes\", \"tags\": [\"a\"]}\n```"}, wantModel: "nova-micro"},
		{name: "not json", checks: Checks{JSONSchema: schema},
			cheap: answer{text: "The answer is yes.", usage: u(30, 5)}, wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 5), Why: "cascade"}}},
		{name: "json missing required", checks: Checks{JSONSchema: `{"type":"object","required":["answer"]}`},
			cheap: answer{text: `{"reply": "yes"}`, usage: u(30, 5)}, wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 5), Why: "cascade"}}},
		{name: "json enum violated", checks: Checks{JSONSchema: schema},
			cheap: answer{text: `{"answer": "yes", "tags": ["c"]}`, usage: u(30, 5)}, wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 5), Why: "cascade"}}},
		{name: "judge accepts", checks: Checks{Judge: judge},
			cheap: answer{text: goodAnswer, usage: u(30, 12)}, judge: answer{text: " 8 ", usage: u(80, 1)}, wantModel: "nova-micro",
			wantExtra: []llm.Charge{{Model: "nova-lite", Usage: u(80, 1), Why: "cascade-judge"}}},
		{name: "judge scores low", checks: Checks{Judge: judge},
			cheap: answer{text: goodAnswer, usage: u(30, 12)}, judge: answer{text: "4", usage: u(80, 1)},
			wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-lite", Usage: u(80, 1), Why: "cascade-judge"}, {Model: "nova-micro", Usage: u(30, 12), Why: "cascade"}}},
		{name: "judge unparseable", checks: Checks{Judge: judge},
			cheap: answer{text: goodAnswer, usage: u(30, 12)}, judge: answer{text: "8/10", usage: u(80, 3), cached: true},
			wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 12), Why: "cascade"}}},
		{name: "judge fails", checks: Checks{Judge: judge},
			cheap: answer{text: goodAnswer, usage: u(30, 12)}, judge: answer{err: errors.New("boom")},
			wantModel: "nova-pro", wantAttempts: rejected("nova-micro"),
			wantExtra: []llm.Charge{{Model: "nova-micro", Usage: u(30, 12), Why: "cascade"}}},
		{name: "cheap error", cheap: answer{err: llm.Errorf(llm.KindThrottled, "slow down")},
			wantModel: "nova-pro", wantAttempts: []llm.Attempt{{Model: "nova-micro", Kind: llm.KindThrottled}}},
		{name: "cached cheap answer rejected is free", checks: Checks{MinChars: 20},
			cheap: answer{text: "No.", usage: u(30, 1), cached: true}, wantModel: "nova-pro", wantAttempts: rejected("nova-micro")},
		{name: "rejected answer charged to the model that served it", checks: Checks{MinChars: 20},
			cheap:     answer{text: "No.", usage: u(30, 1), served: "nova-micro-eu"},
			wantModel: "nova-pro", wantAttempts: rejected("nova-micro-eu"),
			wantExtra: []llm.Charge{{Model: "nova-micro-eu", Usage: u(30, 1), Why: "cascade"}}},
	}
	for _, tc := range cases {
		for _, streamed := range []bool{false, true} {
			name := tc.name
			if streamed {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				next := &script{answers: map[string]answer{
					"nova-micro": tc.cheap,
					"nova-lite":  tc.judge,
					"nova-pro":   {text: "the strong answer", usage: u(30, 40)},
				}}
				inv := Stage(cascadeTable(t, tc.checks), quiet())(next)
				req := userReq("How do I reset my password?")
				req.Meta.Stream = streamed
				prior := llm.Charge{Model: "nova-micro", Usage: u(1, 1), Why: "earlier"}
				req.Meta.Extra = []llm.Charge{prior}
				var resp *llm.Response
				var err error
				if streamed {
					var st llm.Stream
					st, err = inv.Stream(context.Background(), req)
					if err == nil {
						resp, err = llm.Collect(st)
					}
				} else {
					resp, err = inv.Invoke(context.Background(), req)
				}
				if err != nil {
					t.Fatal(err)
				}
				if req.Model != tc.wantModel {
					t.Errorf("model = %s, want %s", req.Model, tc.wantModel)
				}
				wantText := tc.cheap.text
				if tc.wantModel == "nova-pro" {
					wantText = "the strong answer"
				}
				if resp.Text() != wantText {
					t.Errorf("answer = %q, want %q", resp.Text(), wantText)
				}
				for i := range req.Meta.Attempts {
					req.Meta.Attempts[i].Latency = 0
				}
				if !reflect.DeepEqual(req.Meta.Attempts, tc.wantAttempts) {
					t.Errorf("attempts = %+v, want %+v", req.Meta.Attempts, tc.wantAttempts)
				}
				if want := append([]llm.Charge{prior}, tc.wantExtra...); !reflect.DeepEqual(req.Meta.Extra, want) {
					t.Errorf("extra = %+v, want %+v", req.Meta.Extra, want)
				}
				if req.Meta.Route != "support" || req.Meta.BaselineModel != "nova-pro" || req.Meta.Stream != streamed {
					t.Errorf("meta = %+v", req.Meta)
				}
				// The cheap tier is always tried first, buffered (Invoke) even for
				// streaming requests, with its system prompt and max_tokens.
				c0 := next.calls[0]
				if c0.model != "nova-micro" || c0.stream || c0.system != "Be brief." || c0.maxTokens != 100 {
					t.Errorf("cheap call: %+v", c0)
				}
				last := next.calls[len(next.calls)-1]
				if tc.wantModel == "nova-pro" {
					// The strong call sees neither the cheap tier's system prompt
					// nor its max_tokens, and streams if the client streams.
					if last.model != "nova-pro" || last.system != "" || last.maxTokens != 0 || last.stream != streamed {
						t.Errorf("strong call: %+v", last)
					}
				} else if last.model == "nova-pro" {
					t.Errorf("escalated an accepted answer: %v", next.models())
				}
			})
		}
	}
}

// TestCascadeStreamReplay checks that an accepted cheap answer is replayed
// as a complete event stream.
func TestCascadeStreamReplay(t *testing.T) {
	next := &script{answers: map[string]answer{"nova-micro": {text: goodAnswer, usage: u(3, 4)}, "nova-pro": {text: "x"}}}
	inv := Stage(cascadeTable(t, Checks{}), quiet())(next)
	st, err := inv.Stream(context.Background(), userReq("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var types []llm.EventType
	var usage *llm.Usage
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
		if ev.Usage != nil {
			usage = ev.Usage
		}
	}
	want := []llm.EventType{llm.EventMessageStart, llm.EventBlockDelta, llm.EventBlockStop, llm.EventMessageStop, llm.EventMetadata}
	if !reflect.DeepEqual(types, want) || usage == nil || *usage != u(3, 4) {
		t.Errorf("events %v usage %+v", types, usage)
	}
}

// TestCascadeLeavesRequestIntact checks that stages below rewriting the
// cheap attempt's messages do not leak into the strong attempt.
func TestCascadeLeavesRequestIntact(t *testing.T) {
	next := &mutating{script: script{answers: map[string]answer{"nova-micro": {text: "no"}, "nova-pro": {text: goodAnswer}}}}
	inv := Stage(cascadeTable(t, Checks{MinChars: 10}), quiet())(next)
	req := userReq("hello there")
	if _, err := inv.Invoke(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := next.calls[1].user; got != "hello there" {
		t.Errorf("strong attempt saw %q", got)
	}
}

type mutating struct{ script }

func (m *mutating) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	resp, err := m.script.Invoke(ctx, req)
	req.Messages[0].Content[0].Text = "rewritten"
	return resp, err
}

func TestStrategyCompileErrors(t *testing.T) {
	tiers := []Tier{{Name: "a", Model: "nova-micro"}, {Name: "b", Model: "nova-pro"}}
	agentCfg := func(a *AgentConfig) Config {
		return Config{Name: "r", Baseline: "nova-pro", Strategy: "agent", Tiers: tiers, Agent: a}
	}
	cascadeCfg := func(c *CascadeConfig) Config {
		return Config{Name: "r", Baseline: "nova-pro", Strategy: "cascade", Tiers: tiers, Cascade: c}
	}
	labels := map[string]string{"easy": "a", "hard": "b"}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"agent missing", agentCfg(nil), "agent.model"},
		{"agent unknown model", agentCfg(&AgentConfig{Model: "gpt-9", Labels: labels}), "gpt-9"},
		{"agent no labels", agentCfg(&AgentConfig{Model: "nova-micro"}), "agent.labels"},
		{"agent label to unknown tier", agentCfg(&AgentConfig{Model: "nova-micro", Labels: map[string]string{"easy": "zz"}}), `"zz" is not a tier`},
		{"agent label with space", agentCfg(&AgentConfig{Model: "nova-micro", Labels: map[string]string{"very hard": "b"}}), "single word"},
		{"agent duplicate label", agentCfg(&AgentConfig{Model: "nova-micro", Labels: map[string]string{"Easy": "a", "easy": "b"}}), "twice"},
		{"agent bad default", agentCfg(&AgentConfig{Model: "nova-micro", Labels: labels, Default: "zz"}), "agent.default"},
		{"cascade missing", cascadeCfg(nil), "cascade.cheap"},
		{"cascade unknown cheap", cascadeCfg(&CascadeConfig{Cheap: "zz", Strong: "b"}), "cascade.cheap"},
		{"cascade unknown strong", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "zz"}), "cascade.strong"},
		{"cascade same tier", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "a"}), "same tier"},
		{"cascade bad regex", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "b", Checks: Checks{RefusalPatterns: []string{"("}}}), "refusal_patterns[0]"},
		{"cascade bad stop reason", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "b", Checks: Checks{StopReasonsOK: []string{"done"}}}), "stop reason"},
		{"cascade negative min_chars", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "b", Checks: Checks{MinChars: -1}}), "min_chars"},
		{"cascade unknown judge", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "b", Checks: Checks{Judge: &JudgeConfig{Model: "gpt-9"}}}), "judge.model"},
		{"cascade judge score", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "b", Checks: Checks{Judge: &JudgeConfig{Model: "nova-pro", MinScore: 11}}}), "min_score"},
		{"cascade schema not json", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "b", Checks: Checks{JSONSchema: "{"}}), "json_schema"},
		{"cascade schema keyword", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "b", Checks: Checks{JSONSchema: map[string]any{"minimum": 3}}}), `"minimum" is not supported`},
		{"cascade schema type", cascadeCfg(&CascadeConfig{Cheap: "a", Strong: "b", Checks: Checks{JSONSchema: map[string]any{"type": "date"}}}), "unknown type"},
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

func TestSchemaValidate(t *testing.T) {
	sc, err := compileSchema(`{"type":"object","required":["n","items"],"additionalProperties":false,
		"properties":{"n":{"type":"integer"},"items":{"type":"array","items":{"type":["string","null"]}},"kind":{"enum":["a",1]}}}`)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		text string
		ok   bool
	}{
		{`{"n": 3, "items": ["x", null]}`, true},
		{`{"n": 3, "items": [], "kind": 1}`, true},
		{"```\n{\"n\": 3, \"items\": []}\n```", true},
		{`{"n": 3.5, "items": []}`, false},
		{`{"n": 3, "items": [1]}`, false},
		{`{"n": 3}`, false},
		{`{"n": 3, "items": [], "extra": true}`, false},
		{`{"n": 3, "items": [], "kind": "b"}`, false},
		{`[1]`, false},
		{`{"n": 3, "items": []} trailing`, false},
	}
	for _, tc := range cases {
		if err := sc.validateText(tc.text); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.text, err, tc.ok)
		}
	}
}

// TestPickNewStrategies checks what Pick says without the stage's calls.
func TestPickNewStrategies(t *testing.T) {
	a, _ := agentTable(t).Get("support")
	if got := a.Pick(userReq("hi"), Input{}).Name; got != "cheap" {
		t.Errorf("agent Pick = %s", got)
	}
	c, _ := cascadeTable(t, Checks{}).Get("support")
	if got := c.Pick(userReq("hi"), Input{}).Name; got != "small" {
		t.Errorf("cascade Pick = %s", got)
	}
}
