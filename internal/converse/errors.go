package converse

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// errorNamespace follows the error type in x-amzn-ErrorType, as Bedrock
// sends it.
const errorNamespace = ":http://internal.amazon.com/coral/com.amazon.bedrock/"

// kindError is how one llm.ErrorKind goes out as a Bedrock error: the HTTP
// status and error type of a Converse answer, and the :exception-type of a
// ConverseStream exception frame (Bedrock defines only five of those).
type kindError struct {
	status     int
	typ        string
	streamType string
}

// kindErrors maps every llm.ErrorKind to the Bedrock error Penny answers
// with. The choices Bedrock does not dictate:
//
//   - KindUnauthorized: 403 UnrecognizedClientException, what AWS answers
//     for an unknown access key or bad bearer token.
//   - KindTooLarge: 413 with type ValidationException. Bedrock rejects
//     oversized input as a ValidationException; the 413 tells plain HTTP
//     clients what happened, while AWS SDKs, which dispatch on the type, raise
//     their typed ValidationException and do not retry.
//   - KindUnsupported: 400 ValidationException (the request is valid
//     Converse but Penny cannot serve it; the message says what).
//   - KindBudget: 429 with type ServiceQuotaExceededException. AWS SDKs raise
//     their typed ServiceQuotaExceededException and, because it is a modeled
//     error that is not a throttle, do not retry it; plain HTTP clients see
//     the familiar 429. ThrottlingException was rejected because SDKs retry
//     it, pointlessly hammering an exhausted budget.
//   - KindCanceled: 499 (the client closed the request; nobody reads it).
//   - KindSlowClient: 408 RequestTimeoutException, AWS's type for a request
//     whose body did not arrive in time.
var kindErrors = map[llm.ErrorKind]kindError{
	llm.KindValidation:    {http.StatusBadRequest, "ValidationException", "validationException"},
	llm.KindUnsupported:   {http.StatusBadRequest, "ValidationException", "validationException"},
	llm.KindTooLarge:      {http.StatusRequestEntityTooLarge, "ValidationException", "validationException"},
	llm.KindUnauthorized:  {http.StatusForbidden, "UnrecognizedClientException", "validationException"},
	llm.KindForbidden:     {http.StatusForbidden, "AccessDeniedException", "validationException"},
	llm.KindNotFound:      {http.StatusNotFound, "ResourceNotFoundException", "validationException"},
	llm.KindThrottled:     {http.StatusTooManyRequests, "ThrottlingException", "throttlingException"},
	llm.KindModelNotReady: {http.StatusTooManyRequests, "ModelNotReadyException", "throttlingException"},
	llm.KindBudget:        {http.StatusTooManyRequests, "ServiceQuotaExceededException", "throttlingException"},
	llm.KindTimeout:       {http.StatusRequestTimeout, "ModelTimeoutException", "modelStreamErrorException"},
	llm.KindModelError:    {http.StatusFailedDependency, "ModelErrorException", "modelStreamErrorException"},
	llm.KindUnavailable:   {http.StatusServiceUnavailable, "ServiceUnavailableException", "serviceUnavailableException"},
	llm.KindCanceled:      {499, "RequestCanceledException", "internalServerException"},
	llm.KindSlowClient:    {http.StatusRequestTimeout, "RequestTimeoutException", "validationException"},
	llm.KindInternal:      {http.StatusInternalServerError, "InternalServerException", "internalServerException"},
}

// bedrockErrors maps the Bedrock error types (and stream exception types)
// Penny may receive to the kind Penny handles them as, with the HTTP status
// Bedrock sends them with. InternalServerException is KindUnavailable, not
// KindInternal: it is a transient fault on Bedrock's side that AWS's own
// SDKs retry, so Penny's retry and fallback stages should too.
// ServiceQuotaExceededException is KindThrottled for the same reason.
var bedrockErrors = map[string]struct {
	status int
	kind   llm.ErrorKind
}{
	"ValidationException":                 {400, llm.KindValidation},
	"AccessDeniedException":               {403, llm.KindForbidden},
	"UnrecognizedClientException":         {403, llm.KindUnauthorized},
	"InvalidSignatureException":           {403, llm.KindUnauthorized},
	"IncompleteSignatureException":        {403, llm.KindUnauthorized},
	"MissingAuthenticationTokenException": {403, llm.KindUnauthorized},
	"ExpiredTokenException":               {403, llm.KindUnauthorized},
	"ResourceNotFoundException":           {404, llm.KindNotFound},
	"ModelTimeoutException":               {408, llm.KindTimeout},
	"ThrottlingException":                 {429, llm.KindThrottled},
	"ModelNotReadyException":              {429, llm.KindModelNotReady},
	"ServiceQuotaExceededException":       {400, llm.KindThrottled},
	"ModelErrorException":                 {424, llm.KindModelError},
	"ModelStreamErrorException":           {424, llm.KindModelError},
	"InternalServerException":             {500, llm.KindUnavailable},
	"ServiceUnavailableException":         {503, llm.KindUnavailable},
	"RequestCanceledException":            {499, llm.KindCanceled},
	"UnknownOperationException":           {404, llm.KindNotFound},
}

