// Package auth verifies that an HTTP request carries a valid Penny key and
// says which one.
//
// Two ways in, decided by the request's credentials rather than by the API
// it calls:
//
//   - a bearer token ("pk-…") in "Authorization: Bearer" or "x-api-key", as
//     OpenAI (and Anthropic-style) clients send an API key; an AWS SDK set up
//     with a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) sends it the same way;
//   - an AWS Signature Version 4 signature ("Authorization: AWS4-HMAC-SHA256
//     …"), as any unmodified AWS SDK sends it when configured with the key's
//     access key id and secret access key. The signature is checked by
//     re-signing the request, reduced to the headers the client signed, with
//     the aws-sdk-go-v2 signer at the client's own X-Amz-Date, and comparing
//     in constant time. Service "bedrock", any region.
//
// A SigV4 request is checked before its body is read as far as its headers
// allow (AuthenticateHeaders): when it declares its payload's SHA-256 in
// x-amz-content-sha256, the signature is verified against that hash first
// and the body, once read, against the hash (CheckPayload), so a forged
// signature is refused before a byte of the body is read. The AWS SDKs
// compute the hash but send the header only for some services (S3, not
// Bedrock Runtime); without it only the key, scope and clock can be
// checked first, and the signature once the body is read, within the body
// limits. UNSIGNED-PAYLOAD and streaming payloads are refused.
//
// Looked-up keys are cached in memory for Options.TTL: a key revoked by
// another process (`penny keys revoke`) stops working within the TTL, one
// revoked through Authenticator.Revoke (or Invalidate) at once. Unknown
// credentials are not cached, so a key works as soon as it is created.
//
// Every failure is an *llm.Error. Missing, malformed, unknown, revoked,
// expired (X-Amz-Date more than MaxSkew away) or mismatched credentials are
// KindUnauthorized, with a message that says what to fix: the OpenAI
// frontend answers 401 authentication_error, the Converse frontend 403
// UnrecognizedClientException, which AWS SDKs raise without retrying.
//
// What SigV4 verification does not cover: presigned (query-string) URLs and
// streaming (chunk-signed) payloads are refused; headers the SDK signer
// never signs (User-Agent, Expect, X-Amzn-Trace-Id…) cannot be verified if a
// client signs them; a proxy in front of Penny must pass the Host header
// through unchanged. Replays within the skew window are accepted, as by AWS
// (see package keys).
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

// Defaults of Options.
const (
	DefaultTTL     = 15 * time.Second
	DefaultMaxSkew = 15 * time.Minute // what AWS allows
)

// Service is the SigV4 signing name Penny accepts: the one AWS SDKs use for
// Bedrock Runtime.
const Service = "bedrock"

// Options configure an Authenticator. The zero value is usable.
type Options struct {
	// TTL is how long a looked-up key is trusted before it is read from the
	// store again; it bounds how long a revocation by another process takes
	// to apply, and how precise Key.LastUsed is. Default DefaultTTL.
	TTL time.Duration
	// MaxSkew is how far a SigV4 request's X-Amz-Date may be from now,
	// either way. Default DefaultMaxSkew.
	MaxSkew time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger reports failures to record when keys were last used. Default:
	// discard.
	Logger *slog.Logger
}

// Authenticator verifies requests against a keys.Store. It is safe for
// concurrent use; Close it to stop its background writer.
type Authenticator struct {
	store   keys.Store
	ttl     time.Duration
	maxSkew time.Duration
	now     func() time.Time
	log     *slog.Logger

	mu      sync.RWMutex
	byID    map[string]*entry
	byToken map[keys.TokenHash]string // token hash → key id

	usedMu sync.RWMutex // guards sending on used against Close
	closed bool
	used   chan usage
	done   chan struct{}
}

// entry is one cached key. Everything but written is immutable.
type entry struct {
	rec     *keys.Record
	expires time.Time
	// signer is this key's own signer: the SDK's signer caches one derived
	// signing key per region, keyed by access key id, so a signer per key
	// keeps every key's derived key warm.
	signer *v4.Signer
	// written is when the key's last use was last sent to the store (unix
	// nanoseconds), so that a busy key costs one write per TTL.
	written atomic.Int64
}

type usage struct {
	id string
	at time.Time
}

