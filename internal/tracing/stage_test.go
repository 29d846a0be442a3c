package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/penny-gateway/penny/internal/llm"
)

const (
	secretPrompt = "my secret prompt"
	secretAnswer = "the secret answer"
)

// upstream is a fake chain below the tracing stage: it routes the request
// (rewrites Model and Meta) and answers, or fails with err.
type upstream struct {
	err       error // returned by Invoke and Stream
	streamErr error // returned by Recv after the events
	closed    int
	sawSpan   trace.SpanContext
}

func (u *upstream) route(ctx context.Context, req *llm.Request) {
	u.sawSpan = trace.SpanContextFromContext(ctx)
	req.Model = "claude-haiku-4.5"
	req.Meta.Route = "cheap"
	req.Meta.Cache = llm.CacheMiss
	req.Meta.Provider = "bedrock"
}

func (u *upstream) answer() *llm.Response {
	return &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock(secretAnswer)}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 30, CacheWriteTokens: 5},
	}
}

func (u *upstream) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	u.route(ctx, req)
	if u.err != nil {
		return nil, u.err
	}
	return u.answer(), nil
}

func (u *upstream) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	u.route(ctx, req)
	if u.err != nil {
		return nil, u.err
	}
	return &closeCounter{SliceStream: &llm.SliceStream{Events: llm.EventsOf(u.answer()), Err: u.streamErr}, n: &u.closed}, nil
}

type closeCounter struct {
	*llm.SliceStream
	n *int
}

func (c *closeCounter) Close() error { *c.n++; return nil }

// account stands in for the gateway's account stage, which fills costs in.
func account(next llm.Invoker) llm.Invoker { return accounted{next} }

type accounted struct{ next llm.Invoker }

const (
	cost     = 1500 * llm.Nano // $0.0000015
	baseline = 6 * llm.Dollar / 1000
)

func (a accounted) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	resp, err := a.next.Invoke(ctx, req)
	if err == nil {
		resp.Cost, resp.BaselineCost = cost, baseline
	}
	return resp, err
}

func (a accounted) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	s, err := a.next.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	return accountedStream{s}, nil
}

type accountedStream struct{ llm.Stream }

func (s accountedStream) Recv() (llm.Event, error) {
	ev, err := s.Stream.Recv()
	if ev.Type == llm.EventMetadata {
		ev.Cost, ev.BaselineCost = cost, baseline
	}
	return ev, err
}

func request() *llm.Request {
	maxTokens, temp, topP := 256, 0.5, 0.9
	return &llm.Request{
		Model:    "smart",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(secretPrompt)}}},
		Config:   llm.InferenceConfig{MaxTokens: &maxTokens, Temperature: &temp, TopP: &topP},
		Meta:     llm.Meta{RequestID: "req-1", Tenant: "acme", RequestedModel: "smart", KeyID: "key-1"},
	}
}

// chain puts the tracing stage outermost, over the account stage, as the
// gateway must.
func chain(t *testing.T, u *upstream) (llm.Invoker, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return llm.Chain(u, Stage(tp), account), sr
}

func onlySpan(t *testing.T, sr *tracetest.SpanRecorder) sdktrace.ReadOnlySpan {
	t.Helper()
	if n := len(sr.Started()); n != 1 {
		t.Fatalf("started %d spans, want 1", n)
	}
	ended := sr.Ended()
	if len(ended) != 1 {
		t.Fatalf("ended %d spans, want 1", len(ended))
	}
	s := ended[0]
	if s.Name() != "chat smart" {
		t.Errorf("name = %q, want %q", s.Name(), "chat smart")
	}
	if s.SpanKind() != trace.SpanKindClient {
		t.Errorf("kind = %v, want client", s.SpanKind())
	}
	for _, kv := range s.Attributes() {
		v := kv.Value.Emit()
		if strings.Contains(v, "secret") {
			t.Errorf("attribute %s = %q records content", kv.Key, v)
		}
	}
	if strings.Contains(s.Status().Description, "secret") {
		t.Errorf("status %q records content", s.Status().Description)
	}
	return s
}

