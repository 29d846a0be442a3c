package promptcache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/promptcache"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/tokens"
)

func counter(tb testing.TB) *tokens.Counter {
	tb.Helper()
	c, err := tokens.New()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// prose returns text of about n tokens, different for each seed.
func prose(tb testing.TB, seed string, n int) string {
	tb.Helper()
	c := counter(tb)
	var b strings.Builder
	for i := 0; c.Count(b.String()) < n; i++ {
		fmt.Fprintf(&b, "Rule %s-%d: answer politely, cite the policy section, and never promise refunds beyond thirty days. ", seed, i)
	}
	return c.Truncate(b.String(), n)
}

func tool(tb testing.TB, name string, descTokens int) llm.Tool {
	return llm.Tool{Name: name, Description: prose(tb, name, descTokens), InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}
}

func user(s string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(s)}}
}

func assistant(s string) llm.Message {
	return llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock(s)}}
}

// where lists a request's cache points in prompt order as "tools",
// "system" or "msg<i>", with their TTL when set.
func where(r *llm.Request) []string {
	var out []string
	add := func(s string, cp *llm.CachePoint) {
		if cp != nil && cp.TTL != "" {
			s += ":" + cp.TTL
		}
		out = append(out, s)
	}
	if r.Tools != nil {
		for _, t := range r.Tools.Tools {
			if t.CachePoint != nil {
				add("tools", t.CachePoint)
			}
		}
	}
	for _, b := range r.System {
		if b.CachePoint != nil {
			add("system", b.CachePoint)
		}
	}
	for i, m := range r.Messages {
		for _, b := range m.Content {
			if b.Type == llm.BlockCachePoint {
				add(fmt.Sprintf("msg%d", i), b.CachePoint)
			}
		}
	}
	return out
}

func model(tb testing.TB, id string) *catalog.Model {
	tb.Helper()
	t, err := catalog.MustBuiltin().Resolve(id)
	if err != nil || t.Model == nil {
		tb.Fatalf("resolve %s: %v", id, err)
	}
	return t.Model
}