// New returns an Authenticator for the keys in store.
func New(store keys.Store, o Options) *Authenticator {
	a := &Authenticator{
		store: store, ttl: o.TTL, maxSkew: o.MaxSkew, now: o.Now, log: o.Logger,
		byID:    map[string]*entry{},
		byToken: map[keys.TokenHash]string{},
		used:    make(chan usage, 256),
		done:    make(chan struct{}),
	}
	if a.ttl <= 0 {
		a.ttl = DefaultTTL
	}
	if a.maxSkew <= 0 {
		a.maxSkew = DefaultMaxSkew
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	go a.writeUsage()
	return a
}

// Close stops the background writer after it has recorded the uses it was
// given. Requests authenticated after Close still work; their use is not
// recorded.
func (a *Authenticator) Close() error {
	a.usedMu.Lock()
	if !a.closed {
		a.closed = true
		close(a.used)
	}
	a.usedMu.Unlock()
	<-a.done
	return nil
}

// writeUsage records last-used times off the request path.
func (a *Authenticator) writeUsage() {
	defer close(a.done)
	for u := range a.used {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.store.MarkUsed(ctx, u.id, u.at); err != nil {
			a.log.Warn("auth: recording when a key was last used", slog.String("key_id", u.id), slog.Any("error", err))
		}
		cancel()
	}
}

// missingMessage tells a caller without credentials how to authenticate.
const missingMessage = "missing credentials: send a Penny API key as \"Authorization: Bearer pk-…\" " +
	"(OpenAI clients: the API key) or sign the request with SigV4 using the key's access key id and " +
	"secret access key (AWS SDKs: the credentials); an operator creates keys with `penny keys create`"

// Authenticate returns the key that r is authenticated with, or an
// *llm.Error: KindUnauthorized when credentials are missing, malformed,
// unknown, revoked, expired or do not match; KindInternal when the key
// store fails. body is the request's whole body, which a SigV4 signature
// covers; it is not read for bearer tokens, so it may be nil when r is not
// SigV4-signed. The returned Key is the caller's to keep and modify.
func (a *Authenticator) Authenticate(r *http.Request, body []byte) (*keys.Key, error) {
	authz := r.Header.Get("Authorization")
	var (
		rec *keys.Record
		err error
	)
	switch scheme, rest, _ := strings.Cut(authz, " "); {
	case scheme == sigv4Algorithm:
		rec, err = a.verifySigV4(r, body, rest)
	case strings.EqualFold(scheme, "Bearer"):
		rec, err = a.verifyToken(r.Context(), strings.TrimSpace(rest))
	case authz == "" && r.Header.Get("X-Api-Key") != "":
		rec, err = a.verifyToken(r.Context(), strings.TrimSpace(r.Header.Get("X-Api-Key")))
	case authz != "":
		return nil, unauthorized("unsupported Authorization scheme %q: use \"Bearer pk-…\" or a SigV4 signature (AWS4-HMAC-SHA256)", scheme)
	case r.URL.Query().Has("X-Amz-Signature"):
		return nil, unauthorized("presigned URLs are not accepted: sign the request's headers (what AWS SDKs do by default)")
	default:
		return nil, unauthorized("%s", missingMessage)
	}
	if err != nil {
		return nil, err
	}
	k := rec.Key
	k.Tags = maps.Clone(k.Tags)
	return &k, nil
}

// verifyToken looks up a bearer token.
func (a *Authenticator) verifyToken(ctx context.Context, token string) (*keys.Record, error) {
	if token == "" {
		return nil, unauthorized("%s", missingMessage)
	}
	if !strings.HasPrefix(token, keys.TokenPrefix) {
		return nil, unauthorized("the API key is not a Penny key (Penny keys start with %q); use the token `penny keys create` printed", keys.TokenPrefix)
	}
	h := keys.HashToken(token)
	now := a.now()
	a.mu.RLock()
	e := a.byID[a.byToken[h]]
	a.mu.RUnlock()
	if e == nil || e.rec.TokenHash != h || !now.Before(e.expires) {
		rec, err := a.store.ByToken(ctx, h)
		if err != nil {
			if errors.Is(err, keys.ErrNotFound) {
				return nil, unauthorized("invalid API key: no such Penny key")
			}
			return nil, lookupFailed(err)
		}
		e = a.put(rec, now)
	}
	if !e.rec.Active() {
		return nil, unauthorized("this API key was revoked on %s", e.rec.Revoked.Format(time.RFC3339))
	}
	a.markUsed(e, now)
	return e.rec, nil
}

// byAccessKeyID returns the cached entry of the key with access key id id, with its
// signing secret, reading the store when the cache has none or it expired.
func (a *Authenticator) byAccessKeyID(ctx context.Context, id string, now time.Time) (*entry, error) {
	a.mu.RLock()
	e := a.byID[id]
	a.mu.RUnlock()
	if e != nil && e.rec.SigningSecret != "" && now.Before(e.expires) {
		return e, nil
	}
	rec, err := a.store.ByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return a.put(rec, now), nil
}

// put caches rec until now+TTL and returns its entry. A key looked up by
// token carries no signing secret; a later SigV4 lookup replaces it.
func (a *Authenticator) put(rec *keys.Record, now time.Time) *entry {
	e := &entry{rec: rec, expires: now.Add(a.ttl), signer: v4.NewSigner()}
	a.mu.Lock()
	if old := a.byID[rec.ID]; old != nil {
		e.written.Store(old.written.Load())
		if rec.SigningSecret == "" && old.rec.SigningSecret != "" && old.rec.TokenHash == rec.TokenHash {
			// Keep the secret a SigV4 lookup already loaded.
			r := *rec
			r.SigningSecret = old.rec.SigningSecret
			e.rec = &r
		}
	}
	a.byID[rec.ID] = e
	a.byToken[rec.TokenHash] = rec.ID
	a.mu.Unlock()
	return e
}

// markUsed sends the key's use to the store at most once per TTL.
func (a *Authenticator) markUsed(e *entry, now time.Time) {
	last := e.written.Load()
	if now.UnixNano()-last < int64(a.ttl) || !e.written.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	a.usedMu.RLock()
	defer a.usedMu.RUnlock()
	if a.closed {
		return
	}
	select {
	case a.used <- usage{e.rec.ID, now}:
	default: // the writer is behind; LastUsed is approximate anyway
	}
}

// Invalidate drops the key with id from the cache, so that the next request
// reads it again: call it after changing or revoking the key in the store.
func (a *Authenticator) Invalidate(id string) {
	a.mu.Lock()
	if e := a.byID[id]; e != nil {
		delete(a.byToken, e.rec.TokenHash)
		delete(a.byID, id)
	}
	a.mu.Unlock()
}

// Revoke revokes the key in the store and, at once, in this
// Authenticator's cache. The store's error (keys.ErrNotFound) is returned
// as is.
func (a *Authenticator) Revoke(ctx context.Context, id string) error {
	if err := a.store.Revoke(ctx, id, a.now()); err != nil {
		return err
	}
	a.Invalidate(id)
	return nil
}

func unauthorized(format string, args ...any) *llm.Error {
	return llm.Errorf(llm.KindUnauthorized, format, args...)
}

// lookupFailed reports a key store failure: the client's going away, or
// the store's own failure.
func lookupFailed(err error) *llm.Error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &llm.Error{Kind: llm.KindOf(err), Message: "authentication interrupted: " + err.Error(), Err: err}
	}
	return &llm.Error{Kind: llm.KindInternal, Message: "authentication failed: the key store could not be read", Err: err}
}

