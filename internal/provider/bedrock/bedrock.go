// Package bedrock is Penny's upstream for Amazon Bedrock: an llm.Invoker
// that calls the Bedrock runtime's Converse and ConverseStream APIs through
// the AWS SDK, and InvokeModel for embeddings and model-native bodies.
//
// The SDK's own retries are off: retrying, fallback and circuit breaking
// are Penny's stages' decisions, made on the typed *llm.Error this package
// returns.
package bedrock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// Options configures a Provider.
type Options struct {
	// Region is the AWS region, e.g. "us-east-1". Empty means the standard
	// resolution: AWS_REGION, AWS_DEFAULT_REGION, then the shared config
	// profile.
	Region string
	// BaseEndpoint overrides the Bedrock runtime endpoint, e.g. a VPC
	// endpoint or a test server. Empty means the region's endpoint.
	BaseEndpoint string
	// Credentials, if set, sign every call. Nil means the standard chain
	// (environment, shared config and SSO, web identity, container and
	// instance roles), resolved lazily on the first call.
	Credentials aws.CredentialsProvider
	// HTTPClient, if set, sends the requests. The default keeps up to
	// MaxIdleConnsPerHost idle connections to Bedrock, far more than the
	// SDK's default of 10, so that a busy gateway reuses connections instead
	// of opening new ones under load.
	HTTPClient aws.HTTPClient
	// Timeout, if positive, bounds each call: all of Invoke, and for Stream
	// the wait for the answer to start and then for each next event, so
	// that a long but live stream is not cut.
	Timeout time.Duration
}

// Provider calls Bedrock. It is safe for concurrent use.
type Provider struct {
	client  *bedrockruntime.Client
	region  string
	creds   aws.CredentialsProvider
	bearer  bool
	timeout time.Duration
}

var _ llm.Invoker = (*Provider)(nil)

// MaxIdleConnsPerHost is the default client's idle connection pool per
// Bedrock endpoint.
const MaxIdleConnsPerHost = 256

// DefaultRegion is used when no region is configured anywhere.
const DefaultRegion = "us-east-1"

// New returns a Provider. It loads the AWS configuration (region, shared
// config files) but does not contact AWS or retrieve credentials; call
// CheckCredentials for that. When no region is configured it uses DefaultRegion.
func New(ctx context.Context, o Options) (*Provider, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		// Bedrock's home region when neither Options, the environment nor
		// the shared config name one.
		config.WithDefaultRegion(DefaultRegion),
		// Penny reports failures itself; the SDK's own logger would print
		// stray lines (e.g. IMDS fallbacks) to stderr.
		config.WithLogger(logging.Nop{}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(o.Credentials))
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 2 * MaxIdleConnsPerHost
			t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
		})
	}
	opts = append(opts, config.WithHTTPClient(hc))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("bedrock: load AWS config: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("bedrock: no AWS region: set the provider's region or AWS_REGION")
	}
	p := &Provider{timeout: o.Timeout, region: cfg.Region}
	if cfg.Credentials != nil {
		p.creds = cfg.Credentials
		cfg.Credentials = markedCredentials{cfg.Credentials}
	}
	p.client = bedrockruntime.NewFromConfig(cfg, func(c *bedrockruntime.Options) {
		if o.BaseEndpoint != "" {
			c.BaseEndpoint = aws.String(o.BaseEndpoint)
		}
		c.Retryer = aws.NopRetryer{}
		c.RetryMaxAttempts = 1
		c.HTTPClient = bodySentClient{c.HTTPClient}
		c.APIOptions = append(c.APIOptions, trimStack)
	})
	// AWS_BEARER_TOKEN_BEDROCK switches the SDK to bearer auth (a Bedrock
	// API key); then SigV4 credentials are not needed.
	co := p.client.Options()
	p.bearer = co.BearerAuthTokenProvider != nil && len(co.AuthSchemePreference) > 0 && co.AuthSchemePreference[0] == "httpBearerAuth"
	return p, nil
}

// Region is the AWS region the provider calls, as resolved by New.
func (p *Provider) Region() string { return p.region }

// CheckCredentials retrieves credentials from the configured provider or
// chain and returns an actionable *llm.Error (KindUnauthorized) when there
// are none. It succeeds without AWS credentials when a Bedrock API key is
// set in AWS_BEARER_TOKEN_BEDROCK.
func (p *Provider) CheckCredentials(ctx context.Context) error {
	if p.bearer {
		return nil
	}
	if p.creds == nil {
		return noCredentials(errors.New("no credentials provider"))
	}
	c, err := p.creds.Retrieve(ctx)
	if err != nil {
		return noCredentials(err)
	}
	if !c.HasKeys() {
		return noCredentials(errors.New("the credentials have no access key"))
	}
	if c.CanExpire && !c.Expires.IsZero() && time.Now().After(c.Expires) {
		return &llm.Error{Kind: llm.KindUnauthorized,
			Message: fmt.Sprintf("bedrock: AWS credentials (source %s) expired at %s; refresh them (e.g. aws sso login)", c.Source, c.Expires.Format(time.RFC3339))}
	}
	return nil
}

func noCredentials(err error) *llm.Error {
	return &llm.Error{
		Kind: llm.KindUnauthorized,
		Err:  err,
		Message: "bedrock: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " +
			"or AWS_PROFILE (run `aws sso login` for SSO profiles), or run with an instance, task or " +
			"web-identity role, or set a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK (" + err.Error() + ")",
	}
}

