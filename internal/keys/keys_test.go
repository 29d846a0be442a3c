package keys

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestNew(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	in := Key{Name: "chat", Tenant: "acme", Tags: map[string]string{"team": "support"}, Limits: Limits{RPM: 600}}
	rec, sec, err := New(in, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sec.Token, "pk-") || len(sec.Token) != 3+43 {
		t.Errorf("token %q: want pk- and 43 base64url characters", sec.Token)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(sec.Token[3:]); err != nil || len(raw) != 32 {
		t.Errorf("token carries %d bytes (%v), want 32", len(raw), err)
	}
	if !LooksLikeAccessKeyID(sec.AccessKeyID) || len(sec.AccessKeyID) != 20 {
		t.Errorf("access key id %q", sec.AccessKeyID)
	}
	if len(sec.SecretAccessKey) != 40 {
		t.Errorf("secret access key %q: want 40 characters like AWS's", sec.SecretAccessKey)
	}
	if rec.ID != sec.AccessKeyID || rec.SigningSecret != sec.SecretAccessKey || rec.TokenHash != HashToken(sec.Token) {
		t.Errorf("record does not match the secret: %+v", rec)
	}
	if !rec.Created.Equal(now.Truncate(time.Microsecond)) || rec.Created.Location() != time.UTC {
		t.Errorf("created %v", rec.Created)
	}
	in.Tags["team"] = "changed"
	if rec.Tags["team"] != "support" {
		t.Error("New shares the caller's tags map")
	}

	seen := map[string]bool{}
	for range 1000 {
		_, s, _ := New(Key{Tenant: "t"}, now)
		for _, v := range []string{s.Token, s.AccessKeyID, s.SecretAccessKey} {
			if seen[v] {
				t.Fatalf("duplicate secret %q", v)
			}
			seen[v] = true
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Key{
		{},
		{Tenant: " acme"},
		{Tenant: "acme", Tags: map[string]string{"a=b": "c"}},
		{Tenant: "acme", Tags: map[string]string{"": "c"}},
		{Tenant: "acme", Tags: map[string]string{"a": "x,y"}},
		{Tenant: "acme", Limits: Limits{RPM: -1}},
		{Tenant: "acme", Role: "root"},
		{Tenant: "acme corp"},
		{Tenant: strings.Repeat("a", 65)},
		{Tenant: "acme", Tags: map[string]string{strings.Repeat("k", 65): "v"}},
	}
	for _, k := range bad {
		if _, _, err := New(k, time.Now()); llm.KindOf(err) != llm.KindValidation {
			t.Errorf("New(%+v) err = %v, want a validation error", k, err)
		}
	}
}

func TestParseTags(t *testing.T) {
	got, err := ParseTags(" team = support ,app=chat,, empty=")
	want := map[string]string{"team": "support", "app": "chat", "empty": ""}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseTags = %v, %v; want %v", got, err, want)
	}
	if FormatTags(got) != "app=chat,empty=,team=support" {
		t.Errorf("FormatTags = %q", FormatTags(got))
	}
	for _, s := range []string{"team", "=x", "a=x, =y"} {
		if _, err := ParseTags(s); llm.KindOf(err) != llm.KindValidation {
			t.Errorf("ParseTags(%q) err = %v", s, err)
		}
	}
}

func TestLooksLikeAccessKeyID(t *testing.T) {
	for s, want := range map[string]bool{
		"PNYABCDEFGHIJKLMNOPQ": true,
		"PNYABCDEFGHIJKLMNOP":  false, // 19
		"AKIAABCDEFGHIJKLMNOP": false,
		"PNYabcdefghijklmnopq": false,
		"PNYABCDEFGHIJKLMNOP1": false, // 1 is not base32
	} {
		if LooksLikeAccessKeyID(s) != want {
			t.Errorf("LooksLikeAccessKeyID(%q) != %v", s, want)
		}
	}
}

func TestSealer(t *testing.T) {
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Error("NewSealer accepted a 5-byte secret")
	}
	s, err := NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("PNYAAAAAAAAAAAAAAAAA", "secret")
	if strings.Contains(string(sealed), "secret") {
		t.Error("sealed text contains the secret")
	}
	if got, err := s.Open("PNYAAAAAAAAAAAAAAAAA", sealed); err != nil || got != "secret" {
		t.Errorf("Open = %q, %v", got, err)
	}
	if _, err := s.Open("PNYBBBBBBBBBBBBBBBBB", sealed); err == nil {
		t.Error("a secret sealed for one key opened for another")
	}
	other, _ := NewSealer([]byte("another server secret, 32 bytes!"))
	if _, err := other.Open("PNYAAAAAAAAAAAAAAAAA", sealed); err == nil {
		t.Error("a secret opened with the wrong server secret")
	}
	if _, err := s.Open("PNYAAAAAAAAAAAAAAAAA", sealed[:5]); err == nil {
		t.Error("a truncated secret opened")
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := FromContext(ctx); ok {
		t.Error("key in an empty context")
	}
	k := &Key{ID: "PNYAAAAAAAAAAAAAAAAA"}
	if got, ok := FromContext(NewContext(ctx, k)); !ok || got != k {
		t.Error("FromContext(NewContext(k)) != k")
	}
	if !errors.Is(errors.Join(ErrNotFound), ErrNotFound) {
		t.Error("ErrNotFound")
	}
}

func TestRoles(t *testing.T) {
	rec, _, err := New(Key{Tenant: "acme"}, time.Now())
	if err != nil || rec.Role != RoleTenant || rec.Admin() {
		t.Errorf("a key made without a role: %q admin=%v (%v); want a tenant key", rec.Role, rec.Admin(), err)
	}
	rec, _, err = New(Key{Tenant: "ops", Role: RoleAdmin}, time.Now())
	if err != nil || !rec.Admin() {
		t.Errorf("admin key: %q admin=%v (%v)", rec.Role, rec.Admin(), err)
	}
	for in, want := range map[string]Role{"": RoleTenant, "tenant": RoleTenant, " Admin ": RoleAdmin} {
		if got, err := ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseRole("superuser"); llm.KindOf(err) != llm.KindValidation {
		t.Errorf("ParseRole(superuser) err = %v", err)
	}
}

func TestMetaLimits(t *testing.T) {
	l := MetaLimits{MaxTags: 3, MaxTagKeyBytes: 4, MaxTagValueBytes: 5, MaxTenantBytes: 6}
	cases := []struct {
		header, want string // want: a substring of the error, "" for none
	}{
		{"a=1,b=2,c=3", ""},
		{"a=1,,b=2, ,c=3,", ""}, // empty parts do not count
		{"a=1,b=2,c=3,d=4", "4 tags; at most 3 are allowed per request (limits.max_tags)"},
		{"abcde=1", "(limits.max_tag_key_bytes)"},
		{"a=123456", "(limits.max_tag_value_bytes)"},
		{"a", "is not name=value"},
	}
	for _, tc := range cases {
		_, err := l.ParseTags("x-penny-tags", tc.header)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("ParseTags(%q) err = %v, want %q", tc.header, err, tc.want)
		}
		if err != nil && llm.KindOf(err) != llm.KindValidation {
			t.Errorf("ParseTags(%q) kind %q", tc.header, llm.KindOf(err))
		}
	}
	if err := l.CheckTags("tags", map[string]string{"a": "", "b": "", "c": "", "d": ""}); err == nil {
		t.Error("CheckTags let 4 tags through a limit of 3")
	}
	for tenant, want := range map[string]string{
		"acme": "", "a.b_c-": "", "team@x": "", "": "empty", "abcdefg": "(limits.max_tenant_bytes)",
		"a b": "character ' '", "é": "character",
	} {
		err := l.CheckTenant("x-penny-tenant", tenant)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckTenant(%q) err = %v, want %q", tenant, err, want)
		}
	}
	// The zero value is DefaultMetaLimits.
	if _, err := (MetaLimits{}).ParseTags("h", strings.Repeat("k=v,", 33)); err == nil {
		t.Error("the default limit let 33 tags through")
	}
}

// BenchmarkParseTagsRefused is the finding's header: 70,000 tags in one
// x-penny-tags header are refused in one pass, allocating nothing for
// them.
func BenchmarkParseTagsRefused(b *testing.B) {
	h := hugeTags(70_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DefaultMetaLimits.ParseTags("x-penny-tags", h); err == nil {
			b.Fatal("accepted")
		}
	}
}

func TestParseTagsRefusesHugeHeaderCheaply(t *testing.T) {
	h := hugeTags(70_000)
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := DefaultMetaLimits.ParseTags("x-penny-tags", h); err == nil {
			t.Fatal("70,000 tags accepted")
		}
	})
	// The error message only; nothing per tag.
	if allocs > 10 {
		t.Errorf("refusing 70,000 tags made %.0f allocations", allocs)
	}
}

func hugeTags(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("tag")
		b.WriteString(strconv.Itoa(i))
		b.WriteString("=value")
	}
	return b.String()
}