// NeedsBody reports whether authenticating r involves its body: true when
// r is SigV4-signed (the signature covers the body's hash).
func NeedsBody(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), sigv4Algorithm+" ")
}

// AuthenticateHeaders authenticates r as far as its headers allow, before
// its body is read, so that a caller without a valid key cannot make
// Penny read (and hold) a large body:
//
//   - a bearer token is verified completely;
//   - a SigV4 signature whose request declares its payload's hash in
//     x-amz-content-sha256 is verified completely against that hash; the
//     body must then match it: call CheckPayload once it is read;
//   - any other SigV4 request has everything but its signature checked
//     (the header's form, service, scope, signing time, that the key exists
//     and is active) and a nil key is returned: the signature covers a hash
//     of the body only the body gives, so Authenticate(r, body) checks it.
//
// Errors are those of Authenticate.
func (a *Authenticator) AuthenticateHeaders(r *http.Request) (*keys.Key, error) {
	if !NeedsBody(r) {
		return a.Authenticate(r, nil)
	}
	c, err := a.precheckSigV4(r, strings.TrimPrefix(r.Header.Get("Authorization"), sigv4Algorithm+" "))
	if err != nil {
		return nil, err
	}
	h := r.Header.Get(headerAmzSHA256)
	if h == "" {
		return nil, nil
	}
	rec, err := a.checkSignature(r, c, h)
	if err != nil {
		return nil, err
	}
	k := rec.Key
	k.Tags = maps.Clone(k.Tags)
	return &k, nil
}

// CheckPayload checks that body is what a SigV4-signed request declared
// in x-amz-content-sha256 (and AuthenticateHeaders verified the signature
// of). It is nil for requests that declare nothing.
func CheckPayload(r *http.Request, body []byte) error {
	h := r.Header.Get(headerAmzSHA256)
	if !NeedsBody(r) || h == "" {
		return nil
	}
	sum := sha256.Sum256(body)
	if !constantTimeEqual(hex.EncodeToString(sum[:]), h) {
		return unauthorized("the request body does not match its %s header", headerAmzSHA256)
	}
	return nil
}

// constantTimeEqual compares two strings without leaking where they differ.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Attribute puts who k is on a request's Meta: its tenant and key id, and
// its tags merged over the tags already there (from the x-penny-tags
// header), the key's winning on a conflict so that a caller cannot move its
// costs to another team. It never shares k's map with m.
func Attribute(m *llm.Meta, k *keys.Key) {
	m.Tenant = k.Tenant
	m.KeyID = k.ID
	if len(k.Tags) == 0 {
		return
	}
	tags := make(map[string]string, len(m.Tags)+len(k.Tags))
	maps.Copy(tags, m.Tags)
	maps.Copy(tags, k.Tags)
	m.Tags = tags
}
