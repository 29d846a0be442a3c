package openaiwire_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/openaiwire"
)

// imageChat is a chat request with a long system prompt (of textLen
// bytes, with escapes) and an image of n bytes; extra goes first.
func imageChat(extra string, textLen, n int) []byte {
	img := base64.StdEncoding.EncodeToString(append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, n)...))
	return []byte(`{"model":"nova-lite","max_tokens":10,` + extra + `"messages":[{"role":"system","content":"` +
		strings.Repeat(`be \"brief\" `, textLen/12) + `"},{"role":"user","content":[{"type":"text","text":"what is this?"},` +
		`{"type":"image_url","image_url":{"url":"data:image/png;base64,` + img + `"}}]}]}`)
}

// TestLargeBodiesDecodeInPlace: a large body decodes as a small one does
// — the same request, the same errors for the same mistakes — while
// allocating about what the request holds (the text, the image's string and
// bytes) rather than another copy or two of the body.
func TestLargeBodiesDecodeInPlace(t *testing.T) {
	for _, tc := range []struct{ name, extra string }{
		{"valid", ``},
		{"unknown field", `"bogus":1,`},
		{"unknown field in a message", `"messages_x":[],`},
		{"wrong type", `"temperature":"hot",`},
		{"unsupported", `"n":3,`},
	} {
		small, large := imageChat(tc.extra, 120, 100), imageChat(tc.extra, 240_000, 1<<20)
		sreq, _, serr := openaiwire.DecodeRequest(small)
		lreq, _, lerr := openaiwire.DecodeRequest(large)
		if (serr == nil) != (lerr == nil) || serr != nil && serr.Error() != lerr.Error() {
			t.Errorf("%s: small body: %v; large body: %v", tc.name, serr, lerr)
		}
		if serr == nil {
			if got := lreq.Messages[0].Content[1].Image; got == nil || len(got.Bytes) != 8+1<<20 {
				t.Errorf("%s: the large body's image is not decoded", tc.name)
			}
			if len(lreq.System[0].Text) < 200_000 || strings.Count(lreq.System[0].Text, `"brief"`) != strings.Count(sreq.System[0].Text, `"brief"`)*2000 {
				t.Errorf("%s: the large body's system prompt is not decoded", tc.name)
			}
		}
	}

	body := imageChat(``, 100, 7<<20)
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := openaiwire.DecodeRequest(body); err != nil {
				b.Fatal(err)
			}
		}
	}).AllocedBytesPerOp()
	// The data URL's string and the image's bytes: about 1.75 × the body.
	// A json.Decoder adds three times the body on top.
	t.Logf("decoding a %d MB body allocates %.2f × its size", len(body)>>20, float64(allocs)/float64(len(body)))
	if allocs > int64(len(body))*5/2 {
		t.Errorf("decoding a %d-byte body allocated %d bytes", len(body), allocs)
	}
}
