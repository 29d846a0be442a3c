package sim

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
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

func newSim(tb testing.TB, opts Options) *Provider {
	tb.Helper()
	return New(catalog.MustBuiltin(), counter(tb), opts)
}

func ask(model, text string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(text)}}}}
}

func ptr[T any](v T) *T { return &v }

func invoke(tb testing.TB, p *Provider, req *llm.Request) *llm.Response {
	tb.Helper()
	resp, err := p.Invoke(context.Background(), req)
	if err != nil {
		tb.Fatalf("Invoke(%s): %v", req.Model, err)
	}
	return resp
}

// wantErr checks that err is an *llm.Error of kind with Bedrock exception upstream.
func wantErr(tb testing.TB, err error, kind llm.ErrorKind, upstream string) *llm.Error {
	tb.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	if e.Kind != kind || e.Upstream != upstream {
		tb.Fatalf("error = %q kind %s upstream %q, want kind %s upstream %q", e.Message, e.Kind, e.Upstream, kind, upstream)
	}
	return e
}

func TestDeterministic(t *testing.T) {
	const q = "What is the capital of France?"
	a := newSim(t, Options{Seed: 7})
	b := newSim(t, Options{Seed: 7})
	first := invoke(t, a, ask("nova-lite", q))
	for _, tc := range []struct {
		name string
		p    *Provider
		req  *llm.Request
	}{
		{"same provider again", a, ask("nova-lite", q)},
		{"another provider, same seed", b, ask("nova-lite", q)},
		{"by Bedrock id", a, ask("amazon.nova-lite-v1:0", q)},
		{"by inference profile", a, ask("us.amazon.nova-lite-v1:0", q)},
		{"by ARN", a, ask("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0", q)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := invoke(t, tc.p, tc.req)
			if !reflect.DeepEqual(got, first) {
				t.Errorf("answer differs:\n got %+v\nwant %+v", got, first)
			}
		})
	}
	if !strings.HasPrefix(first.Text(), "[simulated amazon.nova-lite-v1:0] ") {
		t.Errorf("answer is not labelled: %q", first.Text())
	}
	if other := invoke(t, newSim(t, Options{Seed: 8}), ask("nova-lite", q)); other.Text() == first.Text() {
		t.Error("a different seed gave the same answer")
	}
	if other := invoke(t, a, ask("nova-pro", q)); other.Text() == first.Text() {
		t.Error("a different model gave the same answer")
	}
	if other := invoke(t, a, ask("nova-lite", q+" ")); other.Text() == first.Text() {
		t.Error("a different prompt gave the same answer")
	}
}

func TestUsageAndLength(t *testing.T) {
	p := newSim(t, Options{})
	c := counter(t)
	short := ask("claude-3-haiku", "What time zone is Paris in?")
	long := ask("claude-3-haiku", "Explain step by step how to troubleshoot slow database queries in production.")
	rs, rl := invoke(t, p, short), invoke(t, p, long)
	for _, tc := range []struct {
		req  *llm.Request
		resp *llm.Response
	}{{short, rs}, {long, rl}} {
		u := tc.resp.Usage
		if u.InputTokens != c.CountRequest(tc.req) || u.CacheReadTokens != 0 || u.CacheWriteTokens != 0 {
			t.Errorf("usage %+v, want input %d", u, c.CountRequest(tc.req))
		}
		if u.OutputTokens != c.Count(tc.resp.Text()) {
			t.Errorf("output tokens %d, text has %d", u.OutputTokens, c.Count(tc.resp.Text()))
		}
		if tc.resp.StopReason != llm.StopEndTurn {
			t.Errorf("stop reason %s", tc.resp.StopReason)
		}
	}
	if rs.Usage.OutputTokens > 80 || rl.Usage.OutputTokens < 300 {
		t.Errorf("short answer has %d tokens, long one %d", rs.Usage.OutputTokens, rl.Usage.OutputTokens)
	}
	if !strings.Contains(rl.Text(), "\n2. ") {
		t.Errorf("a step-by-step answer is not a numbered list: %.200q", rl.Text())
	}
	haiku, err := catalog.MustBuiltin().Resolve("claude-3-haiku")
	if err != nil {
		t.Fatal(err)
	}
	ttft := time.Duration(float64(haiku.Model.Performance.TTFTMillis)*0.85) * time.Millisecond
	if rs.Latency < ttft || rl.Latency <= rs.Latency {
		t.Errorf("latencies %v (short) and %v (long)", rs.Latency, rl.Latency)
	}
}

