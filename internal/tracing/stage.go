package tracing

import (
	"context"
	"errors"
	"io"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/penny-gateway/penny/internal/llm"
)

// Penny's own span attributes, next to the gen_ai.* ones.
const (
	AttrRoute             = attribute.Key("penny.route")
	AttrTenant            = attribute.Key("penny.tenant")
	AttrRequestID         = attribute.Key("penny.request_id")
	AttrCache             = attribute.Key("penny.cache")
	AttrCostUSD           = attribute.Key("penny.cost_usd")
	AttrBaselineCostUSD   = attribute.Key("penny.baseline_cost_usd")
	AttrTTFTMillis        = attribute.Key("penny.ttft_ms")
	AttrInvokedModel      = attribute.Key("penny.invoked_model")
	AttrUpstreamError     = attribute.Key("penny.upstream_error")
	AttrStreamClosedEarly = attribute.Key("penny.stream_closed_early")
)

// instrumentation names the tracer, as OpenTelemetry asks of libraries.
const instrumentation = "github.com/penny-gateway/penny/internal/tracing"

// Stage returns a stage that records one span per request on tp. It reads
// costs from the Response and the metadata event that come back through it,
// so it must sit outside (before, in llm.Chain order) the stage that
// accounts for cost, and outside routing, caching and fallback so that the
// span covers them and sees where the request went. A nil or no-op tp
// gives a stage that returns next unchanged.
//
// The span's context is passed down, so spans started below (e.g. by an
// instrumented AWS SDK) become its children; the span's own parent is
// whatever span ctx already carries.
func Stage(tp trace.TracerProvider) llm.Stage {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return func(next llm.Invoker) llm.Invoker { return next }
	}
	tr := tp.Tracer(instrumentation, trace.WithSchemaURL(semconv.SchemaURL))
	return func(next llm.Invoker) llm.Invoker { return &invoker{next: next, tr: tr} }
}

type invoker struct {
	next llm.Invoker
	tr   trace.Tracer
}

// start opens the span with what is known before the call, so that samplers
// see the request attributes.
func (t *invoker) start(ctx context.Context, req *llm.Request) (context.Context, trace.Span) {
	model := req.Meta.RequestedModel
	if model == "" {
		model = req.Model
	}
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs,
		semconv.GenAIOperationNameChat,
		semconv.GenAIProviderNameAWSBedrock,
		semconv.GenAIRequestModel(model),
	)
	if c := req.Config; c.MaxTokens != nil {
		attrs = append(attrs, semconv.GenAIRequestMaxTokens(*c.MaxTokens))
	}
	if c := req.Config; c.Temperature != nil {
		attrs = append(attrs, semconv.GenAIRequestTemperature(*c.Temperature))
	}
	if c := req.Config; c.TopP != nil {
		attrs = append(attrs, semconv.GenAIRequestTopP(*c.TopP))
	}
	if req.Meta.Tenant != "" {
		attrs = append(attrs, AttrTenant.String(req.Meta.Tenant))
	}
	if req.Meta.RequestID != "" {
		attrs = append(attrs, AttrRequestID.String(req.Meta.RequestID))
	}
	return t.tr.Start(ctx, "chat "+model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// routed records where the request went, read from req after the chain
// below has rewritten it.
func routed(span trace.Span, req *llm.Request) {
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, semconv.GenAIResponseModel(req.Model))
	if req.Meta.Route != "" {
		attrs = append(attrs, AttrRoute.String(req.Meta.Route))
	}
	if req.Meta.Cache != "" {
		attrs = append(attrs, AttrCache.String(string(req.Meta.Cache)))
	}
	span.SetAttributes(attrs...)
}