// ErrorType returns the HTTP status and Bedrock error type Penny answers a
// Converse request with when it fails with kind. Unknown kinds answer as
// KindInternal.
func ErrorType(kind llm.ErrorKind) (status int, typ string) {
	e, ok := kindErrors[kind]
	if !ok {
		e = kindErrors[llm.KindInternal]
	}
	return e.status, e.typ
}

// StreamExceptionType returns the :exception-type of the ConverseStream
// exception frame for kind: one of internalServerException,
// modelStreamErrorException, validationException, throttlingException and
// serviceUnavailableException.
func StreamExceptionType(kind llm.ErrorKind) string {
	e, ok := kindErrors[kind]
	if !ok {
		e = kindErrors[llm.KindInternal]
	}
	return e.streamType
}

// KindOfType returns the kind Penny handles a Bedrock error type as. It
// accepts the forms Bedrock uses: "ThrottlingException", the stream form
// "throttlingException", and the header form
// "ThrottlingException:http://internal.amazon.com/coral/...". ok is false
// for an unknown type.
func KindOfType(typ string) (kind llm.ErrorKind, ok bool) {
	e, ok := bedrockErrors[canonicalType(typ)]
	return e.kind, ok
}

// StatusOfType returns the HTTP status Bedrock sends the error type with,
// or 500 for an unknown type.
func StatusOfType(typ string) int {
	if e, ok := bedrockErrors[canonicalType(typ)]; ok {
		return e.status
	}
	return http.StatusInternalServerError
}

// canonicalType strips a namespace ("aws.protocols#" prefix or
// ":http://..." suffix) and upper-cases the first letter.
func canonicalType(typ string) string {
	if i := strings.IndexByte(typ, ':'); i >= 0 {
		typ = typ[:i]
	}
	if i := strings.LastIndexByte(typ, '#'); i >= 0 {
		typ = typ[i+1:]
	}
	if typ != "" && typ[0] >= 'a' && typ[0] <= 'z' {
		typ = string(typ[0]-'a'+'A') + typ[1:]
	}
	return typ
}

// errorMessage returns err's message for a client.
func errorMessage(err error) string {
	var e *llm.Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return err.Error()
}

// WriteHTTPError answers a Converse request that failed with err the way
// Bedrock does: the status and x-amzn-ErrorType from err's kind (see
// ErrorType), Content-Type application/json, x-amzn-RequestId, the body
// {"message": ...}, and Retry-After in whole seconds when err is an
// *llm.Error with a positive RetryAfter.
func WriteHTTPError(w http.ResponseWriter, requestID string, err error) {
	status, typ := ErrorType(llm.KindOf(err))
	writeHTTPError(w, requestID, status, typ, errorMessage(err), retryAfter(err))
}

// WriteHTTPErrorType answers with a Bedrock error given by its type, with
// the status Bedrock sends it with (see StatusOfType). The fake Bedrock uses
// it to inject exact Bedrock faults.
func WriteHTTPErrorType(w http.ResponseWriter, requestID, typ, message string) {
	writeHTTPError(w, requestID, StatusOfType(typ), canonicalType(typ), message, 0)
}

func writeHTTPError(w http.ResponseWriter, requestID string, status int, typ, message string, after time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-ErrorType", typ+errorNamespace)
	if requestID != "" {
		h.Set("x-amzn-RequestId", requestID)
	}
	if after > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((after+time.Second-1)/time.Second), 10))
	}
	body, _ := json.Marshal(ErrorBody{Message: message})
	w.WriteHeader(status)
	w.Write(body)
}

func retryAfter(err error) time.Duration {
	var e *llm.Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ErrorFromHTTP turns a Bedrock error answer into an *llm.Error, reading the
// type the way AWS SDKs do: the x-amzn-ErrorType header, then the body's
// __type, then its code. An unknown type is classified by status. The
// message is the body's message (or Message).
func ErrorFromHTTP(status int, h http.Header, body []byte) *llm.Error {
	var b struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(body, &b)
	typ := h.Get("x-amzn-ErrorType")
	if typ == "" {
		typ = b.Type
	}
	if typ == "" {
		typ = b.Code
	}
	typ = canonicalType(typ)
	msg := b.Message
	if msg == "" {
		msg = b.MessageU
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	kind, ok := KindOfType(typ)
	if !ok {
		kind = KindOfStatus(status)
	}
	e := &llm.Error{Kind: kind, Message: msg, Upstream: typ}
	if s := h.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// KindOfStatus classifies an error answer of unknown type by its HTTP
// status.
func KindOfStatus(status int) llm.ErrorKind {
	switch {
	case status == http.StatusTooManyRequests:
		return llm.KindThrottled
	case status == http.StatusUnauthorized:
		return llm.KindUnauthorized
	case status == http.StatusForbidden:
		return llm.KindForbidden
	case status == http.StatusNotFound:
		return llm.KindNotFound
	case status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return llm.KindTimeout
	case status == http.StatusRequestEntityTooLarge:
		return llm.KindTooLarge
	case status >= 500:
		return llm.KindUnavailable
	case status >= 400:
		return llm.KindValidation
	}
	return llm.KindInternal
}
