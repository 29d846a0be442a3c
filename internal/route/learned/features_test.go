package learned

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func extractOf(f Features, text string) *vec {
	v := &vec{}
	f.extract(text, v)
	return v
}

func sameVec(a, b *vec) bool {
	return slices.Equal(a.words, b.words) && slices.Equal(a.chars, b.chars) && a.stats == b.stats
}

func TestExtractIsDeterministic(t *testing.T) {
	f := DefaultFeatures()
	texts := []string{"", "a", "What is 2+2?", longPrompt, "naïve café — 日本語のテキスト"}
	for _, text := range texts {
		a, b := extractOf(f, text), extractOf(f, text)
		if !sameVec(a, b) {
			t.Errorf("%.20q: two extractions differ", text)
		}
		// A reused buffer gives the same features as a fresh one.
		reused := extractOf(f, longPrompt)
		f.extract(text, reused)
		if !sameVec(a, reused) {
			t.Errorf("%.20q: extraction into a reused buffer differs", text)
		}
	}
}

func TestExtractNormalises(t *testing.T) {
	f := DefaultFeatures()
	a := extractOf(f, "Solve  the\tEquation\n x = 42")
	b := extractOf(f, "solve the equation x = 17")
	if !slices.Equal(a.words, b.words) || !slices.Equal(a.chars, b.chars) {
		t.Error("case, white space runs and digits should not change the hashed features")
	}
	c := extractOf(f, "solve the equation y = 17")
	if slices.Equal(b.chars, c.chars) {
		t.Error("a different letter should change the character n-grams")
	}
}

func TestExtractCounts(t *testing.T) {
	f := DefaultFeatures()
	v := extractOf(f, "one two three")
	// Three unigrams and two bigrams.
	if len(v.words) != 5 {
		t.Errorf("words block has %d entries, want 5", len(v.words))
	}
	// "one two three" and the closing space are 14 bytes; n-grams of 3 and
	// 4 bytes end at each of them (the window starts full of spaces).
	if len(v.chars) != 2*14 {
		t.Errorf("chars block has %d entries, want 28", len(v.chars))
	}
	for _, e := range append(v.words, v.chars...) {
		if int(e>>1) >= 1<<f.HashBits {
			t.Fatalf("entry %d is outside the table", e>>1)
		}
	}
	f.WordNgrams = 1
	if got := len(extractOf(f, "one two three").words); got != 3 {
		t.Errorf("unigrams only: %d entries, want 3", got)
	}
	f.CharMin, f.CharMax = 0, 0
	if got := len(extractOf(f, "one two three").chars); got != 0 {
		t.Errorf("no char n-grams: %d entries", got)
	}
}

func TestExtractStats(t *testing.T) {
	f := DefaultFeatures()
	s := extractOf(f, "Is 12 > 7?\nYes").stats
	want := map[string]float32{
		"log_bytes":     float32(math.Log1p(14) / 9),
		"log_words":     float32(math.Log1p(4) / 7),
		"log_lines":     float32(math.Log1p(1) / 5),
		"log_questions": float32(math.Log1p(1) / 3),
		"log_numbers":   float32(math.Log1p(2) / 4),
		"digit_ratio":   3.0 / 14,
		"upper_ratio":   2.0 / 5,
		"math_ratio":    5 * 1.0 / 14,
	}
	for i, name := range statNames {
		if w, ok := want[name]; ok && math.Abs(float64(s[i]-w)) > 1e-6 {
			t.Errorf("%s = %g, want %g", name, s[i], w)
		}
	}
}

func TestExtractBoundsLongPrompts(t *testing.T) {
	f := DefaultFeatures()
	head := strings.Repeat("alpha ", 200)
	tail := strings.Repeat("omega ", 200)
	long := head + strings.Repeat("middle ", 2000) + tail
	v := extractOf(f, long)
	if max := (f.MaxBytes + 2) * (f.CharMax - f.CharMin + 1); len(v.chars) > max {
		t.Errorf("%d char entries for a long prompt, want at most %d", len(v.chars), max)
	}
	// The middle is not read; the head and the tail are.
	mid := extractOf(f, "middle")
	for _, e := range mid.words[:1] {
		if slices.Contains(v.words, e) {
			t.Error("a word only in the middle of a long prompt became a feature")
		}
	}
	for _, w := range []string{"alpha", "omega"} {
		if !slices.Contains(v.words, extractOf(f, w).words[0]) {
			t.Errorf("%q from the head or tail is missing", w)
		}
	}
	// Statistics still describe the whole prompt.
	if got, want := v.stats[0], float32(math.Log1p(float64(len(long)))/9); got != want {
		t.Errorf("log_bytes = %g, want %g", got, want)
	}
}

func TestFeaturesValidate(t *testing.T) {
	ok := DefaultFeatures()
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(*Features){
		func(f *Features) { f.HashBits = 4 },
		func(f *Features) { f.HashBits = 30 },
		func(f *Features) { f.WordNgrams = 3 },
		func(f *Features) { f.CharMin, f.CharMax = 4, 3 },
		func(f *Features) { f.CharMax = 9 },
		func(f *Features) { f.MaxBytes = -1 },
		func(f *Features) { f.Stats = f.Stats[1:] },
		func(f *Features) { f.Stats = append([]string{"x"}, f.Stats[1:]...) },
	}
	for i, mut := range bad {
		f := DefaultFeatures()
		mut(&f)
		if err := f.validate(); err == nil {
			t.Errorf("case %d: %+v validated", i, f)
		}
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	m := benchModel()
	for _, p := range benchPrompts {
		m.Score(p.text) // warm the pool
		if n := testing.AllocsPerRun(100, func() { m.Score(p.text) }); n > 0 {
			t.Errorf("%s: Score allocates %.1f times per call", p.name, n)
		}
	}
}

func TestScoreIsSafeForConcurrentUse(t *testing.T) {
	m := benchModel()
	want := map[string]float64{}
	for _, p := range benchPrompts {
		want[p.text] = m.Score(p.text)
	}
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- true }()
			for i := 0; i < 50; i++ {
				for text, w := range want {
					if got := m.Score(text); got != w {
						t.Errorf("concurrent score %g, want %g", got, w)
						return
					}
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
