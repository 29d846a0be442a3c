package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

const (
	sigv4Algorithm  = "AWS4-HMAC-SHA256"
	sigv4Terminator = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
	headerAmzDate   = "X-Amz-Date"
	headerAmzSHA256 = "X-Amz-Content-Sha256"
)

// sigv4Auth is a parsed SigV4 Authorization header.
type sigv4Auth struct {
	accessKeyID   string
	date          string // YYYYMMDD of the credential scope
	region        string
	service       string
	signedHeaders string // as sent: lower case, sorted, ";"-separated
	signature     string // lower-case hex
}

// parseSigV4 parses what follows "AWS4-HMAC-SHA256 " in an Authorization
// header: "Credential=AKID/20260102/us-east-1/bedrock/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex".
func parseSigV4(s string) (sigv4Auth, error) {
	var p sigv4Auth
	var credential string
	for part := range strings.SplitSeq(s, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "Credential":
			credential = value
		case "SignedHeaders":
			p.signedHeaders = value
		case "Signature":
			p.signature = value
		}
	}
	if credential == "" || p.signedHeaders == "" || p.signature == "" {
		return p, errors.New("the SigV4 Authorization header needs Credential, SignedHeaders and Signature")
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != sigv4Terminator || len(scope[1]) != 8 || scope[2] == "" {
		return p, errors.New("the SigV4 credential is not ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request")
	}
	p.accessKeyID, p.date, p.region, p.service = scope[0], scope[1], scope[2], scope[3]
	if len(p.signature) != 2*sha256.Size {
		return p, errors.New("the SigV4 signature is not 64 hexadecimal digits")
	}
	return p, nil
}

// sigv4Check is what can be verified of a SigV4 request before its body is
// read: the header's form, the scope, the clock and the key.
type sigv4Check struct {
	p        sigv4Auth
	signed   []string
	signedAt time.Time
	e        *entry
	now      time.Time
}

// precheckSigV4 verifies everything but the signature itself, which covers
// the body. authz is the Authorization header after the algorithm name.
func (a *Authenticator) precheckSigV4(r *http.Request, authz string) (*sigv4Check, error) {
	p, err := parseSigV4(authz)
	if err != nil {
		return nil, unauthorized("%s", err.Error())
	}
	if p.service != Service {
		return nil, unauthorized("the request is signed for service %q; Penny's Bedrock Runtime API takes signatures for %q", p.service, Service)
	}
	if !keys.LooksLikeAccessKeyID(p.accessKeyID) {
		return nil, unauthorized("access key id %q is not a Penny key (Penny access key ids start with %q): "+
			"configure the AWS SDK with the access key id and secret access key `penny keys create` printed, not AWS credentials",
			p.accessKeyID, keys.AccessKeyIDPrefix)
	}

	amzDate := r.Header.Get(headerAmzDate)
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, unauthorized("SigV4 requests need an %s header in the form %s (got %q)", headerAmzDate, amzDateFormat, amzDate)
	}
	now := a.now()
	if d := now.Sub(signedAt); d > a.maxSkew || d < -a.maxSkew {
		return nil, unauthorized("signature expired: %s %s is more than %v from Penny's time %s; check the client's clock",
			headerAmzDate, amzDate, a.maxSkew, now.UTC().Format(amzDateFormat))
	}
	if p.date != amzDate[:8] {
		return nil, unauthorized("the credential scope's date %s is not the date of %s %s", p.date, headerAmzDate, amzDate)
	}
	signed := strings.Split(p.signedHeaders, ";")
	if !slices.Contains(signed, "host") || !slices.Contains(signed, "x-amz-date") {
		return nil, unauthorized("the SigV4 signature must cover the host and x-amz-date headers (SignedHeaders=%s)", p.signedHeaders)
	}
	switch h := r.Header.Get(headerAmzSHA256); {
	case h == "UNSIGNED-PAYLOAD" || strings.HasPrefix(h, "STREAMING-"):
		return nil, unauthorized("%s %s is not accepted: Penny verifies the signed body", headerAmzSHA256, h)
	case h != "" && !isPayloadHash(h):
		return nil, unauthorized("%s %.80q is not a SHA-256 in 64 lower-case hexadecimal digits", headerAmzSHA256, h)
	}

	e, err := a.byAccessKeyID(r.Context(), p.accessKeyID, now)
	switch {
	case errors.Is(err, keys.ErrNotFound):
		return nil, unauthorized("the access key id %s is not a key of this Penny", p.accessKeyID)
	case errors.Is(err, keys.ErrSealed):
		return nil, &llm.Error{Kind: llm.KindInternal,
			Message: "Penny cannot verify signatures of key " + p.accessKeyID + ": its secret is sealed and the server lacks " + keys.SecretEnv,
			Err:     err}
	case err != nil:
		return nil, lookupFailed(err)
	}
	if !e.rec.Active() {
		return nil, unauthorized("the access key %s was revoked on %s", p.accessKeyID, e.rec.Revoked.Format(time.RFC3339))
	}
	return &sigv4Check{p: p, signed: signed, signedAt: signedAt, e: e, now: now}, nil
}

