// Package openai is Penny's upstream for OpenAI-compatible servers (vLLM,
// Ollama, LiteLLM, llama.cpp, OpenAI itself): an llm.Invoker that calls
// POST {BaseURL}/chat/completions, streamed or not.
//
// The translation to and from the wire format lives in package openaiwire;
// this package is the HTTP and server-sent-events transport around it and
// the mapping of transport failures to *llm.Error kinds. It never retries:
// retrying, fallback and circuit breaking are Penny's stages' decisions.
package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// Options configures a Provider.
type Options struct {
	// Name names the upstream in error messages, e.g. "vllm". Default
	// "openai".
	Name string
	// BaseURL is the API root that /chat/completions is appended to, e.g.
	// http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:11434/v1 (Ollama),
	// https://api.openai.com/v1.
	BaseURL string
	// APIKey, if set, is sent as "Authorization: Bearer <APIKey>".
	APIKey string
	// Header holds extra headers sent with every request, e.g. an
	// organization or a routing header some proxies want.
	Header http.Header
	// HTTPClient, if set, sends the requests; default a client on
	// http.DefaultTransport. Its own Timeout, if any, applies as well.
	HTTPClient *http.Client
	// Timeout, if positive, bounds each call: all of Invoke, and for Stream
	// the wait for the answer to start and then for each next chunk, so
	// that a long but live stream is not cut.
	Timeout time.Duration
	// MaxCompletionTokens sends the token limit as max_completion_tokens,
	// which OpenAI's reasoning models require, instead of max_tokens,
	// which every OpenAI-compatible server understands.
	MaxCompletionTokens bool
}

// Provider calls one OpenAI-compatible server. It is safe for concurrent
// use.
type Provider struct {
	name     string
	endpoint string
	header   http.Header
	client   *http.Client
	timeout  time.Duration
	maxComp  bool
}

var _ llm.Invoker = (*Provider)(nil)

// Limits on what is read from an upstream.
const (
	maxAnswerBytes = 32 << 20 // a non-streamed answer
	maxErrorBytes  = 1 << 20  // an error body
	maxLineBytes   = 16 << 20 // one line of a stream
)

// New returns a Provider. It checks the options but does not contact the
// upstream.
func New(o Options) (*Provider, error) {
	name := o.Name
	if name == "" {
		name = "openai"
	}
	u, err := url.Parse(strings.TrimSpace(o.BaseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai upstream %q: base URL %q must be an http(s) URL such as http://127.0.0.1:8000/v1", name, o.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("openai upstream %q: base URL %q must not have a query or fragment", name, o.BaseURL)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("openai upstream %q: timeout %v is negative", name, o.Timeout)
	}
	h := o.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "penny-gateway")
	}
	if o.APIKey != "" {
		h.Set("Authorization", "Bearer "+o.APIKey)
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	return &Provider{
		name:     name,
		endpoint: strings.TrimRight(u.String(), "/") + "/chat/completions",
		header:   h,
		client:   client,
		timeout:  o.Timeout,
		maxComp:  o.MaxCompletionTokens,
	}, nil
}

// Name is the upstream's name.
func (p *Provider) Name() string { return p.name }

// Invoke sends req (req.Model is the upstream's model name) and returns the
// answer, its Latency the time the call took. Errors are *llm.Error: the
// upstream's own errors with the kind of their HTTP status (see
// openaiwire.KindForStatus), its message, its error code or type as
// Upstream and its Retry-After; KindUnavailable when the upstream cannot be
// reached; KindTimeout when Timeout or the context's deadline passes;
// KindCanceled when the context is canceled; KindInternal for an answer
// that is not a chat completion.
func (p *Provider) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, err := openaiwire.EncodeOptions{MaxCompletionTokens: p.maxComp}.Encode(req)
	if err != nil {
		return nil, err
	}
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	start := time.Now()
	resp, err := p.post(ctx, body, false)
	if err != nil {
		return nil, p.transportError(ctx, err, false)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, p.statusError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, p.transportError(ctx, err, false)
	}
	if len(data) > maxAnswerBytes {
		return nil, llm.Errorf(llm.KindInternal, "upstream %s: answer is larger than %d bytes", p.name, maxAnswerBytes)
	}
	out, err := openaiwire.DecodeResponse(data)
	if err != nil {
		return nil, err
	}
	out.Latency = time.Since(start)
	return out, nil
}

// post sends body to the chat completions endpoint.
func (p *Provider) post(ctx context.Context, body []byte, stream bool) (*http.Response, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header = p.header.Clone()
	if stream {
		hr.Header.Set("Accept", "text/event-stream")
	} else {
		hr.Header.Set("Accept", "application/json")
	}
	return p.client.Do(hr)
}

// statusError reads a non-2xx answer into an *llm.Error and closes it.
func (p *Provider) statusError(resp *http.Response) error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	e := openaiwire.DecodeError(resp.StatusCode, body)
	e.RetryAfter = retryAfter(resp.Header, time.Now())
	return e
}

// retryAfter reads OpenAI's retry-after-ms, then the standard Retry-After
// in seconds or as an HTTP date. It returns 0 when neither says.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// transportError maps a failure to reach or read the upstream. ctx is the
// call's context; expired says the stream's idle timer fired.
func (p *Provider) transportError(ctx context.Context, err error, expired bool) error {
	var ne net.Error
	switch {
	case expired:
		return &llm.Error{Kind: llm.KindTimeout, Message: fmt.Sprintf("upstream %s sent nothing for %v", p.name, p.timeout), Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &llm.Error{Kind: llm.KindTimeout, Message: fmt.Sprintf("upstream %s did not answer in time", p.name), Err: err}
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return &llm.Error{Kind: llm.KindCanceled, Message: fmt.Sprintf("call to upstream %s canceled", p.name), Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &llm.Error{Kind: llm.KindUnavailable, Message: fmt.Sprintf("upstream %s refused the connection (is it running at %s?)", p.name, p.endpoint), Err: err}
	case errors.As(err, &ne) && ne.Timeout():
		return &llm.Error{Kind: llm.KindTimeout, Message: fmt.Sprintf("upstream %s: %v", p.name, err), Err: err}
	}
	return &llm.Error{Kind: llm.KindUnavailable, Message: fmt.Sprintf("upstream %s: %v", p.name, err), Err: err}
}