func TestInsert(t *testing.T) {
	long := func(seed string) string { return prose(t, seed, 1500) }
	short := "You are a helpful support agent."
	sys := func(s string) []llm.SystemBlock { return []llm.SystemBlock{{Text: s}} }
	cp := func(ttl string) *llm.CachePoint { return &llm.CachePoint{TTL: ttl} }
	cpBlock := llm.Block{Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{}}
	tools := func(n int) *llm.ToolConfig {
		tc := &llm.ToolConfig{}
		for i := range n {
			tc.Tools = append(tc.Tools, tool(t, fmt.Sprintf("tool%d", i), 400))
		}
		return tc
	}
	chat := []llm.Message{user(long("doc")), assistant("Understood."), user("What is rule 3?")}

	cases := []struct {
		name  string
		model string
		req   llm.Request
		want  []string
	}{
		{"nova: short system, one turn", "nova-pro", llm.Request{System: sys(short), Messages: []llm.Message{user("hi")}}, nil},
		{"nova: long system", "nova-pro", llm.Request{System: sys(long("s")), Messages: []llm.Message{user("hi")}}, []string{"system"}},
		{"claude: long system", "claude-3-7-sonnet", llm.Request{System: sys(long("s")), Messages: []llm.Message{user("hi")}}, []string{"system"}},
		{"claude 3.5 haiku: 1,500 tokens is below its 2,048", "claude-3-5-haiku", llm.Request{System: sys(long("s")), Messages: []llm.Message{user("hi")}}, nil},
		{"claude: long tools", "claude-3-7-sonnet", llm.Request{Tools: tools(4), System: sys(short), Messages: []llm.Message{user("hi")}}, []string{"tools", "system"}},
		{"nova: long tools go uncached in tools, system covers them", "nova-pro", llm.Request{Tools: tools(4), System: sys(short), Messages: []llm.Message{user("hi")}}, []string{"system"}},
		{"nova: long tools, no system", "nova-pro", llm.Request{Tools: tools(4), Messages: []llm.Message{user("hi")}}, nil},
		{"claude: long tools, no system", "claude-3-7-sonnet", llm.Request{Tools: tools(4), Messages: []llm.Message{user("hi")}}, []string{"tools"}},
		{"short tools below minimum, system reaches it", "claude-3-7-sonnet", llm.Request{Tools: tools(1), System: sys(long("s")), Messages: []llm.Message{user("hi")}}, []string{"system"}},
		{"nova: long leading context", "nova-lite", llm.Request{System: sys(short), Messages: chat}, []string{"msg0", "msg2"}},
		{"claude: everything, four at most", "claude-sonnet-4", llm.Request{Tools: tools(4), System: sys(long("s")), Messages: chat}, []string{"tools", "system", "msg0", "msg2"}},
		{"client checkpoint counts: system, tools, history win", "claude-sonnet-4",
			llm.Request{Tools: tools(4), System: sys(long("s")), Messages: []llm.Message{user(long("doc")), assistant("ok"), {Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("q"), cpBlock}}}},
			[]string{"tools", "system", "msg0", "msg2"}},
		{"budget short: system then tools", "claude-sonnet-4",
			llm.Request{Tools: tools(4), System: sys(long("s")), Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(long("doc")), cpBlock, llm.TextBlock("more"), cpBlock}}, assistant("ok"), user("q")}},
			[]string{"tools", "system", "msg0", "msg0"}},
		{"client used all four: untouched", "claude-sonnet-4",
			llm.Request{System: []llm.SystemBlock{{Text: long("s")}, {CachePoint: cp("")}, {Text: "a"}, {CachePoint: cp("")}, {Text: "b"}, {CachePoint: cp("")}, {Text: "c"}, {CachePoint: cp("")}}, Messages: chat},
			[]string{"system", "system", "system", "system"}},
		{"client checkpoint at the same prefix is not doubled", "nova-pro",
			llm.Request{System: []llm.SystemBlock{{Text: long("s")}, {CachePoint: cp("")}}, Messages: []llm.Message{user("hi")}}, []string{"system"}},
		{"nothing before a client 1h checkpoint", "claude-sonnet-4",
			llm.Request{Tools: tools(4), System: sys(long("s")), Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(long("doc")), {Type: llm.BlockCachePoint, CachePoint: cp("1h")}}}, assistant("ok"), user("q")}},
			[]string{"msg0:1h", "msg2"}},
		{"no prompt cache: untouched", "claude-3-haiku", llm.Request{Tools: tools(4), System: sys(long("s")), Messages: chat}, nil},
		{"llama: untouched", "llama3-1-70b", llm.Request{System: sys(long("s")), Messages: chat}, nil},
	}
	c := counter(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := model(t, tc.model)
			req := tc.req
			req.Model = tc.model
			before := deepCopy(t, &req)
			out, n := promptcache.Insert(c, m, &req, "")
			if got := where(&out); !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("checkpoints = %v, want %v", got, tc.want)
			}
			if want := len(tc.want) - len(where(&req)); n != want {
				t.Errorf("inserted %d, want %d", n, want)
			}
			if !reflect.DeepEqual(deepCopy(t, &req), before) {
				t.Errorf("Insert changed its input")
			}
			// Idempotent: a second pass adds nothing.
			again, n2 := promptcache.Insert(c, m, &out, "")
			if n2 != 0 || !reflect.DeepEqual(where(&again), where(&out)) {
				t.Errorf("second pass inserted %d: %v", n2, where(&again))
			}
			// Every inserted checkpoint is honoured: the prefix reaches the minimum.
			if pc := m.Capabilities.PromptCache; pc != nil {
				_, cps := c.CountCheckpoints(&out)
				if len(cps) > pc.MaxCheckpoints {
					t.Errorf("%d checkpoints, more than %d", len(cps), pc.MaxCheckpoints)
				}
				for i, cp := range cps {
					if i > 0 && cp.Tokens == cps[i-1].Tokens && n > 0 {
						t.Errorf("checkpoints %d and %d cover the same prefix", i-1, i)
					}
				}
			}
		})
	}
}

// deepCopy snapshots a request through JSON, so that later changes to
// shared slices show.
func deepCopy(tb testing.TB, r *llm.Request) string {
	tb.Helper()
	js, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return string(js)
}

