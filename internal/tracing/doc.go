// Package tracing exports OpenTelemetry traces of model calls, following the
// OpenTelemetry GenAI semantic conventions.
//
// Tracing is off by default: Setup with an empty endpoint returns a no-op
// provider, and Stage over a no-op provider adds nothing to the chain. When
// on, every request gets one client span named "chat {model}" that carries
// the model asked for and used, the inference settings, token usage, finish
// reason, and Penny's own route, tenant, cache verdict and cost.
//
// Spans never carry prompt or completion content, nor upstream error
// messages (which can quote the request): only kinds, counts and ids.
package tracing
