package hashvec

import (
	"math"
	"testing"
)

func TestVector(t *testing.T) {
	a := Vector("How do I reset my password?", 256)
	b := Vector("how do I reset the password", 256)
	c := Vector("Quarterly revenue grew by eight percent", 256)
	var n float64
	for _, x := range a {
		n += float64(x) * float64(x)
	}
	if math.Abs(n-1) > 1e-5 || len(a) != 256 {
		t.Errorf("norm %v len %d", n, len(a))
	}
	if Cosine(a, b) < 0.5 || Cosine(a, c) > 0.3 || Cosine(a, b) <= Cosine(a, c) {
		t.Errorf("similar %.3f unrelated %.3f", Cosine(a, b), Cosine(a, c))
	}
	if e := Vector("", 8); e[0] != 1 {
		t.Errorf("empty text: %v", e)
	}
	if Cosine(a, Vector("How do I reset my password?", 256)) < 0.9999 {
		t.Error("not deterministic")
	}
}
