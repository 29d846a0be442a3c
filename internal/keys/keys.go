package keys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// Key is one API key as everyone may see it: no secrets.
type Key struct {
	// ID is the key's access key id ("PNY…", 20 characters). It is public.
	ID string
	// Name is a free-form label, e.g. the application that uses the key.
	Name string
	// Tenant is whom the key's requests are attributed and budgeted to.
	Tenant string
	// Role is what the key may see besides calling models: RoleTenant
	// (its own tenant's usage) or RoleAdmin (every tenant, metrics and
	// the admin endpoints). Empty is RoleTenant.
	Role Role
	// Tags are cost-allocation tags put on every ledger record of the key.
	Tags    map[string]string
	Limits  Limits
	Created time.Time
	// LastUsed is when the key last authenticated a request, to within the
	// authenticator's cache TTL; zero if never.
	LastUsed time.Time
	// Revoked is when the key was revoked; zero while it is valid.
	Revoked time.Time
}

// Active reports whether the key may authenticate requests.
func (k *Key) Active() bool { return k.Revoked.IsZero() }

// Admin reports whether the key has the admin role.
func (k *Key) Admin() bool { return k.Role == RoleAdmin }

// Role is what a key may see. Both roles call models the same way,
// attributed to the key's tenant; they differ in what they may read.
type Role string

const (
	// RoleTenant keys see and spend only their own tenant: the usage
	// endpoint answers for their tenant alone, and the admin endpoints
	// refuse them. Keys made before roles existed are tenant keys.
	RoleTenant Role = "tenant"
	// RoleAdmin keys see every tenant: metrics, alerts, usage of all
	// tenants.
	RoleAdmin Role = "admin"
)

// ParseRole reads a role as `penny keys create --role` takes it; "" is
// RoleTenant.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case "", RoleTenant:
		return RoleTenant, nil
	case RoleAdmin:
		return RoleAdmin, nil
	}
	return "", llm.Errorf(llm.KindValidation, "role %q is not admin or tenant", s)
}

// Limits are what a key may spend and how fast. Zero means no limit.
// Penny stores them with the key; the govern stage enforces them.
type Limits struct {
	// BudgetMonth is the most the key may spend in a calendar month (UTC).
	BudgetMonth llm.Money
	// RPM is requests per minute.
	RPM int
	// TPM is tokens (input and output) per minute.
	TPM int
}

// Secret is what a key's holder is given, once, when the key is created.
// Penny keeps none of it in a form that can be printed again.
type Secret struct {
	// Token is the bearer token for OpenAI clients ("pk-…").
	Token string
	// AccessKeyID and SecretAccessKey are the AWS-style credentials for
	// clients that sign with SigV4; AccessKeyID is also Key.ID.
	AccessKeyID     string
	SecretAccessKey string
}

// Record is a key as a Store keeps it: the key, the hash of its bearer
// token, and its SigV4 secret. The store decides how the secret is kept at
// rest (see the package comment); in a Record it is always plain text.
type Record struct {
	Key
	TokenHash TokenHash
	// SigningSecret is the secret access key, needed to verify SigV4
	// signatures.
	SigningSecret string
}

// TokenHash is the SHA-256 hash of a bearer token.
type TokenHash [sha256.Size]byte

// HashToken returns the hash a Store indexes bearer tokens by.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// Prefixes of the secrets, so that they are recognisable in a config file or
// a leaked log (and secret scanners can be taught them).
const (
	TokenPrefix       = "pk-"
	AccessKeyIDPrefix = "PNY"
)

const (
	tokenBytes     = 32
	secretBytes    = 30 // 40 base64 characters, the length of an AWS secret access key
	accessKeyIDLen = 20
)

// base32 without padding, upper case: the alphabet of AWS access key ids.
var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// New issues a key: it fills in k's ID and Created (now) and returns the
// Record to store and the Secret to show the holder once. k's Tenant must be
// set; its Name, Tags and Limits are kept as they are.
func New(k Key, now time.Time) (Record, Secret, error) {
	if err := Validate(&k); err != nil {
		return Record{}, Secret{}, err
	}
	var b [tokenBytes + secretBytes + 11]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	s := Secret{
		Token:           TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:tokenBytes]),
		SecretAccessKey: base64.StdEncoding.EncodeToString(b[tokenBytes : tokenBytes+secretBytes]),
		AccessKeyID:     (AccessKeyIDPrefix + idEncoding.EncodeToString(b[tokenBytes+secretBytes:]))[:accessKeyIDLen],
	}
	k.ID = s.AccessKeyID
	if k.Role == "" {
		k.Role = RoleTenant
	}
	k.Created = now.UTC().Truncate(time.Microsecond)
	k.LastUsed, k.Revoked = time.Time{}, time.Time{}
	k.Tags = maps.Clone(k.Tags)
	return Record{Key: k, TokenHash: HashToken(s.Token), SigningSecret: s.SecretAccessKey}, s, nil
}

