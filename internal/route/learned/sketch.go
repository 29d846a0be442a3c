package learned

import (
	"encoding/base64"
	"fmt"
	"math"
)

// PromptSketch is a compact summary of the prompts a model was trained on:
// a Bloom filter of their PromptHash. It tells an evaluation which of its
// prompts the model has seen — never missing one, and mistaking an unseen
// prompt for a seen one at about FalsePositiveRate — without the model
// file holding any prompt. It is immutable and safe for concurrent use.
type PromptSketch struct {
	n    int // distinct prompts added
	k    int // probes per prompt
	bits []byte
}

const (
	// sketchBitsPerPrompt gives a false-positive rate of about 1 %.
	sketchBitsPerPrompt = 10
	// maxSketchBits bounds the sketch at 128 KiB (about 100,000 prompts at
	// 1 %); past that the false-positive rate grows, and says so.
	maxSketchBits = 1 << 20
	maxSketchK    = 16
)

// newPromptSketch returns the sketch of texts.
func newPromptSketch(texts []string) *PromptSketch {
	seen := make(map[uint64]bool, len(texts))
	for _, t := range texts {
		seen[PromptHash(t)] = true
	}
	m := min(max(64, sketchBitsPerPrompt*len(seen)), maxSketchBits)
	m = (m + 7) / 8 * 8
	k := 1
	if len(seen) > 0 {
		k = min(max(1, int(math.Round(float64(m)/float64(len(seen))*math.Ln2))), maxSketchK)
	}
	s := &PromptSketch{n: len(seen), k: k, bits: make([]byte, m/8)}
	for h := range seen {
		s.probe(h, func(i int, bit byte) bool { s.bits[i] |= bit; return true })
	}
	return s
}

// probe calls f with each of h's k bit positions (byte and mask) until f
// returns false, and reports whether it never did.
func (s *PromptSketch) probe(h uint64, f func(i int, bit byte) bool) bool {
	m := uint64(len(s.bits) * 8)
	a, b := mix(h), mix(h^0x9e3779b97f4a7c15)|1 // double hashing
	for i := range uint64(s.k) {
		at := (a + i*b) % m
		if !f(int(at/8), 1<<(at%8)) {
			return false
		}
	}
	return true
}

// Contains reports whether text (compared as PromptHash compares prompts)
// is probably one of the sketched prompts.
func (s *PromptSketch) Contains(text string) bool {
	return s.probe(PromptHash(text), func(i int, bit byte) bool { return s.bits[i]&bit != 0 })
}

// Len is the number of distinct prompts sketched.
func (s *PromptSketch) Len() int { return s.n }

// FalsePositiveRate is the expected share of prompts not sketched that
// Contains nevertheless reports.
func (s *PromptSketch) FalsePositiveRate() float64 {
	m := float64(len(s.bits) * 8)
	return math.Pow(1-math.Exp(-float64(s.k)*float64(s.n)/m), float64(s.k))
}

// sketchFile is a PromptSketch in a model file, its bits in base64.
type sketchFile struct {
	Count  int    `json:"count"`
	Hashes int    `json:"hashes"`
	Bits   string `json:"bits"`
}

func (s *PromptSketch) file() *sketchFile {
	return &sketchFile{Count: s.n, Hashes: s.k, Bits: base64.StdEncoding.EncodeToString(s.bits)}
}

func (f *sketchFile) sketch() (*PromptSketch, error) {
	b, err := base64.StdEncoding.DecodeString(f.Bits)
	switch {
	case err != nil:
		return nil, fmt.Errorf("training_prompts.bits: %w", err)
	case len(b) == 0 || len(b)*8 > maxSketchBits:
		return nil, fmt.Errorf("training_prompts.bits: %d bytes, want 1 to %d", len(b), maxSketchBits/8)
	case f.Hashes < 1 || f.Hashes > maxSketchK:
		return nil, fmt.Errorf("training_prompts.hashes %d is not in [1, %d]", f.Hashes, maxSketchK)
	case f.Count < 0:
		return nil, fmt.Errorf("training_prompts.count %d is negative", f.Count)
	}
	return &PromptSketch{n: f.Count, k: f.Hashes, bits: b}, nil
}