// TestNoSharedSpareCapacity checks that appending to slices with spare
// capacity does not write into memory another request shares.
func TestNoSharedSpareCapacity(t *testing.T) {
	c := counter(t)
	m := model(t, "claude-sonnet-4")
	system := make([]llm.SystemBlock, 1, 8)
	system[0].Text = prose(t, "s", 1500)
	tools := make([]llm.Tool, 0, 8)
	for i := range 4 {
		tools = append(tools, tool(t, fmt.Sprint("t", i), 400))
	}
	content := make([]llm.Block, 1, 8)
	content[0] = llm.TextBlock(prose(t, "doc", 1500))
	msgs := make([]llm.Message, 0, 8)
	msgs = append(msgs, llm.Message{Role: llm.RoleUser, Content: content}, assistant("ok"), user("q"))
	tc := &llm.ToolConfig{Tools: tools}
	req := llm.Request{Model: "sonnet-4", System: system, Tools: tc, Messages: msgs}
	out, n := promptcache.Insert(c, m, &req, "")
	if n != 4 {
		t.Fatalf("inserted %d, want 4", n)
	}
	if out.Tools == tc || &out.Tools.Tools[0] == &tools[0] || &out.System[0] == &system[0] ||
		&out.Messages[0] == &msgs[0] || &out.Messages[0].Content[0] == &content[0] {
		t.Errorf("output shares a slice it changed with the input")
	}
	if s := system[:cap(system)][1]; s.CachePoint != nil {
		t.Errorf("system's spare capacity was written")
	}
	if b := content[:cap(content)][1]; b.Type != "" {
		t.Errorf("message content's spare capacity was written")
	}
	if len(req.Tools.Tools) != 4 || len(req.System) != 1 || len(req.Messages[0].Content) != 1 {
		t.Errorf("input lengths changed")
	}
}

// recorder is the next invoker: it keeps the request it was given.
type recorder struct {
	mu  sync.Mutex
	got []*llm.Request
}

func (r *recorder) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req)
	req.Meta.Provider = "test"
	return &llm.Response{}, nil
}

func (r *recorder) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	_, err := r.Invoke(ctx, req)
	return nil, err
}

