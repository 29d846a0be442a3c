package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
	"github.com/penny-gateway/penny/internal/provider/openai"
)

// upstream is a fake OpenAI-compatible server on 127.0.0.1. It records the
// requests it gets and answers with handle.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	header []http.Header
	handle func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newUpstream(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *upstream {
	t.Helper()
	u := &upstream{handle: handle}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"wrong endpoint","type":"invalid_request_error"}}`, http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.bodies = append(u.bodies, body)
		u.header = append(u.header, r.Header.Clone())
		u.mu.Unlock()
		u.handle(w, r, body)
	}))
	t.Cleanup(u.Close)
	return u
}

// last returns the last request body and headers.
func (u *upstream) last(t *testing.T) (map[string]any, http.Header) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.bodies) == 0 {
		t.Fatal("upstream got no request")
	}
	var m map[string]any
	if err := json.Unmarshal(u.bodies[len(u.bodies)-1], &m); err != nil {
		t.Fatal(err)
	}
	return m, u.header[len(u.header)-1]
}

func newProvider(t *testing.T, baseURL string, mod ...func(*openai.Options)) *openai.Provider {
	t.Helper()
	o := openai.Options{Name: "vllm", BaseURL: baseURL, APIKey: "sk-test"}
	for _, f := range mod {
		f(&o)
	}
	p, err := openai.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func jsonAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func userText(model, text string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(text)}}}}
}

func ptr[T any](v T) *T { return &v }

func TestNew(t *testing.T) {
	for _, o := range []openai.Options{
		{BaseURL: ""},
		{BaseURL: "127.0.0.1:8000/v1"},
		{BaseURL: "ftp://host/v1"},
		{BaseURL: "http:///v1"},
		{BaseURL: "http://host/v1?x=1"},
		{BaseURL: "http://host/v1", Timeout: -time.Second},
	} {
		if _, err := openai.New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	p, err := openai.New(openai.Options{BaseURL: "http://127.0.0.1:8000/v1/"})
	if err != nil || p.Name() != "openai" {
		t.Errorf("New = %v, %v", p, err)
	}
}

func TestInvokeText(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		jsonAnswer(w, 200, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"llama",
			"choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour."},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":120,"completion_tokens":4,"total_tokens":124,"prompt_tokens_details":{"cached_tokens":100}}}`)
	})
	p := newProvider(t, up.URL+"/v1/", func(o *openai.Options) { o.Header = http.Header{"X-Team": {"search"}} })
	req := userText("llama", "Say hello in French.")
	req.System = []llm.SystemBlock{{Text: "Be brief."}, {CachePoint: &llm.CachePoint{}}}
	req.Config = llm.InferenceConfig{MaxTokens: ptr(20), Temperature: ptr(0.0)}
	req.Meta.Tenant = "acme"

	resp, err := p.Invoke(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("Bonjour.")}},
		StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 20, OutputTokens: 4, CacheReadTokens: 100}, Latency: resp.Latency}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("got  %+v\nwant %+v", resp, want)
	}
	if resp.Latency <= 0 {
		t.Errorf("latency = %v", resp.Latency)
	}
	body, h := up.last(t)
	if h.Get("Authorization") != "Bearer sk-test" || h.Get("Content-Type") != "application/json" || h.Get("X-Team") != "search" {
		t.Errorf("headers = %v", h)
	}
	wantBody := map[string]any{"model": "llama", "max_tokens": 20.0, "temperature": 0.0, "messages": []any{
		map[string]any{"role": "system", "content": "Be brief."},
		map[string]any{"role": "user", "content": "Say hello in French."},
	}}
	if !reflect.DeepEqual(body, wantBody) {
		t.Errorf("upstream got %v\nwant %v", body, wantBody)
	}
}