// LooksLikeAccessKeyID reports whether s has the shape of a Penny access key
// id, so that obviously foreign credentials (a real AWS key sent to Penny by
// mistake) can be refused with a clear message without a lookup.
func LooksLikeAccessKeyID(s string) bool {
	if len(s) != accessKeyIDLen || !strings.HasPrefix(s, AccessKeyIDPrefix) {
		return false
	}
	for _, c := range s[len(AccessKeyIDPrefix):] {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// Validate checks what a Key may hold: a tenant name and tags within
// DefaultMetaLimits, tag keys and values without the separators of the
// x-penny-tags syntax, a known role, non-negative limits. Errors are of kind
// llm.KindValidation.
func Validate(k *Key) error {
	if strings.TrimSpace(k.Tenant) == "" {
		return llm.Errorf(llm.KindValidation, "a key needs a tenant")
	}
	if err := DefaultMetaLimits.CheckTenant("tenant", k.Tenant); err != nil {
		return err
	}
	switch k.Role {
	case "", RoleTenant, RoleAdmin:
	default:
		return llm.Errorf(llm.KindValidation, "role %q is not admin or tenant", k.Role)
	}
	for name, v := range k.Tags {
		if err := checkTag(name, v); err != nil {
			return err
		}
	}
	// A key's tags count towards every request's limits.max_tags.
	if err := DefaultMetaLimits.CheckTags("the key's tags", k.Tags); err != nil {
		return err
	}
	if k.Limits.BudgetMonth < 0 || k.Limits.RPM < 0 || k.Limits.TPM < 0 {
		return llm.Errorf(llm.KindValidation, "limits must not be negative")
	}
	return nil
}

func checkTag(name, value string) error {
	switch {
	case name == "" || strings.TrimSpace(name) != name:
		return llm.Errorf(llm.KindValidation, "tag name %q is empty or has surrounding spaces", name)
	case strings.ContainsAny(name, ",="):
		return llm.Errorf(llm.KindValidation, "tag name %q contains ',' or '='", name)
	case strings.TrimSpace(value) != value || strings.Contains(value, ","):
		return llm.Errorf(llm.KindValidation, "tag %s: value %q contains ',' or surrounding spaces", name, value)
	}
	return nil
}

// ParseTags parses "team=support,app=chat", the syntax of the x-penny-tags
// header and of `penny keys create --tags`, within DefaultMetaLimits.
// Empty parts are ignored; a part without "=" is an error of kind
// llm.KindValidation.
func ParseTags(s string) (map[string]string, error) {
	return DefaultMetaLimits.ParseTags("", s)
}

// FormatTags formats tags as ParseTags reads them, sorted by name.
func FormatTags(tags map[string]string) string {
	var b strings.Builder
	for i, name := range slices.Sorted(maps.Keys(tags)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", name, tags[name])
	}
	return b.String()
}

// ErrNotFound is returned (wrapped) by a Store when no key matches.
var ErrNotFound = errors.New("no such key")

// ErrSealed is returned (wrapped) by a Store when a key's SigV4 secret is
// sealed and the store has no Sealer that opens it: the server is missing
// (or has the wrong) PENNY_KEYS_SECRET.
var ErrSealed = errors.New("the key's secret access key is sealed and this server cannot open it")

// Filter selects keys to list. The zero Filter selects every key.
type Filter struct {
	Tenant string
	// Active leaves out revoked keys.
	Active bool
}

// Store keeps keys. Implementations are safe for concurrent use.
type Store interface {
	// Create stores a new key. It fails if the ID or token hash is taken.
	Create(ctx context.Context, r Record) error
	// ByToken returns the key whose bearer token has hash h, revoked or
	// not, or an error wrapping ErrNotFound. Its SigningSecret may be
	// empty: the bearer path does not need it, and it may be sealed.
	ByToken(ctx context.Context, h TokenHash) (*Record, error)
	// ByID returns the key with access key id id, revoked or not, with its
	// SigV4 secret; an error wrapping ErrNotFound if there is none, or
	// ErrSealed if its secret cannot be opened.
	ByID(ctx context.Context, id string) (*Record, error)
	// List returns the keys f selects, oldest first.
	List(ctx context.Context, f Filter) ([]Key, error)
	// Revoke marks the key revoked at t. Revoking a revoked key keeps its
	// first revocation time and is not an error; an unknown id is an error
	// wrapping ErrNotFound.
	Revoke(ctx context.Context, id string, t time.Time) error
	// MarkUsed records that the key authenticated a request at t; it never
	// moves LastUsed backwards.
	MarkUsed(ctx context.Context, id string, t time.Time) error
}

type contextKey struct{}

// NewContext returns ctx carrying k, so that later stages (budgets, rate
// limits) see the limits of the key that authenticated the request.
func NewContext(ctx context.Context, k *Key) context.Context {
	return context.WithValue(ctx, contextKey{}, k)
}

// FromContext returns the key NewContext put in ctx, if any.
func FromContext(ctx context.Context) (*Key, bool) {
	k, ok := ctx.Value(contextKey{}).(*Key)
	return k, ok
}
