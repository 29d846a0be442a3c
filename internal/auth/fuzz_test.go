package auth

import (
	"strings"
	"testing"
)

// FuzzParseSigV4 checks that any Authorization header value parses to a
// complete scope or an error, never a panic or a half-filled result.
func FuzzParseSigV4(f *testing.F) {
	f.Add("Credential=AKIDEXAMPLE/20260102/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32))
	f.Add("Credential=/////, SignedHeaders=, Signature=")
	f.Add("Credential=A/2026/r/s/aws4_request,SignedHeaders=host,Signature=00")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseSigV4(s)
		if err != nil {
			return
		}
		if p.accessKeyID == "" && p.date == "" || len(p.date) != 8 || p.region == "" || p.signedHeaders == "" || len(p.signature) != 64 {
			t.Fatalf("accepted an incomplete header: %+v", p)
		}
	})
}
