package openaiwire

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
)

// large wraps a request's messages so that the body is past strictInPlace:
// a long text and an image of about n bytes.
func large(extra string, n int) []byte {
	img := base64.StdEncoding.EncodeToString(append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, n)...))
	return []byte(`{"model":"nova-lite","max_tokens":10,` + extra + `"messages":[{"role":"system","content":"` + strings.Repeat(`be \"brief\" `, 20_000) +
		`"},{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + img + `"}}]}]}`)
}

// TestLargeBodiesDecodeInPlace: a large body decodes to exactly what the
// strict decoder makes of it, and fails with exactly its errors, while
// allocating about what the request holds (the text, the image's string and
// bytes) rather than another copy of the body.
func TestLargeBodiesDecodeInPlace(t *testing.T) {
	for _, tc := range []struct{ name, extra, want string }{
		{"valid", ``, ""},
		{"unknown field", `"bogus":1,`, "bogus"},
		{"wrong type", `"temperature":"hot",`, "temperature"},
		{"unsupported", `"n":3,`, "n"},
	} {
		body := large(tc.extra, 1<<20)
		if len(body) <= strictInPlace {
			t.Fatal("the body is not large")
		}
		var strict, inPlace ChatRequest
		strictErr := decodeStrict(body, &strict, locateField)
		inPlaceErr := DecodeStrict(body, &inPlace, locateField)
		if (strictErr == nil) != (inPlaceErr == nil) || strictErr != nil && strictErr.Error() != inPlaceErr.Error() {
			t.Errorf("%s: strict %v, in place %v", tc.name, strictErr, inPlaceErr)
		}
		if strictErr == nil && !reflect.DeepEqual(strict, inPlace) {
			t.Errorf("%s: decoded differently", tc.name)
		}
		if _, _, err := DecodeRequest(body); tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) || tc.want == "" && err != nil {
			t.Errorf("%s: DecodeRequest: %v", tc.name, err)
		}
	}
	// Invalid JSON is reported as the strict decoder reports it.
	body := large(``, 100<<10)
	bad := body[:len(body)-3]
	var a, b ChatRequest
	if e1, e2 := decodeStrict(bad, &a, locateField), DecodeStrict(bad, &b, locateField); e1 == nil || e1.Error() != e2.Error() {
		t.Errorf("truncated: %v / %v", e1, e2)
	}

	body = large(``, 7<<20)
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeRequest(body); err != nil {
				b.Fatal(err)
			}
		}
	}).AllocedBytesPerOp()
	// The image's string and bytes and the text: about 1.85 × the body.
	// A json.Decoder adds up to four times the body on top.
	t.Logf("decoding a %d MB body allocates %.2f × its size", len(body)>>20, float64(allocs)/float64(len(body)))
	if allocs > int64(len(body))*5/2 {
		t.Errorf("decoding a %d-byte body allocated %d bytes", len(body), allocs)
	}
}