// markedCredentials wraps the credentials provider so that a failure to
// retrieve credentials during a call can be told apart from other errors.
type markedCredentials struct{ aws.CredentialsProvider }

func (m markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return c, &credentialsError{err}
	}
	return c, nil
}

type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return "retrieve AWS credentials: " + e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// Invoke calls Converse with req.Model as the model id; embeddings and
// native bodies go through InvokeModel (invoke.go).
func (p *Provider) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	switch {
	case req.Embed != nil:
		return p.embed(ctx, req)
	case req.Native != nil:
		return p.invokeNative(ctx, req)
	}
	in, err := converseInput(req)
	if err != nil {
		return nil, err
	}
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	out, err := p.client.Converse(ctx, in)
	if err != nil {
		return nil, mapError(ctx, err)
	}
	return responseFromOutput(out)
}

// errIdleTimeout is the cancel cause of a stream that waited longer than
// Options.Timeout for its next event.
var errIdleTimeout = errors.New("bedrock: stream idle timeout")

// Stream calls ConverseStream with req.Model as the model id. Errors before
// the answer starts are returned here; a mid-stream exception is returned
// by the Stream's Recv as an *llm.Error.
func (p *Provider) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	switch {
	case req.Embed != nil:
		return nil, llm.Errorf(llm.KindUnsupported, "embeddings are not streamed")
	case req.Native != nil:
		return p.streamNative(ctx, req)
	}
	in, err := converseStreamInput(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	s := &stream{ctx: ctx, cancel: cancel, timeout: p.timeout}
	if p.timeout > 0 {
		s.timer = time.AfterFunc(p.timeout, func() { cancel(errIdleTimeout) })
	}
	out, err := p.client.ConverseStream(ctx, in)
	if err != nil {
		err = mapError(ctx, err)
		s.stop()
		return nil, err
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.es = out.GetStream()
	return s, nil
}

// mapError turns an SDK error into an *llm.Error. ctx is the call's
// context, whose state tells timeouts and cancellations apart.
func mapError(ctx context.Context, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		status := 0
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			status = re.HTTPStatusCode()
		}
		kind, ok := converse.KindOfType(code)
		if !ok {
			kind = llm.KindInternal
			if status != 0 {
				kind = converse.KindOfStatus(status)
			}
		}
		msg := ae.ErrorMessage()
		if msg == "" {
			msg = code
		}
		e := &llm.Error{Kind: kind, Message: "bedrock: " + msg, Upstream: code, Err: err}
		if re != nil && re.Response != nil {
			e.RetryAfter = parseRetryAfter(re.Response.Header.Get("Retry-After"))
		}
		return e
	}
	switch {
	case errors.Is(context.Cause(ctx), errIdleTimeout):
		return &llm.Error{Kind: llm.KindTimeout, Message: "bedrock: no answer within the timeout", Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &llm.Error{Kind: llm.KindTimeout, Message: "bedrock: call timed out", Err: err}
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return &llm.Error{Kind: llm.KindCanceled, Message: "bedrock: call canceled", Err: err}
	}
	var ce *credentialsError
	if errors.As(err, &ce) {
		return noCredentials(ce.err)
	}
	var se *smithyhttp.RequestSendError
	var ne net.Error
	if errors.As(err, &se) || errors.As(err, &ne) {
		return &llm.Error{Kind: llm.KindUnavailable, Message: "bedrock: cannot reach Bedrock: " + err.Error(), Err: err}
	}
	return &llm.Error{Kind: llm.KindInternal, Message: "bedrock: " + err.Error(), Err: err}
}

func parseRetryAfter(s string) time.Duration {
	if s == "" {
		return 0
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(s); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// trimStack removes per-call SDK middleware Penny does not need, to cut the
// SDK's share of Penny's added latency: input validation (the gateway has
// validated the request already, and Bedrock validates it again), the
// amz-sdk-invocation-id header (a random UUID per call; Penny's own request
// id is in the ledger) and Lambda recursion detection (Penny does not run
// inside Lambda's invocation path). Signing, endpoint resolution, error
// and request-id handling are untouched.
func trimStack(s *middleware.Stack) error {
	if _, err := s.Initialize.Remove("OperationInputValidation"); err != nil {
		return err
	}
	if _, err := s.Build.Remove("ClientRequestID"); err != nil {
		return err
	}
	if _, err := s.Build.Remove("RecursionDetection"); err != nil {
		return err
	}
	return nil
}

// bodySentClient returns a response only once the transport has read the
// whole request body. The SDK closes the request body as soon as Do
// returns; when the response headers beat the transport's last read of the
// body (Bedrock answering a stream quickly), that read fails, and net/http
// closes the connection — under the response stream being read, which then
// fails with "use of closed network connection" (cf. aws-sdk-go-v2 #2737).
type bodySentClient struct{ next aws.HTTPClient }

func (c bodySentClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return c.next.Do(r)
	}
	b := &sentBody{ReadCloser: r.Body, done: make(chan struct{})}
	r.Body = b
	resp, err := c.next.Do(r)
	if err == nil {
		select {
		case <-b.done:
		case <-r.Context().Done():
		}
	}
	return resp, err
}

// sentBody closes done when its reader has reported the end (or an error)
// or it is closed.
type sentBody struct {
	io.ReadCloser
	done chan struct{}
	once sync.Once
}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(func() { close(b.done) })
	}
	return n, err
}

func (b *sentBody) Close() error {
	b.once.Do(func() { close(b.done) })
	return b.ReadCloser.Close()
}