// attrs returns the span's attributes as strings, minus the ones listed
// in drop (whose presence is checked).
func attrs(t *testing.T, s sdktrace.ReadOnlySpan, drop ...attribute.Key) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	for _, k := range drop {
		if _, ok := m[string(k)]; !ok {
			t.Errorf("attribute %s is missing", k)
		}
		delete(m, string(k))
	}
	return m
}

func requestAttrs() map[string]string {
	return map[string]string{
		"gen_ai.operation.name":      "chat",
		"gen_ai.provider.name":       "aws.bedrock",
		"gen_ai.request.model":       "smart",
		"gen_ai.request.max_tokens":  "256",
		"gen_ai.request.temperature": "0.5",
		"gen_ai.request.top_p":       "0.9",
		"gen_ai.response.model":      "claude-haiku-4.5",
		"penny.tenant":               "acme",
		"penny.request_id":           "req-1",
		"penny.route":                "cheap",
		"penny.cache":                "miss",
	}
}

func answerAttrs() map[string]string {
	m := requestAttrs()
	for k, v := range map[string]string{
		"gen_ai.response.finish_reasons":           `["end_turn"]`,
		"gen_ai.usage.input_tokens":                "135",
		"gen_ai.usage.output_tokens":               "20",
		"gen_ai.usage.cache_read.input_tokens":     "30",
		"gen_ai.usage.cache_creation.input_tokens": "5",
		"penny.cost_usd":                           "1.5e-06",
		"penny.baseline_cost_usd":                  "0.006",
	} {
		m[k] = v
	}
	return m
}

func diff(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("attribute %s is missing, want %q", k, w)
		} else if g != w {
			t.Errorf("attribute %s = %q, want %q", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected attribute %s = %q", k, g)
		}
	}
}

