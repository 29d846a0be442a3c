package converse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestWriteHTTPError(t *testing.T) {
	tests := []struct {
		err    error
		status int
		typ    string
	}{
		{llm.Errorf(llm.KindValidation, "messages: is required"), 400, "ValidationException"},
		{llm.Errorf(llm.KindUnsupported, "guardrailConfig: not supported"), 400, "ValidationException"},
		{llm.Errorf(llm.KindTooLarge, "body over 10 MB"), 413, "ValidationException"},
		{llm.Errorf(llm.KindUnauthorized, "bad key"), 403, "UnrecognizedClientException"},
		{llm.Errorf(llm.KindForbidden, "no access"), 403, "AccessDeniedException"},
		{llm.Errorf(llm.KindNotFound, "no such model"), 404, "ResourceNotFoundException"},
		{llm.Errorf(llm.KindThrottled, "slow down"), 429, "ThrottlingException"},
		{llm.Errorf(llm.KindModelNotReady, "loading"), 429, "ModelNotReadyException"},
		{llm.Errorf(llm.KindBudget, "budget exhausted"), 429, "ServiceQuotaExceededException"},
		{llm.Errorf(llm.KindTimeout, "too slow"), 408, "ModelTimeoutException"},
		{llm.Errorf(llm.KindModelError, "model failed"), 424, "ModelErrorException"},
		{llm.Errorf(llm.KindUnavailable, "down"), 503, "ServiceUnavailableException"},
		{llm.Errorf(llm.KindInternal, "bug"), 500, "InternalServerException"},
		{llm.Errorf(llm.KindCanceled, "gone"), 499, "RequestCanceledException"},
		{errors.New("plain"), 500, "InternalServerException"},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), 408, "ModelTimeoutException"},
		{&llm.Error{Kind: "new-kind", Message: "x"}, 500, "InternalServerException"},
	}
	for _, tc := range tests {
		t.Run(tc.typ+"/"+tc.err.Error(), func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteHTTPError(rec, "req-1", tc.err)
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			h := rec.Header()
			if got, want := h.Get("x-amzn-ErrorType"), tc.typ+":http://internal.amazon.com/coral/com.amazon.bedrock/"; got != want {
				t.Errorf("x-amzn-ErrorType = %q, want %q", got, want)
			}
			if h.Get("Content-Type") != "application/json" || h.Get("x-amzn-RequestId") != "req-1" {
				t.Errorf("headers = %v", h)
			}
			if h.Get("Retry-After") != "" {
				t.Errorf("unexpected Retry-After %q", h.Get("Retry-After"))
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["message"] != tc.err.Error() || len(body) != 1 {
				t.Errorf("body = %s (%v)", rec.Body, err)
			}
			// Reading the answer back gives the kind Penny handles the
			// Bedrock type as.
			back := ErrorFromHTTP(rec.Code, h, rec.Body.Bytes())
			wantKind, _ := KindOfType(tc.typ)
			if back.Kind != wantKind || back.Upstream != tc.typ || back.Message != tc.err.Error() {
				t.Errorf("ErrorFromHTTP = %+v", back)
			}
		})
	}
}

// TestEveryKindMapped fails when a kind is added to llm without a row here.
func TestEveryKindMapped(t *testing.T) {
	kinds := []llm.ErrorKind{llm.KindValidation, llm.KindUnauthorized, llm.KindForbidden, llm.KindNotFound,
		llm.KindTooLarge, llm.KindUnsupported, llm.KindThrottled, llm.KindModelNotReady, llm.KindTimeout,
		llm.KindModelError, llm.KindUnavailable, llm.KindBudget, llm.KindCanceled, llm.KindSlowClient, llm.KindInternal}
	for _, k := range kinds {
		if _, ok := kindErrors[k]; !ok {
			t.Errorf("kind %q has no Bedrock error", k)
		}
		switch st := StreamExceptionType(k); st {
		case "internalServerException", "modelStreamErrorException", "validationException",
			"throttlingException", "serviceUnavailableException":
		default:
			t.Errorf("kind %q: stream exception type %q is not one Bedrock defines", k, st)
		}
	}
	if len(kindErrors) != len(kinds) {
		t.Errorf("kindErrors has %d rows, want %d", len(kindErrors), len(kinds))
	}
}

func TestRetryAfterHeader(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteHTTPError(rec, "", &llm.Error{Kind: llm.KindThrottled, Message: "wait", RetryAfter: 1500 * time.Millisecond})
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Fatalf("Retry-After = %q, want 2", got)
	}
	if e := ErrorFromHTTP(rec.Code, rec.Header(), rec.Body.Bytes()); e.RetryAfter != 2*time.Second {
		t.Fatalf("RetryAfter = %v", e.RetryAfter)
	}
}

func TestKindOfType(t *testing.T) {
	tests := []struct {
		typ  string
		kind llm.ErrorKind
		ok   bool
	}{
		{"ThrottlingException", llm.KindThrottled, true},
		{"throttlingException", llm.KindThrottled, true},
		{"ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", llm.KindThrottled, true},
		{"com.amazon.coral.service#ModelNotReadyException", llm.KindModelNotReady, true},
		{"ModelTimeoutException", llm.KindTimeout, true},
		{"ServiceUnavailableException", llm.KindUnavailable, true},
		{"InternalServerException", llm.KindUnavailable, true},
		{"internalServerException", llm.KindUnavailable, true},
		{"ValidationException", llm.KindValidation, true},
		{"ResourceNotFoundException", llm.KindNotFound, true},
		{"AccessDeniedException", llm.KindForbidden, true},
		{"UnrecognizedClientException", llm.KindUnauthorized, true},
		{"ModelErrorException", llm.KindModelError, true},
		{"modelStreamErrorException", llm.KindModelError, true},
		{"ServiceQuotaExceededException", llm.KindThrottled, true},
		{"WhateverException", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		kind, ok := KindOfType(tc.typ)
		if kind != tc.kind || ok != tc.ok {
			t.Errorf("KindOfType(%q) = %q, %v; want %q, %v", tc.typ, kind, ok, tc.kind, tc.ok)
		}
	}
}

func TestErrorFromHTTPFallbacks(t *testing.T) {
	tests := []struct {
		status int
		header string
		body   string
		kind   llm.ErrorKind
		typ    string
		msg    string
	}{
		{400, "", `{"__type":"com.amazon#ValidationException","Message":"bad"}`, llm.KindValidation, "ValidationException", "bad"},
		{429, "", `{"code":"ThrottlingException","message":"slow"}`, llm.KindThrottled, "ThrottlingException", "slow"},
		{502, "", `<html>`, llm.KindUnavailable, "", "Bad Gateway"},
		{429, "", ``, llm.KindThrottled, "", "Too Many Requests"},
		{418, "TeapotException", `{}`, llm.KindValidation, "TeapotException", "I'm a teapot"},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.header != "" {
			h.Set("x-amzn-ErrorType", tc.header)
		}
		e := ErrorFromHTTP(tc.status, h, []byte(tc.body))
		if e.Kind != tc.kind || e.Upstream != tc.typ || e.Message != tc.msg {
			t.Errorf("ErrorFromHTTP(%d, %q, %s) = %+v", tc.status, tc.header, tc.body, e)
		}
	}
}

func TestWriteHTTPErrorType(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteHTTPErrorType(rec, "r", "ModelNotReadyException", "Model is not ready")
	if rec.Code != 429 || rec.Header().Get("x-amzn-ErrorType") != "ModelNotReadyException"+errorNamespace {
		t.Fatalf("got %d %v", rec.Code, rec.Header())
	}
}