// The upstream is a small Penny-like server built on openaiwire: what the
// provider sends, it decodes as a client request; it answers with tool calls.
func TestInvokeToolsRoundTrip(t *testing.T) {
	var got *llm.Request
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		req, _, err := openaiwire.DecodeRequest(body)
		if err != nil {
			status, eb := openaiwire.ErrorFor(err)
			b, _ := json.Marshal(eb)
			jsonAnswer(w, status, string(b))
			return
		}
		got = req
		answer := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "call_9", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}},
		}}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 50, OutputTokens: 8}}
		b, _ := json.Marshal(openaiwire.EncodeResponse(answer, "x", req.Model, 1))
		jsonAnswer(w, 200, string(b))
	})
	p := newProvider(t, up.URL+"/v1")
	weather := llm.Tool{Name: "weather", Description: "Weather in a city", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}
	req := &llm.Request{Model: "qwen",
		Tools: &llm.ToolConfig{Tools: []llm.Tool{weather}, Choice: llm.ToolChoice{Mode: llm.ToolChoiceAuto}},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("Weather in Paris, then Oslo?")}},
			{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("Paris first."),
				{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)}}}},
			{Role: llm.RoleUser, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "call_1", Content: []llm.ToolResultContent{{JSON: json.RawMessage(`{"temp":18}`)}}}},
				{Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{}},
			}},
		}}
	resp, err := p.Invoke(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StopReason != llm.StopToolUse || len(resp.Message.Content) != 1 {
		t.Fatalf("resp = %+v", resp)
	}
	if tu := resp.Message.Content[0].ToolUse; tu.ID != "call_9" || tu.Name != "weather" || string(tu.Input) != `{"city":"Oslo"}` {
		t.Errorf("tool use = %+v", tu)
	}
	// What the upstream decoded is the request minus Bedrock-only cache points.
	want := *req
	want.Messages = append([]llm.Message{}, req.Messages[:2]...)
	want.Messages = append(want.Messages, llm.Message{Role: llm.RoleUser, Content: []llm.Block{
		{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "call_1", Content: []llm.ToolResultContent{{Text: `{"temp":18}`}}}}}})
	if !reflect.DeepEqual(got, &want) {
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(&want)
		t.Errorf("upstream decoded\n %s\nwant\n %s", a, b)
	}
}

// sse writes the events as a server-sent-events stream, flushing each.
func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	f := w.(http.Flusher)
	for _, e := range events {
		io.WriteString(w, e)
		f.Flush()
	}
}

func collectEvents(t *testing.T, s llm.Stream) ([]llm.Event, error) {
	t.Helper()
	defer s.Close()
	var evs []llm.Event
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestStreamToolCallsAndUsage(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		sse(w,
			": keep-alive\n\n",
			`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`+"\n\n",
			`data: {"choices":[{"index":0,"delta":{"content":"Let me "}}]}`+"\r\n\r\n",
			`data: {"choices":[{"index":0,"delta":{"content":"check."}}]}`+"\n\n",
			`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"weather","arguments":""}}]}}]}`+"\n\n",
			"event: message\nid: 5\n",
			`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}`+"\n\n",
			`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}`+"\n\n",
			`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"time","arguments":"{}"}}]}}]}`+"\n\n",
			`data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`+"\n\n",
			`data: {"choices":[],"usage":{"prompt_tokens":40,"completion_tokens":12,"total_tokens":52,"prompt_tokens_details":{"cached_tokens":30}}}`+"\n\n",
			"data: [DONE]\n\n")
	})
	p := newProvider(t, up.URL+"/v1", func(o *openai.Options) { o.Timeout = 5 * time.Second; o.MaxCompletionTokens = true })
	req := userText("llama", "Weather?")
	req.Config.MaxTokens = ptr(64)
	s, err := p.Stream(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := collectEvents(t, s)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Type != llm.EventMetadata || last.Latency <= 0 {
		t.Fatalf("last event = %+v", last)
	}
	evs[len(evs)-1].Latency = 0
	want := []llm.Event{
		{Type: llm.EventMessageStart, Role: llm.RoleAssistant},
		{Type: llm.EventBlockDelta, Index: 0, Delta: llm.Delta{Text: "Let me "}},
		{Type: llm.EventBlockDelta, Index: 0, Delta: llm.Delta{Text: "check."}},
		{Type: llm.EventBlockStop, Index: 0},
		{Type: llm.EventBlockStart, Index: 1, ToolUse: &llm.ToolUse{ID: "call_1", Name: "weather"}},
		{Type: llm.EventBlockDelta, Index: 1, Delta: llm.Delta{ToolInput: `{"city":`}},
		{Type: llm.EventBlockDelta, Index: 1, Delta: llm.Delta{ToolInput: `"Paris"}`}},
		{Type: llm.EventBlockStop, Index: 1},
		{Type: llm.EventBlockStart, Index: 2, ToolUse: &llm.ToolUse{ID: "call_2", Name: "time"}},
		{Type: llm.EventBlockDelta, Index: 2, Delta: llm.Delta{ToolInput: `{}`}},
		{Type: llm.EventBlockStop, Index: 2},
		{Type: llm.EventMessageStop, StopReason: llm.StopToolUse},
		{Type: llm.EventMetadata, Usage: &llm.Usage{InputTokens: 10, OutputTokens: 12, CacheReadTokens: 30}},
	}
	if !reflect.DeepEqual(evs, want) {
		t.Errorf("events\n got: %+v\nwant: %+v", evs, want)
	}
	body, h := up.last(t)
	if body["stream"] != true || !reflect.DeepEqual(body["stream_options"], map[string]any{"include_usage": true}) || body["max_completion_tokens"] != 64.0 {
		t.Errorf("request body = %v", body)
	}
	if h.Get("Accept") != "text/event-stream" {
		t.Errorf("Accept = %q", h.Get("Accept"))
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after the end = %v", err)
	}
}

