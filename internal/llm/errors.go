package llm

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrorKind classifies a failure so each frontend can map it to its own
// API's status code and error body.
type ErrorKind string

const (
	KindValidation    ErrorKind = "validation"      // the request is malformed or invalid
	KindUnauthorized  ErrorKind = "unauthorized"    // no or bad credentials
	KindForbidden     ErrorKind = "forbidden"       // credentials lack access
	KindNotFound      ErrorKind = "not_found"       // unknown model, route or resource
	KindTooLarge      ErrorKind = "too_large"       // request body over the limit
	KindUnsupported   ErrorKind = "unsupported"     // valid, but the target cannot do it
	KindThrottled     ErrorKind = "throttled"       // rate or quota limit; retry later
	KindModelNotReady ErrorKind = "model_not_ready" // the model is loading; retry later
	KindTimeout       ErrorKind = "timeout"         // the upstream or model timed out
	KindModelError    ErrorKind = "model_error"     // the model failed to answer
	KindUnavailable   ErrorKind = "unavailable"     // the upstream is down
	KindBudget        ErrorKind = "budget"          // a budget's hard limit is reached
	KindCanceled      ErrorKind = "canceled"        // the client went away
	KindSlowClient    ErrorKind = "request_timeout" // the client did not send its request in time
	KindInternal      ErrorKind = "internal"        // a bug or unexpected upstream answer
	// KindDeferred is not a failure: the request was queued for batch
	// inference (package batch) and is answered later; the frontend
	// answers 202 with the id to poll.
	KindDeferred ErrorKind = "deferred"
)

// Error is Penny's one application error type.
type Error struct {
	Kind    ErrorKind
	Message string
	// Upstream is the upstream's own error type, e.g. "ThrottlingException",
	// when the error came from a provider.
	Upstream string
	// Code, if set, is a more specific machine-readable code than the kind
	// (e.g. "unknown_endpoint", "template_not_found"); frontends whose API
	// has error codes send it.
	Code string
	// Param, if set, names the request parameter at fault, e.g.
	// "messages[2].content" (OpenAI's error.param).
	Param string
	// RetryAfter, if positive, tells the client when to retry.
	RetryAfter time.Duration
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a formatted message.
// A %w verb in format wraps its argument as the cause.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Message: err.Error(), Err: errors.Unwrap(err)}
}

// KindOf returns the kind of err: the Kind of the first *Error in its chain,
// KindTimeout for context.DeadlineExceeded, KindCanceled for
// context.Canceled, and KindInternal otherwise. It returns "" for nil.
func KindOf(err error) ErrorKind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	if errors.Is(err, context.Canceled) {
		return KindCanceled
	}
	return KindInternal
}

// Retryable reports whether a request that failed with kind may succeed if
// tried again later or on another model.
func Retryable(kind ErrorKind) bool {
	switch kind {
	case KindThrottled, KindModelNotReady, KindTimeout, KindUnavailable:
		return true
	}
	return false
}