func TestMaxTokensAndStopSequences(t *testing.T) {
	p := newSim(t, Options{Seed: 3})
	c := counter(t)
	const q = "Describe in detail how a cost-optimizing gateway works."
	full := invoke(t, p, ask("nova-pro", q)).Text()
	body := full[len("[simulated amazon.nova-pro-v1:0] "):]
	words := strings.Fields(body)
	stopWord := " " + words[len(words)/2] + " "
	wantStop := full[:len(full)-len(body)+strings.Index(body, stopWord)]

	for _, tc := range []struct {
		name     string
		max      *int
		stops    []string
		want     string
		wantStop llm.StopReason
	}{
		{"max tokens cuts the answer", ptr(40), nil, c.Truncate(full, 40), llm.StopMaxTokens},
		{"max tokens above the answer", ptr(5000), nil, full, llm.StopEndTurn},
		{"stop sequence", nil, []string{"no such thing", stopWord}, wantStop, llm.StopSequence},
		{"max tokens before the stop sequence", ptr(12), []string{stopWord}, c.Truncate(full, 12), llm.StopMaxTokens},
		{"stop sequence is not searched in the label", nil, []string{"simulated"}, full, llm.StopEndTurn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ask("nova-pro", q)
			req.Config.MaxTokens = tc.max
			req.Config.StopSequences = tc.stops
			resp := invoke(t, p, req)
			if resp.Text() != tc.want || resp.StopReason != tc.wantStop {
				t.Errorf("got %s %q\nwant %s %q", resp.StopReason, resp.Text(), tc.wantStop, tc.want)
			}
			if tc.max != nil && resp.Usage.OutputTokens > *tc.max {
				t.Errorf("output %d tokens, max %d", resp.Usage.OutputTokens, *tc.max)
			}
			if resp.Usage.OutputTokens != c.Count(resp.Text()) {
				t.Errorf("output tokens %d, text has %d", resp.Usage.OutputTokens, c.Count(resp.Text()))
			}
		})
	}
}

var weatherTool = llm.Tool{
	Name:        "get_weather",
	Description: "Current weather for a city.",
	InputSchema: json.RawMessage(`{"type":"object","properties":{
		"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},
		"days":{"type":"integer","minimum":1},"when":{"type":"string","format":"date"},
		"detail":{"type":"object","properties":{"hourly":{"type":"boolean"}},"required":["hourly"]},
		"tags":{"type":"array","items":{"type":"string"},"minItems":1},"optional":{"type":"number"}},
		"required":["city","unit","days","when","detail","tags"]}`),
}