// answered records the outcome of a successful call: the finish reason if
// known, and usage and cost from the Response or the metadata event.
func answered(span trace.Span, stop llm.StopReason, u *llm.Usage, invoked string, cost, baseline llm.Money) {
	if stop != "" {
		span.SetAttributes(semconv.GenAIResponseFinishReasons(string(stop)))
	}
	if u == nil {
		return
	}
	// The convention counts every prompt token, cached ones included;
	// Bedrock's inputTokens leaves cache reads and writes out.
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		semconv.GenAIUsageInputTokens(u.TotalInput()),
		semconv.GenAIUsageOutputTokens(u.OutputTokens),
	)
	if u.CacheReadTokens > 0 {
		attrs = append(attrs, semconv.GenAIUsageCacheReadInputTokens(u.CacheReadTokens))
	}
	if u.CacheWriteTokens > 0 {
		attrs = append(attrs, semconv.GenAIUsageCacheCreationInputTokens(u.CacheWriteTokens))
	}
	if invoked != "" {
		attrs = append(attrs, AttrInvokedModel.String(invoked))
	}
	// Dollars as floats are for display only, which a trace is.
	attrs = append(attrs,
		AttrCostUSD.Float64(cost.Dollars()),
		AttrBaselineCostUSD.Float64(baseline.Dollars()),
	)
	span.SetAttributes(attrs...)
}

// failed marks the span as failed with err's kind. The message is left out
// on purpose: upstream validation errors can quote the prompt.
func failed(span trace.Span, err error) {
	kind := string(llm.KindOf(err))
	attrs := []attribute.KeyValue{semconv.ErrorTypeKey.String(kind)}
	var e *llm.Error
	if errors.As(err, &e) && e.Upstream != "" {
		attrs = append(attrs, AttrUpstreamError.String(e.Upstream))
	}
	span.SetAttributes(attrs...)
	span.SetStatus(codes.Error, kind)
}

func (t *invoker) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	ctx, span := t.start(ctx, req)
	defer span.End()
	resp, err := t.next.Invoke(ctx, req)
	if !span.IsRecording() {
		return resp, err
	}
	routed(span, req)
	if err != nil {
		failed(span, err)
		return resp, err
	}
	if resp != nil {
		answered(span, resp.StopReason, &resp.Usage, resp.InvokedModel, resp.Cost, resp.BaselineCost)
	}
	return resp, nil
}

func (t *invoker) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	ctx, span := t.start(ctx, req)
	s, err := t.next.Stream(ctx, req)
	if !span.IsRecording() {
		span.End()
		return s, err
	}
	routed(span, req)
	if err != nil {
		failed(span, err)
		span.End()
		return s, err
	}
	return &stream{Stream: s, span: span, req: req, start: time.Now()}, nil
}

// stream ends its span at io.EOF, at an error, or at Close, whichever
// comes first.
type stream struct {
	llm.Stream
	span  trace.Span
	req   *llm.Request
	start time.Time

	firstToken bool
	stop       llm.StopReason
	meta       *llm.Event
	ended      bool
}

func (s *stream) Recv() (llm.Event, error) {
	ev, err := s.Stream.Recv()
	if s.ended {
		return ev, err
	}
	if err != nil {
		// Routing and caching below may rewrite req until the first event.
		routed(s.span, s.req)
		if errors.Is(err, io.EOF) {
			s.answered()
		} else {
			failed(s.span, err)
		}
		s.end()
		return ev, err
	}
	switch ev.Type {
	case llm.EventBlockDelta:
		if !s.firstToken {
			s.firstToken = true
			ms := float64(time.Since(s.start)) / float64(time.Millisecond)
			s.span.SetAttributes(AttrTTFTMillis.Float64(ms))
		}
	case llm.EventMessageStop:
		s.stop = ev.StopReason
	case llm.EventMetadata:
		m := ev
		s.meta = &m
	}
	return ev, nil
}

func (s *stream) answered() {
	if s.meta == nil {
		// No metadata, so usage and cost are unknown, not zero.
		answered(s.span, s.stop, nil, "", 0, 0)
		return
	}
	answered(s.span, s.stop, s.meta.Usage, s.meta.InvokedModel, s.meta.Cost, s.meta.BaselineCost)
}

// Close ends the span if the stream did not reach its end: the client
// went away or stopped reading. What was received so far is recorded.
func (s *stream) Close() error {
	if !s.ended {
		routed(s.span, s.req)
		s.answered()
		s.span.SetAttributes(AttrStreamClosedEarly.Bool(true))
		s.end()
	}
	return s.Stream.Close()
}

func (s *stream) end() {
	s.ended = true
	s.span.End()
}