// A Penny-like upstream streams with openaiwire.ChunkEncoder; collecting
// the provider's events gives back the answer it encoded.
func TestStreamRoundTrip(t *testing.T) {
	answer := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
		llm.TextBlock("Here."),
		{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_1", Name: "f", Input: json.RawMessage(`{"a":[1,2]}`)}},
	}}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 7, OutputTokens: 3, CacheReadTokens: 2, CacheWriteTokens: 1}}
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		_, opts, err := openaiwire.DecodeRequest(body)
		if err != nil || !opts.Stream || !opts.IncludeUsage {
			http.Error(w, "bad request", 400)
			return
		}
		enc := &openaiwire.ChunkEncoder{ID: "c", Model: "m", IncludeUsage: true}
		var events []string
		for _, ev := range llm.EventsOf(answer) {
			for _, ch := range enc.Encode(ev) {
				b, _ := json.Marshal(ch)
				events = append(events, "data: "+string(b)+"\n\n")
			}
		}
		sse(w, append(events, "data: [DONE]\n\n")...)
	})
	p := newProvider(t, up.URL+"/v1")
	s, err := p.Stream(t.Context(), userText("m", "go"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := llm.Collect(s)
	if err != nil {
		t.Fatal(err)
	}
	got.Latency = 0
	if !reflect.DeepEqual(got, answer) {
		t.Errorf("got  %+v\nwant %+v", got, answer)
	}
}

func TestStreamJSONAnswer(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		jsonAnswer(w, 200, `{"choices":[{"message":{"content":"whole"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`)
	})
	s, err := newProvider(t, up.URL+"/v1").Stream(t.Context(), userText("m", "x"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := llm.Collect(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text() != "whole" || got.StopReason != llm.StopMaxTokens || got.Usage.InputTokens != 3 || got.Latency <= 0 {
		t.Errorf("got %+v", got)
	}
}

func TestStreamMidStreamErrors(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		kind   llm.ErrorKind
		msg    string
		before int // events received before the error
	}{{
		name: "error object",
		events: []string{
			`data: {"choices":[{"index":0,"delta":{"content":"par"}}]}` + "\n\n",
			`data: {"error":{"message":"rate limited mid-answer","type":"rate_limit_error","code":"429"}}` + "\n\n",
		},
		kind: llm.KindThrottled, msg: "rate limited mid-answer", before: 2,
	}, {
		name: "error event (vLLM)",
		events: []string{
			`data: {"choices":[{"index":0,"delta":{"content":"par"}}]}` + "\n\n",
			"event: error\n" + `data: {"error":{"message":"CUDA error","type":"InternalServerError","code":500}}` + "\n\n",
		},
		kind: llm.KindUnavailable, msg: "CUDA error", before: 2,
	}, {
		name:   "cut off",
		events: []string{`data: {"choices":[{"index":0,"delta":{"content":"par"}}]}` + "\n\n"},
		kind:   llm.KindUnavailable, msg: "ended before", before: 2,
	}, {
		name:   "malformed chunk",
		events: []string{`data: {"choices":[{"index":0,"delta":{"content":"par"}}]}` + "\n\n", "data: {oops\n\n"},
		kind:   llm.KindInternal, msg: "malformed", before: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { sse(w, tt.events...) })
			s, err := newProvider(t, up.URL+"/v1").Stream(t.Context(), userText("m", "x"))
			if err != nil {
				t.Fatal(err)
			}
			evs, err := collectEvents(t, s)
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != tt.kind || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("err = %v (%s), want %s with %q", err, llm.KindOf(err), tt.kind, tt.msg)
			}
			if len(evs) != tt.before {
				t.Errorf("got %d events before the error: %+v", len(evs), evs)
			}
			if _, again := s.Recv(); again != err {
				t.Errorf("Recv after the error = %v", again)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       llm.ErrorKind
		msg        string
		upstream   string
		retryAfter time.Duration // minimum
		streamOnly bool
		invokeOnly bool
	}{
		{name: "400 vLLM", status: 400, body: `{"error":{"message":"This model's maximum context length is 8192 tokens","type":"BadRequestError","param":null,"code":400}}`,
			kind: llm.KindValidation, msg: "maximum context length", upstream: "BadRequestError"},
		{name: "401", status: 401, body: `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			kind: llm.KindUnauthorized, msg: "Incorrect API key", upstream: "invalid_api_key"},
		{name: "403", status: 403, body: `{"error":{"message":"Project does not have access","type":"invalid_request_error","code":"model_not_available"}}`,
			kind: llm.KindForbidden, msg: "does not have access", upstream: "model_not_available"},
		{name: "404 Ollama", status: 404, body: `{"error":{"message":"model \"llama9\" not found, try pulling it first","type":"api_error","param":null,"code":null}}`,
			kind: llm.KindNotFound, msg: "try pulling", upstream: "api_error"},
		{name: "413", status: 413, body: `{"error":{"message":"too big","type":"invalid_request_error"}}`, kind: llm.KindTooLarge, msg: "too big", upstream: "invalid_request_error"},
		{name: "422 LiteLLM", status: 422, body: `{"error":{"message":"bad field","type":"None","param":"None","code":"422"}}`, kind: llm.KindValidation, msg: "bad field", upstream: "None"},
		{name: "429 Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			kind: llm.KindThrottled, msg: "Rate limit reached", upstream: "rate_limit_exceeded", retryAfter: 7 * time.Second},
		{name: "429 retry-after-ms", status: 429, header: map[string]string{"Retry-After-Ms": "1500", "Retry-After": "9"},
			body: `{"error":{"message":"slow down","type":"tokens"}}`, kind: llm.KindThrottled, msg: "slow down", upstream: "tokens", retryAfter: 1500 * time.Millisecond},
		{name: "503 Retry-After date", status: 503, header: map[string]string{"Retry-After": date},
			body: `{"error":{"message":"overloaded","type":"server_error"}}`, kind: llm.KindUnavailable, msg: "overloaded", upstream: "server_error", retryAfter: 80 * time.Second},
		{name: "500", status: 500, body: `{"error":{"message":"boom","type":"server_error","code":null}}`, kind: llm.KindUnavailable, msg: "boom", upstream: "server_error"},
		{name: "502 HTML", status: 502, body: `<html><body>Bad gateway</body></html>`, kind: llm.KindUnavailable, msg: "Bad gateway"},
		{name: "504 empty", status: 504, body: ``, kind: llm.KindTimeout, msg: "504 Gateway Timeout"},
		{name: "200 not JSON", status: 200, body: `not json`, kind: llm.KindInternal, msg: "not a chat completion", invokeOnly: true},
		{name: "200 no choices", status: 200, body: `{"choices":[]}`, kind: llm.KindInternal, msg: "no choices", invokeOnly: true},
		{name: "200 error object", status: 200, body: `{"error":{"message":"model crashed","type":"x","code":"model_error"}}`, kind: llm.KindModelError, msg: "model crashed", upstream: "model_error", invokeOnly: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				jsonAnswer(w, tt.status, tt.body)
			})
			p := newProvider(t, up.URL+"/v1")
			check := func(how string, err error) {
				t.Helper()
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: err = %v (%T), want *llm.Error", how, err, err)
				}
				if e.Kind != tt.kind || !strings.Contains(e.Message, tt.msg) || e.Upstream != tt.upstream {
					t.Errorf("%s: got %s %q upstream %q, want %s %q upstream %q", how, e.Kind, e.Message, e.Upstream, tt.kind, tt.msg, tt.upstream)
				}
				if e.RetryAfter < tt.retryAfter || (tt.retryAfter == 0 && e.RetryAfter != 0) || e.RetryAfter > tt.retryAfter+15*time.Second {
					t.Errorf("%s: RetryAfter = %v, want %v", how, e.RetryAfter, tt.retryAfter)
				}
			}
			if !tt.streamOnly {
				_, err := p.Invoke(t.Context(), userText("m", "x"))
				check("Invoke", err)
			}
			if !tt.invokeOnly {
				_, err := p.Stream(t.Context(), userText("m", "x"))
				check("Stream", err)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := newProvider(t, "http://"+addr+"/v1")
	_, err = p.Invoke(t.Context(), userText("m", "x"))
	if llm.KindOf(err) != llm.KindUnavailable || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Invoke err = %v (%s)", err, llm.KindOf(err))
	}
	_, err = p.Stream(t.Context(), userText("m", "x"))
	if llm.KindOf(err) != llm.KindUnavailable {
		t.Errorf("Stream err = %v (%s)", err, llm.KindOf(err))
	}
}

func TestTimeouts(t *testing.T) {
	// The upstream answers nothing until the client gives up.
	hang := func(w http.ResponseWriter, r *http.Request, body []byte) { <-r.Context().Done() }
	// It starts a stream, then stalls.
	stall := func(w http.ResponseWriter, r *http.Request, body []byte) {
		sse(w, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}`+"\n\n")
		<-r.Context().Done()
	}
	const short = 150 * time.Millisecond

	t.Run("Invoke timeout", func(t *testing.T) {
		up := newUpstream(t, hang)
		p := newProvider(t, up.URL+"/v1", func(o *openai.Options) { o.Timeout = short })
		start := time.Now()
		_, err := p.Invoke(t.Context(), userText("m", "x"))
		if llm.KindOf(err) != llm.KindTimeout {
			t.Errorf("err = %v (%s)", err, llm.KindOf(err))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		up := newUpstream(t, hang)
		p := newProvider(t, up.URL+"/v1")
		ctx, cancel := context.WithTimeout(t.Context(), short)
		defer cancel()
		_, err := p.Invoke(ctx, userText("m", "x"))
		if llm.KindOf(err) != llm.KindTimeout {
			t.Errorf("err = %v (%s)", err, llm.KindOf(err))
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		up := newUpstream(t, hang)
		p := newProvider(t, up.URL+"/v1")
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(short, cancel)
		_, err := p.Invoke(ctx, userText("m", "x"))
		if llm.KindOf(err) != llm.KindCanceled {
			t.Errorf("err = %v (%s)", err, llm.KindOf(err))
		}
	})
	t.Run("Stream waits for headers at most Timeout", func(t *testing.T) {
		up := newUpstream(t, hang)
		p := newProvider(t, up.URL+"/v1", func(o *openai.Options) { o.Timeout = short })
		_, err := p.Stream(t.Context(), userText("m", "x"))
		if llm.KindOf(err) != llm.KindTimeout {
			t.Errorf("err = %v (%s)", err, llm.KindOf(err))
		}
	})
	t.Run("Stream idle timeout", func(t *testing.T) {
		up := newUpstream(t, stall)
		p := newProvider(t, up.URL+"/v1", func(o *openai.Options) { o.Timeout = short })
		s, err := p.Stream(t.Context(), userText("m", "x"))
		if err != nil {
			t.Fatal(err)
		}
		evs, err := collectEvents(t, s)
		if llm.KindOf(err) != llm.KindTimeout || len(evs) != 2 {
			t.Errorf("err = %v (%s) after %d events", err, llm.KindOf(err), len(evs))
		}
	})
	t.Run("slow but live stream is not cut", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			w.Header().Set("Content-Type", "text/event-stream")
			f := w.(http.Flusher)
			// Five gaps of a third of the timeout: more than the timeout in
			// all, well under it each.
			for i := range 5 {
				fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d\"}}]}\n\n", i)
				f.Flush()
				time.Sleep(100 * time.Millisecond)
			}
			io.WriteString(w, `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
		})
		p := newProvider(t, up.URL+"/v1", func(o *openai.Options) { o.Timeout = 300 * time.Millisecond })
		s, err := p.Stream(t.Context(), userText("m", "x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := llm.Collect(s)
		if err != nil || resp.Text() != "01234" {
			t.Errorf("resp = %+v, err = %v", resp, err)
		}
	})
	t.Run("Close mid-stream", func(t *testing.T) {
		up := newUpstream(t, stall)
		p := newProvider(t, up.URL+"/v1")
		s, err := p.Stream(t.Context(), userText("m", "x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s.Close()
		if _, err := s.Recv(); llm.KindOf(err) != llm.KindCanceled {
			t.Errorf("Recv after Close = %v", err)
		}
	})
}

func TestConcurrentCalls(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var req struct {
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		json.Unmarshal(body, &req)
		jsonAnswer(w, 200, fmt.Sprintf(`{"choices":[{"message":{"content":%q},"finish_reason":"stop"}]}`, req.Messages[0].Content))
	})
	p := newProvider(t, up.URL+"/v1", func(o *openai.Options) { o.Timeout = 10 * time.Second })
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			want := fmt.Sprint("echo ", i)
			resp, err := p.Invoke(t.Context(), userText("m", want))
			if err != nil || resp.Text() != want {
				t.Errorf("call %d: %v %v", i, resp, err)
			}
		})
	}
	wg.Wait()
}
