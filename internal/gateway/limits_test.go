package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hugeTags is the finding's header: n tags, "tagN=value", comma-separated
// (70,000 of them are about 900 KB).
func hugeTags(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("tag" + strconv.Itoa(i) + "=value")
	}
	return b.String()
}

// countingBody is a request body that records how much of it was read.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return nil }

const chatBody = `{"model":"nova-micro","messages":[{"role":"user","content":"hi"}]}`

// TestHugeTagHeaderRefusedCheaply is finding 6: one request with 70,000
// tags in x-penny-tags used to be parsed into a map, written as 70,000
// ledger rows and slow everyone else down. It is refused before its body is
// read, quickly and without allocating for its tags, in the caller's API
// format, naming the limit; its record carries no tag.
func TestHugeTagHeaderRefusedCheaply(t *testing.T) {
	e := newEnv(t, envOptions{})
	header := hugeTags(70_000)

	// Through the handler, so that the HTTP server's own copy of the
	// header is not counted: the bytes allocated to refuse it.
	body := &countingBody{r: strings.NewReader(chatBody)}
	req := httptest.NewRequest("POST", "/v1/chat/completions", body)
	req.Header.Set(HeaderTags, header)
	rec := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	e.Server.Handler().ServeHTTP(rec, req)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("70,000 tags (%d KB) refused in %v, %d KB allocated", len(header)>>10, took, allocated>>10)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "70000 tags; at most 32 are allowed per request (limits.max_tags)") ||
		!strings.Contains(rec.Body.String(), "invalid_request_error") {
		t.Errorf("70,000 tags: %d %.300s", rec.Code, rec.Body.String())
	}
	if body.read.Load() != 0 {
		t.Errorf("the body was read (%d bytes) before the header was refused", body.read.Load())
	}
	if took > time.Second {
		t.Errorf("refusing took %v", took)
	}
	// A 70,000-entry map alone is several MB; the refusal needs the
	// record and the error only.
	if allocated > 256<<10 {
		t.Errorf("refusing 70,000 tags allocated %d KB", allocated>>10)
	}
	if r := e.record(rec.Header().Get(HeaderRequestID)); r.ErrorKind != "validation" || len(r.Tags) != 0 || r.HTTPStatus != 400 {
		t.Errorf("record of the refused request: kind %q, status %d, %d tags", r.ErrorKind, r.HTTPStatus, len(r.Tags))
	}

	// Over real HTTP, on Converse too: a ValidationException.
	hreq, _ := http.NewRequest("POST", e.URL+"/model/nova-micro/converse", strings.NewReader(`{"messages":[]}`))
	hreq.Header.Set(HeaderTags, header)
	start = time.Now()
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("x-amzn-ErrorType") == "" || !strings.HasPrefix(resp.Header.Get("x-amzn-ErrorType"), "ValidationException") ||
		!strings.Contains(string(b), "limits.max_tags") {
		t.Errorf("Converse with 70,000 tags: %d %s %.300s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), b)
	}
	t.Logf("over HTTP (Converse): %v", time.Since(start))
}

// TestMetadataLimits: each limit is a 400 naming its setting, whether the
// tags come from the header, the body or both; a tenant name with auth off
// is bounded too, and a refused one is not recorded.
func TestMetadataLimits(t *testing.T) {
	e := newEnv(t, envOptions{})
	metadata := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`"m%d":"v"`, i)
		}
		return `{"model":"nova-micro","messages":[{"role":"user","content":"hi"}],"metadata":{` + strings.Join(parts, ",") + `}}`
	}
	for _, tc := range []struct {
		name, tenant, tags, body string
		want                     string // "" for 200
	}{
		{"within", "acme", "team=a,app=b", chatBody, ""},
		{"tag name", "", strings.Repeat("k", 65) + "=v", chatBody, "(limits.max_tag_key_bytes)"},
		{"tag value", "", "team=" + strings.Repeat("v", 257), chatBody, "(limits.max_tag_value_bytes)"},
		{"body metadata", "", "", metadata(40), "40 tags; at most 32 are allowed per request (limits.max_tags)"},
		{"header and body together", "", hugeTags(20), metadata(20), "(limits.max_tags)"},
		{"not name=value", "", "team", chatBody, "is not name=value"},
		{"60 KB tenant", strings.Repeat("t", 60<<10), "", chatBody, "(limits.max_tenant_bytes)"},
		{"tenant characters", "acme corp", "", chatBody, "tenant names are ASCII letters, digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.URL+"/v1/chat/completions", strings.NewReader(tc.body))
			if tc.tenant != "" {
				req.Header.Set(HeaderTenant, tc.tenant)
			}
			if tc.tags != "" {
				req.Header.Set(HeaderTags, tc.tags)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			rec := e.record(resp.Header.Get(HeaderRequestID))
			if tc.want == "" {
				if resp.StatusCode != 200 || rec.Tenant != "acme" || rec.Tags["team"] != "a" {
					t.Errorf("%d %s; record tenant %q tags %v", resp.StatusCode, b, rec.Tenant, rec.Tags)
				}
				return
			}
			if resp.StatusCode != 400 || !strings.Contains(string(b), tc.want) {
				t.Errorf("%d %.300s, want 400 saying %q", resp.StatusCode, b, tc.want)
			}
			// What is recorded stays within the limits: the header's
			// tags when only the body's broke them, never the tenant
			// refused.
			if len(rec.Tags) > 32 || tc.tenant != "" && rec.Tenant != "" {
				t.Errorf("the refused request's record keeps %d tags and tenant %.20q", len(rec.Tags), rec.Tenant)
			}
		})
	}
}
