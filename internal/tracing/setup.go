package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options configures the OTLP/HTTP exporter.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP address, e.g.
	// "http://127.0.0.1:4318". A URL's scheme decides between http and
	// https; a bare host:port means https unless Insecure is set. The
	// traces path "/v1/traces" is appended unless the URL's path already
	// ends with it. Empty turns tracing off.
	Endpoint string
	// SampleRatio is the share of new traces recorded, in (0, 1]; 0 means
	// 1. A request that arrives inside a trace follows its parent's
	// sampling decision.
	SampleRatio float64
	// ServiceName is the service.name resource attribute; "" means "penny".
	ServiceName string
	// Headers are sent with every export, e.g. an API key for a hosted
	// collector.
	Headers map[string]string
	// Insecure sends over plain http when Endpoint has no scheme.
	Insecure bool
}

// tracesPath is the OTLP/HTTP path for traces.
const tracesPath = "/v1/traces"

// Setup builds the tracer provider that Options describe. With an empty
// Endpoint it returns a no-op provider and a shutdown that does nothing.
// Otherwise spans are batched and exported in the background; shutdown
// flushes what is buffered and stops the exporter, and must be called once
// when the server stops. Setup does not contact the collector, and it sets
// no global state (otel.SetTracerProvider is the caller's choice).
func Setup(ctx context.Context, opts Options) (trace.TracerProvider, func(context.Context) error, error) {
	if opts.Endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	if opts.SampleRatio == 0 {
		opts.SampleRatio = 1
	}
	if opts.SampleRatio < 0 || opts.SampleRatio > 1 {
		return nil, nil, fmt.Errorf("tracing: sample ratio %v is outside (0, 1]", opts.SampleRatio)
	}
	if opts.ServiceName == "" {
		opts.ServiceName = "penny"
	}
	eopts, err := exporterOptions(opts)
	if err != nil {
		return nil, nil, err
	}
	exp, err := otlptracehttp.New(ctx, eopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	// Schemaless, so that merging with the SDK's default resource (which
	// carries its own schema URL) cannot conflict.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(opts.ServiceName)))
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))),
	)
	return tp, tp.Shutdown, nil
}

// exporterOptions turns Options into otlptracehttp options.
func exporterOptions(opts Options) ([]otlptracehttp.Option, error) {
	ep := opts.Endpoint
	insecure := opts.Insecure
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil {
			return nil, fmt.Errorf("tracing: endpoint: %w", err)
		}
		switch u.Scheme {
		case "http":
			insecure = true
		case "https":
			insecure = false
		default:
			return nil, fmt.Errorf("tracing: endpoint %q: scheme must be http or https", ep)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("tracing: endpoint %q has no host", ep)
		}
		ep = u.Host + u.Path
	}
	host, path, _ := strings.Cut(ep, "/")
	if host == "" {
		return nil, errors.New("tracing: endpoint has no host")
	}
	path = "/" + strings.TrimSuffix(path, "/")
	if !strings.HasSuffix(path, tracesPath) {
		path = strings.TrimSuffix(path, "/") + tracesPath
	}
	o := []otlptracehttp.Option{otlptracehttp.WithEndpoint(host), otlptracehttp.WithURLPath(path)}
	if insecure {
		o = append(o, otlptracehttp.WithInsecure())
	}
	if len(opts.Headers) > 0 {
		o = append(o, otlptracehttp.WithHeaders(opts.Headers))
	}
	return o, nil
}