// verifySigV4 checks a SigV4-signed request; authz is the Authorization
// header after the algorithm name.
func (a *Authenticator) verifySigV4(r *http.Request, body []byte, authz string) (*keys.Record, error) {
	c, err := a.precheckSigV4(r, authz)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get(headerAmzSHA256); h != "" && h != payloadHash {
		return nil, unauthorized("the request body does not match its %s header", headerAmzSHA256)
	}
	return a.checkSignature(r, c, payloadHash)
}

// isPayloadHash reports whether h is a SHA-256 as SigV4 writes it.
func isPayloadHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkSignature verifies the signature c was parsed from for a payload
// of hash payloadHash: the body's, or the one the request declares (the
// canonical request the client signed ends with it, whether or not it
// also signed the x-amz-content-sha256 header).
func (a *Authenticator) checkSignature(r *http.Request, c *sigv4Check, payloadHash string) (*keys.Record, error) {
	want, gotHeaders, err := a.resign(r, c.e, c.p, c.signed, payloadHash, c.signedAt)
	if err != nil {
		return nil, err
	}
	if gotHeaders != c.p.signedHeaders {
		return nil, unauthorized("the request's signed headers (%s) cannot be verified: Penny signs %s", c.p.signedHeaders, gotHeaders)
	}
	if !constantTimeEqual(want, c.p.signature) {
		return nil, unauthorized("the request signature does not match: check the secret access key, " +
			"and that nothing between the client and Penny changes the request (a proxy must keep the Host header)")
	}
	a.markUsed(c.e, c.now)
	return c.e.rec, nil
}

// resign signs a copy of r that holds only the headers the client signed,
// with the key's secret, at the client's signing time, and returns the
// signature and the signed headers the signer produced.
func (a *Authenticator) resign(r *http.Request, e *entry, p sigv4Auth, signed []string, payloadHash string, signedAt time.Time) (signature, signedHeaders string, err error) {
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	if r.TLS != nil {
		u.Scheme = "https"
	}
	req := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: make(http.Header, len(signed)+1)}
	for _, name := range signed {
		switch name {
		case "host":
			continue
		case "content-length":
			req.ContentLength = r.ContentLength
			continue
		}
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		values := r.Header[canonical]
		if len(values) == 0 {
			return "", "", unauthorized("signed header %q is missing from the request", name)
		}
		req.Header[canonical] = slices.Clone(values) // the signer rewrites X-Amz-Date in place
	}
	creds := aws.Credentials{AccessKeyID: e.rec.ID, SecretAccessKey: e.rec.SigningSecret}
	if err := e.signer.SignHTTP(r.Context(), creds, req, payloadHash, p.service, p.region, signedAt); err != nil {
		return "", "", &llm.Error{Kind: llm.KindInternal, Message: "authentication failed: cannot compute the signature", Err: err}
	}
	ours, err := parseSigV4(strings.TrimPrefix(req.Header.Get("Authorization"), sigv4Algorithm+" "))
	if err != nil {
		return "", "", &llm.Error{Kind: llm.KindInternal, Message: "authentication failed: cannot read the computed signature", Err: err}
	}
	return ours.signature, ours.signedHeaders, nil
}
