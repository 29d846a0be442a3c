package anthropicwire

import (
	"errors"
	"net/http"

	"github.com/penny-gateway/penny/internal/llm"
)

// kindErrors maps every llm.ErrorKind to Anthropic's status and error
// type. The choices Anthropic's list does not dictate:
//
//   - KindUnsupported: 400 invalid_request_error (valid Anthropic, but not
//     servable through Bedrock; the message says what).
//   - KindBudget: 402 billing_error, which the SDKs do not retry (a 429
//     would be retried against an exhausted budget).
//   - KindUnavailable: 529 overloaded_error, which the SDKs retry.
//   - KindTimeout: 504 timeout_error.
//   - KindCanceled: 499 (the client went away; nobody reads it).
//   - KindSlowClient: 408 invalid_request_error (the body did not arrive in
//     time).
var kindErrors = map[llm.ErrorKind]struct {
	status int
	typ    string
}{
	llm.KindValidation:    {http.StatusBadRequest, "invalid_request_error"},
	llm.KindUnsupported:   {http.StatusBadRequest, "invalid_request_error"},
	llm.KindUnauthorized:  {http.StatusUnauthorized, "authentication_error"},
	llm.KindForbidden:     {http.StatusForbidden, "permission_error"},
	llm.KindNotFound:      {http.StatusNotFound, "not_found_error"},
	llm.KindTooLarge:      {http.StatusRequestEntityTooLarge, "request_too_large"},
	llm.KindThrottled:     {http.StatusTooManyRequests, "rate_limit_error"},
	llm.KindModelNotReady: {http.StatusTooManyRequests, "rate_limit_error"},
	llm.KindBudget:        {http.StatusPaymentRequired, "billing_error"},
	llm.KindTimeout:       {http.StatusGatewayTimeout, "timeout_error"},
	llm.KindModelError:    {http.StatusInternalServerError, "api_error"},
	llm.KindUnavailable:   {529, "overloaded_error"},
	llm.KindCanceled:      {499, "api_error"},
	llm.KindSlowClient:    {http.StatusRequestTimeout, "invalid_request_error"},
	llm.KindInternal:      {http.StatusInternalServerError, "api_error"},
}

// ErrorFor returns the HTTP status and Anthropic error body for err.
func ErrorFor(err error) (int, ErrorBody) {
	e, ok := kindErrors[llm.KindOf(err)]
	if !ok {
		e = kindErrors[llm.KindInternal]
	}
	msg := err.Error()
	var le *llm.Error
	if errors.As(err, &le) {
		msg = le.Error()
	}
	return e.status, ErrorBody{Type: "error", Error: ErrorDetail{Type: e.typ, Message: msg}}
}