func TestStage(t *testing.T) {
	cat := catalog.MustBuiltin()
	c := counter(t)
	stats := &promptcache.Stats{}
	route := ""
	rec := &recorder{}
	inv := llm.Chain(rec, promptcache.Stage(promptcache.Options{Catalog: cat, Counter: c, Stats: stats,
		PolicyFor: func(r *llm.Request) promptcache.Policy { return promptcache.Policy{Enabled: r.Meta.Route != "off"} }}))
	sysPrompt := prose(t, "s", 1500)
	mk := func(model string) *llm.Request {
		return &llm.Request{Model: model, System: []llm.SystemBlock{{Text: sysPrompt}}, Messages: []llm.Message{user("hi")}, Meta: llm.Meta{Route: route}}
	}

	req := mk("us.amazon.nova-pro-v1:0")
	if _, err := inv.Invoke(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := where(rec.got[0]); !reflect.DeepEqual(got, []string{"system"}) {
		t.Errorf("upstream checkpoints = %v", got)
	}
	if where(req) != nil || len(req.System) != 1 {
		t.Errorf("caller's request was changed: %v", where(req))
	}
	if req.Meta.Provider != "test" {
		t.Errorf("Meta set below the stage was not passed back: %+v", req.Meta)
	}
	if _, err := inv.Stream(context.Background(), mk("nova-pro")); err != nil {
		t.Fatal(err)
	}
	if got := where(rec.got[1]); !reflect.DeepEqual(got, []string{"system"}) {
		t.Errorf("stream: upstream checkpoints = %v", got)
	}

	for _, tc := range []struct{ name, model, route string }{
		{"route switched off", "nova-pro", "off"},
		{"no prompt cache", "claude-3-haiku", ""},
		{"unknown model", "no-such-model", ""},
	} {
		route = tc.route
		req := mk(tc.model)
		if _, err := inv.Invoke(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if got := rec.got[len(rec.got)-1]; got != req || where(got) != nil {
			t.Errorf("%s: request was not passed through untouched", tc.name)
		}
	}
	if stats.Requests() != 2 || stats.Checkpoints() != 2 {
		t.Errorf("stats = %d requests, %d checkpoints; want 2, 2", stats.Requests(), stats.Checkpoints())
	}
}

// TestThroughSimulator sends two identical requests with a long system
// prompt to the simulator through the stage: the first writes the prompt
// cache, the second reads it and costs less than the same request would
// without the stage.
func TestThroughSimulator(t *testing.T) {
	cat := catalog.MustBuiltin()
	c := counter(t)
	m := model(t, "nova-pro")
	sysPrompt := prose(t, "support", 1500)
	mk := func() *llm.Request {
		return &llm.Request{Model: "nova-pro", System: []llm.SystemBlock{{Text: sysPrompt}},
			Messages: []llm.Message{user("How do I reset my password?")}}
	}
	provider := sim.New(cat, c, sim.Options{TimeScale: 0})
	inv := llm.Chain(provider, promptcache.Stage(promptcache.Options{Catalog: cat, Counter: c}))

	first, err := inv.Invoke(context.Background(), mk())
	if err != nil {
		t.Fatal(err)
	}
	second, err := inv.Invoke(context.Background(), mk())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sim.New(cat, c, sim.Options{TimeScale: 0}).Invoke(context.Background(), mk())
	if err != nil {
		t.Fatal(err)
	}
	if first.Usage.CacheWriteTokens < 1500 || first.Usage.CacheReadTokens != 0 {
		t.Errorf("first usage = %+v, want a cache write of the system prompt", first.Usage)
	}
	if second.Usage.CacheReadTokens < 1500 || second.Usage.CacheWriteTokens != 0 {
		t.Errorf("second usage = %+v, want a cache read of the system prompt", second.Usage)
	}
	if plain.Usage.CacheReadTokens+plain.Usage.CacheWriteTokens != 0 {
		t.Errorf("without the stage usage = %+v, want no cache", plain.Usage)
	}
	if second.Usage.TotalInput() != plain.Usage.TotalInput() {
		t.Errorf("prompt sizes differ: %d with the stage, %d without", second.Usage.TotalInput(), plain.Usage.TotalInput())
	}
	c1, _ := m.Cost(first.Usage, catalog.Terms{})
	c2, _ := m.Cost(second.Usage, catalog.Terms{})
	c0, _ := m.Cost(plain.Usage, catalog.Terms{})
	t.Logf("cost: first %v, second %v, without the stage %v (baseline %v)", c1, c2, c0, m.BaselineCost(second.Usage))
	if c2 >= c0 {
		t.Errorf("cache hit costs %v, not less than %v without the stage", c2, c0)
	}
	if c2 >= m.BaselineCost(second.Usage) {
		t.Errorf("cache hit costs %v, not less than its baseline %v", c2, m.BaselineCost(second.Usage))
	}
}

// TestConversationThroughSimulator checks that a growing conversation
// reads, on each turn, the history the previous turn wrote.
func TestConversationThroughSimulator(t *testing.T) {
	cat := catalog.MustBuiltin()
	c := counter(t)
	inv := llm.Chain(sim.New(cat, c, sim.Options{TimeScale: 0}), promptcache.Stage(promptcache.Options{Catalog: cat, Counter: c}))
	msgs := []llm.Message{user(prose(t, "doc", 2500)), assistant("Read it."), user("Summarise rule 2.")}
	var reads []int
	for turn := range 3 {
		req := &llm.Request{Model: "claude-sonnet-4", System: []llm.SystemBlock{{Text: "You answer about the policy."}}, Messages: msgs}
		resp, err := inv.Invoke(context.Background(), req)
		if err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		reads = append(reads, resp.Usage.CacheReadTokens)
		msgs = append(msgs, resp.Message, user(fmt.Sprintf("And rule %d?", turn+3)))
	}
	if reads[0] != 0 || reads[1] < 2500 || reads[2] <= reads[1] {
		t.Errorf("cache reads per turn = %v, want 0, then the history, growing", reads)
	}
}

func BenchmarkStage(b *testing.B) {
	cat := catalog.MustBuiltin()
	c := counter(b)
	inv := llm.Chain(nop{}, promptcache.Stage(promptcache.Options{Catalog: cat, Counter: c}))
	req := llm.Request{Model: "nova-pro", System: []llm.SystemBlock{{Text: prose(b, "s", 1500)}},
		Messages: []llm.Message{user("I ordered a blue jacket last week."), assistant("Thanks, I found the order."), user("Can I change the size to medium?")}}
	b.ReportAllocs()
	for b.Loop() {
		r := req
		if _, err := inv.Invoke(context.Background(), &r); err != nil {
			b.Fatal(err)
		}
	}
}

type nop struct{}

func (nop) Invoke(context.Context, *llm.Request) (*llm.Response, error) { return &llm.Response{}, nil }
func (nop) Stream(context.Context, *llm.Request) (llm.Stream, error)    { return nil, nil }

// ttls lists the TTL of every checkpoint of r in prompt order (tools,
// system, messages), "5m" for the default.
func ttls(r *llm.Request) []string {
	var out []string
	add := func(cp *llm.CachePoint) {
		if cp.TTL == "" {
			out = append(out, "5m")
		} else {
			out = append(out, cp.TTL)
		}
	}
	if r.Tools != nil {
		for _, t := range r.Tools.Tools {
			if t.CachePoint != nil {
				add(t.CachePoint)
			}
		}
	}
	for _, s := range r.System {
		if s.CachePoint != nil {
			add(s.CachePoint)
		}
	}
	for _, m := range r.Messages {
		for _, b := range m.Content {
			if b.CachePoint != nil {
				add(b.CachePoint)
			}
		}
	}
	return out
}

// TestInsertOneHour: with the 1-hour TTL asked for, inserted checkpoints
// get it where no client 5-minute checkpoint comes before, and never make
// TTLs increase along tools → system → messages.
func TestInsertOneHour(t *testing.T) {
	c := counter(t)
	m := *model(t, "sonnet-4")
	pc := *m.Capabilities.PromptCache
	pc.TTLs = []string{"5m", "1h"}
	m.Capabilities.PromptCache = &pc
	sys := prose(t, "s", 1500)
	doc := prose(t, "doc", 1500)
	mk := func(toolCP, sysCP *llm.CachePoint) *llm.Request {
		tools := []llm.Tool{tool(t, "lookup", 1200)}
		if toolCP != nil {
			tools = append(tools, llm.Tool{CachePoint: toolCP})
		}
		system := []llm.SystemBlock{{Text: sys}}
		if sysCP != nil {
			system = append(system, llm.SystemBlock{CachePoint: sysCP})
		}
		return &llm.Request{Model: "sonnet-4", Tools: &llm.ToolConfig{Tools: tools}, System: system,
			Messages: []llm.Message{user(doc), assistant("ok"), user("next question")}}
	}
	for _, tc := range []struct {
		name          string
		toolCP, sysCP *llm.CachePoint
		ttl           string
		want          []string
	}{
		{"default TTL", nil, nil, "", []string{"5m", "5m", "5m", "5m"}},
		{"all 1h", nil, nil, "1h", []string{"1h", "1h", "1h", "1h"}},
		{"after the client's 5m checkpoint, 5m", &llm.CachePoint{}, nil, "1h", []string{"5m", "5m", "5m", "5m"}},
		{"after the client's 1h checkpoint, 1h", nil, &llm.CachePoint{TTL: "1h"}, "1h", []string{"1h", "1h", "1h", "1h"}},
		{"default TTL never before the client's 1h", nil, &llm.CachePoint{TTL: "1h"}, "", []string{"1h", "5m", "5m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := promptcache.Insert(c, &m, mk(tc.toolCP, tc.sysCP), tc.ttl)
			got := ttls(&out)
			if !slices.Equal(got, tc.want) {
				t.Errorf("TTLs %v, want %v", got, tc.want)
			}
			rank := map[string]int{"1h": 2, "5m": 1}
			for i := 1; i < len(got); i++ {
				if rank[got[i]] > rank[got[i-1]] {
					t.Errorf("TTL increases at %d: %v", i, got)
				}
			}
		})
	}
}