var ticketTool = llm.Tool{
	Name:        "createTicket",
	Description: "Open a support ticket.",
	InputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}},"required":["title"]}`),
}

func TestToolUseRoundTrip(t *testing.T) {
	p := newSim(t, Options{})
	tools := &llm.ToolConfig{Tools: []llm.Tool{ticketTool, weatherTool}}
	req := ask("claude-sonnet-4", "What's the weather like in Paris today?")
	req.Tools = tools
	resp := invoke(t, p, req)
	if resp.StopReason != llm.StopToolUse {
		t.Fatalf("stop reason %s, want tool_use: %q", resp.StopReason, resp.Text())
	}
	var use *llm.ToolUse
	for _, b := range resp.Message.Content {
		if b.Type == llm.BlockToolUse {
			use = b.ToolUse
		}
	}
	if use == nil || use.Name != "get_weather" || !strings.HasPrefix(use.ID, "tooluse_") {
		t.Fatalf("tool use %+v, want get_weather", use)
	}
	var in map[string]any
	if err := json.Unmarshal(use.Input, &in); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"city": "example city", "unit": "celsius", "days": 1.0, "when": "2025-01-01",
		"detail": map[string]any{"hourly": true}, "tags": []any{"example tags"}}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("tool input %v, want %v", in, want)
	}

	// The client runs the tool and sends its result back.
	req.Messages = append(req.Messages, resp.Message, llm.Message{Role: llm.RoleUser, Content: []llm.Block{{
		Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: use.ID,
			Content: []llm.ToolResultContent{{JSON: json.RawMessage(`{"temp_c": 21, "sky": "clear"}`)}}},
	}}})
	final := invoke(t, p, req)
	if final.StopReason != llm.StopEndTurn || !strings.Contains(final.Text(), `get_weather returned {"temp_c":21,"sky":"clear"}`) {
		t.Errorf("answer after the tool result: %s %q", final.StopReason, final.Text())
	}
}

func TestToolChoice(t *testing.T) {
	p := newSim(t, Options{})
	for _, tc := range []struct {
		name   string
		prompt string
		choice llm.ToolChoice
		want   string // tool name, or "" for a text answer
	}{
		{"auto, prompt names a tool", "Please create a ticket for the login bug", llm.ToolChoice{}, "createTicket"},
		{"auto, unrelated prompt", "Tell me a joke about databases", llm.ToolChoice{Mode: llm.ToolChoiceAuto}, ""},
		{"any, unrelated prompt", "Tell me a joke about databases", llm.ToolChoice{Mode: llm.ToolChoiceAny}, "createTicket"},
		{"any, matching prompt", "weather in Oslo?", llm.ToolChoice{Mode: llm.ToolChoiceAny}, "get_weather"},
		{"named tool", "Tell me a joke", llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "get_weather"}, "get_weather"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ask("nova-micro", tc.prompt)
			req.Tools = &llm.ToolConfig{Tools: []llm.Tool{ticketTool, {CachePoint: &llm.CachePoint{}}, weatherTool}, Choice: tc.choice}
			resp := invoke(t, p, req)
			got := ""
			for _, b := range resp.Message.Content {
				if b.Type == llm.BlockToolUse {
					got = b.ToolUse.Name
				}
			}
			if got != tc.want || (got != "") != (resp.StopReason == llm.StopToolUse) {
				t.Errorf("called %q with stop %s, want %q", got, resp.StopReason, tc.want)
			}
		})
	}
}

// testCatalog is the built-in catalog plus a chat model without tools.
func testCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	path := filepath.Join(t.TempDir(), "models.yaml")
	err := os.WriteFile(path, []byte(`models:
  - id: plain-chat
    name: Plain Chat
    bedrock_id: vendor.plain-chat-v1:0
    tier: economy
    context_window: 1000
    max_output_tokens: 500
    capabilities: {chat: true, streaming: false}
    prices: {input: "1", output: "1"}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestValidationErrors(t *testing.T) {
	p := New(testCatalog(t), counter(t), Options{})
	img := llm.Block{Type: llm.BlockImage, Image: &llm.Image{Format: "png", Bytes: []byte("not really")}}
	withImage := func(model string) *llm.Request {
		r := ask(model, "What is in this picture?")
		r.Messages[0].Content = append(r.Messages[0].Content, img)
		return r
	}
	withTools := func(model string) *llm.Request {
		r := ask(model, "weather?")
		r.Tools = &llm.ToolConfig{Tools: []llm.Tool{weatherTool}}
		return r
	}
	maxTokens := func(model string, n int) *llm.Request {
		r := ask(model, "hi")
		r.Config.MaxTokens = &n
		return r
	}
	for _, tc := range []struct {
		name     string
		req      *llm.Request
		stream   bool
		kind     llm.ErrorKind
		upstream string
		msg      string
	}{
		{"unknown model", ask("gpt-17", "hi"), false, llm.KindNotFound, "ResourceNotFoundException", "not in Penny's catalog"},
		{"unknown ARN", ask("arn:aws:bedrock:us-east-1::foundation-model/acme.x-v1", "hi"), false, llm.KindNotFound, "ResourceNotFoundException", "names no model"},
		{"embeddings model", ask("titan-embed-text-v2", "hi"), false, llm.KindValidation, "ValidationException", "supported text or chat model"},
		{"image to a text-only model", withImage("nova-micro"), false, llm.KindValidation, "ValidationException", "doesn't support the image content block"},
		{"image to a vision model is fine", withImage("nova-lite"), false, "", "", ""},
		{"tools to a model without tools", withTools("plain-chat"), false, llm.KindValidation, "ValidationException", "toolConfig"},
		{"stream from a model without streaming", ask("plain-chat", "hi"), true, llm.KindValidation, "ValidationException", "streaming"},
		{"max tokens over the model limit", maxTokens("llama3-1-8b", 4096), false, llm.KindValidation, "ValidationException", "model limit of 2048"},
		{"max tokens zero", maxTokens("nova-micro", 0), false, llm.KindValidation, "ValidationException", "at least 1"},
		{"no messages", &llm.Request{Model: "nova-micro"}, false, llm.KindValidation, "ValidationException", "must start with a user message"},
		{"prompt over the context window", ask("plain-chat", strings.Repeat("word ", 1200)), false, llm.KindValidation, "ValidationException", "Input is too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.stream {
				_, err = p.Stream(context.Background(), tc.req)
			} else {
				_, err = p.Invoke(context.Background(), tc.req)
			}
			if tc.kind == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			e := wantErr(t, err, tc.kind, tc.upstream)
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q does not mention %q", e.Message, tc.msg)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	p := newSim(t, Options{Faults: Faults{FaultRates: FaultRates{Throttle: 0.1, MidStream: 0.1}}})
	doc := strings.Repeat("Shared context for every request in this test. ", 150)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				r := ask("nova-micro", "question "+string(rune('a'+i))+string(rune('a'+j)))
				r.System = []llm.SystemBlock{{Text: doc}, {CachePoint: &llm.CachePoint{}}}
				if j%2 == 0 {
					_, _ = p.Invoke(context.Background(), r)
				} else if s, err := p.Stream(context.Background(), r); err == nil {
					_, _ = llm.Collect(s)
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkInvoke(b *testing.B) {
	p := newSim(b, Options{})
	req := ask("claude-sonnet-4", "Explain step by step how prompt caching lowers the cost of a support bot.")
	req.System = []llm.SystemBlock{{Text: strings.Repeat("You are a helpful support agent for an online shop. ", 40)}, {CachePoint: &llm.CachePoint{}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Invoke(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
