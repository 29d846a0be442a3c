// Package hashvec makes deterministic text embeddings without a model:
// the words of a text (and their bigrams) are hashed into a fixed number
// of dimensions and the vector is scaled to unit length. Texts that share
// words point the same way, so cosine similarity means something, which
// is what the simulator and the fake Bedrock need; it is no substitute
// for a real embedding model.
package hashvec

import (
	"hash/fnv"
	"math"
	"strings"
	"unicode"
)

// Vector returns the unit-length embedding of text in dims dimensions
// (dims > 0). An empty text gives a fixed unit vector, never NaN.
func Vector(text string, dims int) []float32 {
	v := make([]float64, dims)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	add := func(term string, weight float64) {
		h := fnv.New64a()
		h.Write([]byte(term))
		x := h.Sum64()
		sign := 1.0
		if x>>63 == 1 {
			sign = -1
		}
		v[int(x%uint64(dims))] += sign * weight
	}
	for i, w := range words {
		add(w, 1)
		if i > 0 {
			add(words[i-1]+" "+w, 0.5)
		}
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	out := make([]float32, dims)
	if norm == 0 {
		out[0] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

// Cosine is the cosine similarity of two vectors of the same length.
func Cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