func TestInvoke(t *testing.T) {
	u := &upstream{}
	inv, sr := chain(t, u)
	resp, err := inv.Invoke(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != secretAnswer {
		t.Errorf("answer = %q", resp.Text())
	}
	s := onlySpan(t, sr)
	diff(t, attrs(t, s), answerAttrs())
	if s.Status().Code != codes.Unset {
		t.Errorf("status = %v, want unset", s.Status())
	}
	if u.sawSpan.SpanID() != s.SpanContext().SpanID() {
		t.Error("the chain below did not get the span in its context")
	}
}

func TestStreamEndsAtEOF(t *testing.T) {
	u := &upstream{}
	inv, sr := chain(t, u)
	s, err := inv.Stream(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	if len(sr.Ended()) != 0 {
		t.Fatal("span ended before the stream")
	}
	for {
		if _, err := s.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(sr.Ended()) != 1 {
		t.Fatal("span did not end at io.EOF")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if u.closed != 1 {
		t.Errorf("inner stream closed %d times, want 1", u.closed)
	}
	span := onlySpan(t, sr)
	got := attrs(t, span, AttrTTFTMillis)
	diff(t, got, answerAttrs())
	for _, kv := range span.Attributes() {
		if kv.Key == AttrTTFTMillis && kv.Value.AsFloat64() < 0 {
			t.Errorf("ttft = %v", kv.Value.AsFloat64())
		}
	}
}

func TestStreamEndsAtClose(t *testing.T) {
	u := &upstream{}
	inv, sr := chain(t, u)
	s, err := inv.Stream(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // messageStart, then the first text delta
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s.Close()
	if u.closed != 2 {
		t.Errorf("inner stream closed %d times, want 2 (passed through)", u.closed)
	}
	span := onlySpan(t, sr)
	want := requestAttrs()
	want["penny.stream_closed_early"] = "true"
	diff(t, attrs(t, span, AttrTTFTMillis), want)
}

func TestStreamWithoutTokens(t *testing.T) {
	u := &upstream{}
	inv, sr := chain(t, u)
	s, err := inv.Stream(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	span := onlySpan(t, sr)
	want := requestAttrs()
	want["penny.stream_closed_early"] = "true"
	diff(t, attrs(t, span), want)
}

func TestErrors(t *testing.T) {
	throttled := &llm.Error{Kind: llm.KindThrottled, Message: "too many: " + secretPrompt, Upstream: "ThrottlingException"}
	for _, tc := range []struct {
		name     string
		u        *upstream
		stream   bool
		kind     string
		upstream string
	}{
		{"invoke", &upstream{err: throttled}, false, "throttled", "ThrottlingException"},
		{"stream start", &upstream{err: throttled}, true, "throttled", "ThrottlingException"},
		{"stream midway", &upstream{streamErr: fmt.Errorf("read: %w", context.DeadlineExceeded)}, true, "timeout", ""},
		{"plain error", &upstream{err: errors.New("boom " + secretPrompt)}, false, "internal", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, sr := chain(t, tc.u)
			var err error
			if tc.stream {
				var s llm.Stream
				if s, err = inv.Stream(context.Background(), request()); err == nil {
					_, err = llm.Collect(s)
				}
			} else {
				_, err = inv.Invoke(context.Background(), request())
			}
			if err == nil {
				t.Fatal("no error")
			}
			span := onlySpan(t, sr)
			if st := span.Status(); st.Code != codes.Error || st.Description != tc.kind {
				t.Errorf("status = %+v, want error %q", st, tc.kind)
			}
			got := attrs(t, span)
			if got["error.type"] != tc.kind {
				t.Errorf("error.type = %q, want %q", got["error.type"], tc.kind)
			}
			if got["penny.upstream_error"] != tc.upstream {
				t.Errorf("penny.upstream_error = %q, want %q", got["penny.upstream_error"], tc.upstream)
			}
			if _, ok := got["gen_ai.usage.input_tokens"]; ok {
				t.Error("usage recorded for a failed call")
			}
		})
	}
}

func TestParentSpan(t *testing.T) {
	u := &upstream{}
	inv, sr := chain(t, u)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "http")
	if _, err := inv.Invoke(ctx, request()); err != nil {
		t.Fatal(err)
	}
	parent.End()
	var chat sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == "chat smart" {
			chat = s
		}
	}
	if chat == nil || chat.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Error("the chat span is not a child of the caller's span")
	}
}

func TestOffIsIdentity(t *testing.T) {
	u := &upstream{}
	for _, tp := range []trace.TracerProvider{nil, noop.NewTracerProvider()} {
		if got := Stage(tp)(u); got != llm.Invoker(u) {
			t.Errorf("Stage(%T) wraps the chain", tp)
		}
	}
}

func TestUnsampled(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.NeverSample()))
	u := &upstream{}
	inv := llm.Chain(u, Stage(tp), account)
	if _, err := inv.Invoke(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	s, err := inv.Stream(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*stream); ok {
		t.Error("an unsampled stream is wrapped")
	}
	if _, err := llm.Collect(s); err != nil {
		t.Fatal(err)
	}
	if n := len(sr.Ended()); n != 0 {
		t.Errorf("recorded %d spans, want 0", n)
	}
}

func benchmarkInvoke(b *testing.B, tp trace.TracerProvider) {
	inv := llm.Chain(&upstream{}, Stage(tp))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inv.Invoke(ctx, request()); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkStream(b *testing.B, tp trace.TracerProvider) {
	inv := llm.Chain(&upstream{}, Stage(tp))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s, err := inv.Stream(ctx, request())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := llm.Collect(s); err != nil {
			b.Fatal(err)
		}
	}
}

// recorder returns a provider that records every span, dropping them as
// they end so memory stays flat.
func recorder(b *testing.B) trace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discard{}))
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp
}

type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

// With tracing off the stage is the identity (see TestOffIsIdentity), so
// "off" measures the chain alone: its cost is the baseline, not overhead.
func BenchmarkInvoke(b *testing.B) {
	b.Run("off", func(b *testing.B) { benchmarkInvoke(b, noop.NewTracerProvider()) })
	b.Run("on", func(b *testing.B) { benchmarkInvoke(b, recorder(b)) })
}

func BenchmarkStream(b *testing.B) {
	b.Run("off", func(b *testing.B) { benchmarkStream(b, noop.NewTracerProvider()) })
	b.Run("on", func(b *testing.B) { benchmarkStream(b, recorder(b)) })
}
