package keys

import (
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// MetaLimits bound what a request attaches to its ledger record besides
// the prompt: cost-allocation tags (x-penny-tags, body metadata and the
// key's own, counted together) and, with auth off, the x-penny-tenant
// header. Each tag and tenant is kept in memory, in the ledger and in the
// metrics, so a caller must not be able to send an unbounded number of
// them. Errors name the config setting (limits.max_tags, …), for the person
// who may raise it. A zero field means its DefaultMetaLimits value.
type MetaLimits struct {
	// MaxTags is the most tags one request may carry (default 32).
	MaxTags int
	// MaxTagKeyBytes and MaxTagValueBytes bound one tag's name and
	// value (defaults 64 and 256 bytes).
	MaxTagKeyBytes   int
	MaxTagValueBytes int
	// MaxTenantBytes bounds a tenant name (default 64 bytes).
	MaxTenantBytes int
}

// DefaultMetaLimits are the limits when the config sets none. Keys are
// created within them.
var DefaultMetaLimits = MetaLimits{MaxTags: 32, MaxTagKeyBytes: 64, MaxTagValueBytes: 256, MaxTenantBytes: 64}

// withDefaults fills in the zero fields.
func (l MetaLimits) withDefaults() MetaLimits {
	d := DefaultMetaLimits
	if l.MaxTags <= 0 {
		l.MaxTags = d.MaxTags
	}
	if l.MaxTagKeyBytes <= 0 {
		l.MaxTagKeyBytes = d.MaxTagKeyBytes
	}
	if l.MaxTagValueBytes <= 0 {
		l.MaxTagValueBytes = d.MaxTagValueBytes
	}
	if l.MaxTenantBytes <= 0 {
		l.MaxTenantBytes = d.MaxTenantBytes
	}
	return l
}

// ParseTags parses "team=support,app=chat" within l: a header of more
// tags than l.MaxTags is refused after one pass over it, before anything
// is allocated for its tags, and one with a name or value over its limit
// before the map holds more than l.MaxTags entries. Empty parts are
// ignored; a part without "=" is an error. Errors are of kind
// llm.KindValidation; what, if not empty, names the source in them (e.g.
// "x-penny-tags").
func (l MetaLimits) ParseTags(what, s string) (map[string]string, error) {
	l = l.withDefaults()
	n := 0
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) != "" {
			n++
		}
	}
	if n > l.MaxTags {
		return nil, l.tooMany(what, n)
	}
	tags := make(map[string]string, n)
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, llm.Errorf(llm.KindValidation, "%stag %q is not name=value", prefix(what), clip(part))
		}
		if err := l.checkTag(what, name, value); err != nil {
			return nil, err
		}
		tags[name] = value
	}
	return tags, nil
}

// CheckTags checks a request's tags once they are all known (the header's,
// the body's and the key's); what names them in errors.
func (l MetaLimits) CheckTags(what string, tags map[string]string) error {
	l = l.withDefaults()
	if len(tags) > l.MaxTags {
		return l.tooMany(what, len(tags))
	}
	for name, value := range tags {
		if err := l.checkTag(what, name, value); err != nil {
			return err
		}
	}
	return nil
}

func (l MetaLimits) tooMany(what string, n int) error {
	return llm.Errorf(llm.KindValidation, "%s%d tags; at most %d are allowed per request (limits.max_tags)", prefix(what), n, l.MaxTags)
}

func (l MetaLimits) checkTag(what, name, value string) error {
	if len(name) > l.MaxTagKeyBytes {
		return llm.Errorf(llm.KindValidation, "%stag name %q is %d bytes; at most %d are allowed (limits.max_tag_key_bytes)",
			prefix(what), clip(name), len(name), l.MaxTagKeyBytes)
	}
	if len(value) > l.MaxTagValueBytes {
		return llm.Errorf(llm.KindValidation, "%sthe value of tag %q is %d bytes; at most %d are allowed (limits.max_tag_value_bytes)",
			prefix(what), name, len(value), l.MaxTagValueBytes)
	}
	return nil
}

// CheckTenant checks a tenant name: 1 to l.MaxTenantBytes bytes of ASCII
// letters, digits and . _ - : @ / (what reads well in a metrics label, a
// URL query and a report).
func (l MetaLimits) CheckTenant(what, t string) error {
	l = l.withDefaults()
	if t == "" {
		return llm.Errorf(llm.KindValidation, "%s: the tenant name is empty", what)
	}
	if len(t) > l.MaxTenantBytes {
		return llm.Errorf(llm.KindValidation, "%s: the tenant name is %d bytes; at most %d are allowed (limits.max_tenant_bytes)",
			what, len(t), l.MaxTenantBytes)
	}
	for i := 0; i < len(t); i++ {
		if !tenantByte(t[i]) {
			return llm.Errorf(llm.KindValidation, "%s: tenant %q has the character %s at byte %d; "+
				"tenant names are ASCII letters, digits and . _ - : @ /", what, clip(t), strconv.QuoteRune(rune(t[i])), i)
		}
	}
	return nil
}

func tenantByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._-:@/", c) >= 0
}

// prefix is "what: " for an error message, or "" when what is.
func prefix(what string) string {
	if what == "" {
		return ""
	}
	return what + ": "
}

// clip shortens s for an error message: a refused header may be huge.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
