package learned

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Features configures how a prompt becomes a feature vector. It is stored in
// the model file, so a model is always scored with the features it was
// trained on.
//
// A prompt is normalised (ASCII letters lower-cased, every digit read as 0,
// runs of white space read as one space) and then gives three blocks of
// features:
//   - words: hashed word unigrams and, with WordNgrams 2, bigrams;
//   - chars: hashed character n-grams of CharMin..CharMax bytes;
//   - stats: a fixed list of prompt statistics (StatNames).
//
// Hashed features land in a table of 2^HashBits weights with a random sign
// (the hashing trick), and each block is scaled by 1/sqrt(its feature
// count), so long and short prompts weigh the same.
type Features struct {
	HashBits   int `json:"hash_bits"`
	WordNgrams int `json:"word_ngrams"`
	CharMin    int `json:"char_min"`
	CharMax    int `json:"char_max"`
	// MaxBytes bounds the bytes of a prompt that give features (0: all of
	// them), which bounds the decision time: a longer prompt is read from
	// its first and last MaxBytes/2 bytes.
	MaxBytes int `json:"max_bytes"`
	// Stats names the statistics, in order; it must equal StatNames.
	Stats []string `json:"stats"`
	// Tags makes a request's tags (such as "feature=coding" from
	// x-penny-tags, or a benchmark item's subject) features too: each
	// key=value seen in training has a weight of its own, learned alongside
	// the text; tags not seen in training are ignored. A model without Tags
	// ignores tags.
	Tags bool `json:"tags,omitempty"`
}

// DefaultFeatures is the feature configuration Train uses unless told
// otherwise.
func DefaultFeatures() Features {
	return Features{HashBits: 18, WordNgrams: 2, CharMin: 3, CharMax: 4, MaxBytes: 1536, Stats: StatNames()}
}

// statNames lists the prompt statistics, each scaled to about [0, 1].
var statNames = [...]string{
	"log_bytes",        // log1p(bytes)/9
	"log_words",        // log1p(words)/7
	"log_lines",        // log1p(newlines)/5
	"log_questions",    // log1p('?' count)/3
	"log_numbers",      // log1p(runs of digits)/4
	"digit_ratio",      // digits / bytes
	"upper_ratio",      // upper-case letters / letters
	"math_ratio",       // + - * / = ^ < > % $ \ / bytes, ×5
	"code_ratio",       // { } [ ] ; ` _ # | / bytes, ×10
	"long_word_ratio",  // words of 10+ bytes / words
	"mean_word_length", // bytes per word / 10
	"non_ascii_ratio",  // bytes ≥ 0x80 / bytes
}

// NumStats is the number of prompt statistics.
const NumStats = len(statNames)

// StatNames returns the names of the prompt statistics, in feature order.
func StatNames() []string { return append([]string(nil), statNames[:]...) }

const maxHashBits = 24

// validate reports whether f can be used, naming the first bad field.
func (f Features) validate() error {
	switch {
	case f.HashBits < 8 || f.HashBits > maxHashBits:
		return fmt.Errorf("features: hash_bits %d is not in 8..%d", f.HashBits, maxHashBits)
	case f.WordNgrams < 0 || f.WordNgrams > 2:
		return fmt.Errorf("features: word_ngrams %d is not 0, 1 or 2", f.WordNgrams)
	case f.CharMin == 0 && f.CharMax == 0:
	case f.CharMin < 1 || f.CharMax > 8 || f.CharMin > f.CharMax:
		return fmt.Errorf("features: char n-grams %d..%d are not within 1..8", f.CharMin, f.CharMax)
	}
	if f.MaxBytes < 0 {
		return fmt.Errorf("features: max_bytes %d is negative", f.MaxBytes)
	}
	if len(f.Stats) != NumStats {
		return fmt.Errorf("features: %d stats, this version of Penny computes %d (%v)", len(f.Stats), NumStats, statNames)
	}
	for i, s := range f.Stats {
		if s != statNames[i] {
			return fmt.Errorf("features: stat %d is %q, this version of Penny computes %q there", i, s, statNames[i])
		}
	}
	return nil
}

// dim is the number of weights: the hash table and the statistics.
func (f Features) dim() int { return 1<<f.HashBits + NumStats }

// vec is one prompt's features: hashed entries per block (see hashEntry)
// and the dense statistics.
type vec struct {
	words []uint32
	chars []uint32
	tags  []uint32
	stats [NumStats]float32
}

func (v *vec) reset() {
	v.words = v.words[:0]
	v.chars = v.chars[:0]
	v.tags = v.tags[:0]
	v.stats = [NumStats]float32{}
}

// blockScale is the value of each entry of a block of n entries.
func blockScale(n int) float32 {
	if n == 0 {
		return 0
	}
	return float32(1 / math.Sqrt(float64(n)))
}

// Seeds keep the blocks and the n-gram sizes apart in the shared table.
const (
	seedUnigram = 0x243f6a8885a308d3
	seedBigram  = 0x13198a2e03707344
	seedChar    = 0xa4093822299f31d0
)

// tagVocab numbers the distinct "key=value" tags of training examples:
// a model has one weight per tag it was trained with and ignores any other
// (an end user's id, a tag added later), so that an unseen tag cannot move
// a score. Lookups go key then value, so a request's tag map is read
// without building strings.
type tagVocab map[string]map[string]uint32

// add numbers tag ("key=value") if it is new; tags without "=" are keys
// with an empty value.
func (t tagVocab) add(tag string) {
	k, v, _ := strings.Cut(tag, "=")
	vals := t[k]
	if vals == nil {
		vals = map[string]uint32{}
		t[k] = vals
	}
	if _, ok := vals[v]; !ok {
		vals[v] = uint32(t.size())
	}
}

func (t tagVocab) size() int {
	n := 0
	for _, vals := range t {
		n += len(vals)
	}
	return n
}

// index returns the number of key=value, if known.
func (t tagVocab) index(key, value string) (uint32, bool) {
	i, ok := t[key][value]
	return i, ok
}

// addTo adds key=value to v if it is known.
func (t tagVocab) addTo(v *vec, key, value string) {
	if i, ok := t.index(key, value); ok {
		v.tags = append(v.tags, i)
	}
}

// addList adds the known tags of list ("key=value") to v.
func (t tagVocab) addList(v *vec, list []string) {
	for _, tag := range list {
		k, val, _ := strings.Cut(tag, "=")
		t.addTo(v, k, val)
	}
}

// TagList turns a request's tags into the "key=value" strings a model
// with Features.Tags reads, sorted; nil for none.
func TagList(tags map[string]string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := make([]string, 0, len(tags))
	for k, v := range tags {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// hashEntry turns x into a table entry by Fibonacci hashing: the top bits
// of x times 2^64/φ are the index into the 2^(64-shift) table, and the bit
// below them the sign. An entry holds index<<1 | sign.
func hashEntry(x uint64, shift uint) uint32 {
	return uint32(x * 0x9e3779b97f4a7c15 >> (shift - 1))
}

// signed returns w with the sign of entry e.
func signed(w float32, e uint32) float32 {
	return math.Float32frombits(math.Float32bits(w) ^ e<<31)
}

// norm maps a byte of the prompt to the byte the n-grams see.
var norm = func() (t [256]byte) {
	for i := range t {
		b := byte(i)
		switch {
		case b >= 'A' && b <= 'Z':
			b += 'a' - 'A'
		case b >= '0' && b <= '9':
			b = '0'
		case b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f':
			b = ' '
		}
		t[i] = b
	}
	return t
}()

// Byte classes for the statistics, one 8-bit lane of a uint64 each, so
// that one addition per byte counts them all.
const (
	laneDigit = iota
	laneUpper
	laneLower
	laneNonASCII
	laneMath     // + - * / = ^ < > % $ \
	laneCode     // { } [ ] ; ` _ # |
	laneNewline  // \n
	laneQuestion // ?
)

var lanes = func() (t [256]uint64) {
	set := func(b byte, lane int) { t[b] |= 1 << (8 * lane) }
	for i := range t {
		b := byte(i)
		switch {
		case b >= '0' && b <= '9':
			set(b, laneDigit)
		case b >= 'A' && b <= 'Z':
			set(b, laneUpper)
		case b >= 'a' && b <= 'z':
			set(b, laneLower)
		case b >= 0x80:
			set(b, laneNonASCII)
		}
	}
	for _, b := range []byte(`+-*/=^<>%$\`) {
		set(b, laneMath)
	}
	for _, b := range []byte("{}[];`_#|") {
		set(b, laneCode)
	}
	set('\n', laneNewline)
	set('?', laneQuestion)
	return t
}()

// isWord marks the bytes that make up words: ASCII letters and digits and
// every byte of a non-ASCII character.
var isWord = func() (t [256]bool) {
	for i := range t {
		b := byte(i)
		t[i] = b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= 0x80
	}
	return t
}()

// extract fills v with the features of text. A prompt longer than
// MaxBytes gives features from its first and last MaxBytes/2 bytes (where
// instructions and questions usually are), and count statistics scaled up
// to its whole length, so the decision time is bounded. It allocates only
// when v's buffers must grow. The loops are written out by hand (no
// closures, counters in the lanes of one register) because they are the
// router's decision time.
func (f *Features) extract(text string, v *vec) {
	v.reset()
	shift := uint(64 - f.HashBits)
	segs := [2]string{text, ""}
	if f.MaxBytes > 0 && len(text) > f.MaxBytes {
		h := f.MaxBytes / 2
		segs = [2]string{text[:h], text[len(text)-(f.MaxBytes-h):]}
	}

	// One pass over the bytes gives the statistics, the words and the
	// character n-grams. A word's normalised bytes are packed 8 at a time
	// into a register and folded into its hash. Character n-grams are of
	// normalised bytes, white space runs read as one space, framed by
	// spaces; the last 8 bytes are held in a shift register that starts
	// full of spaces.
	var (
		counts                               [8]int
		acc                                  uint64 // lanes of byte counts, flushed before a lane can overflow
		pending                              int
		wordHash, pack, prevWord             uint64
		packed                               int
		inWord, havePrev                     bool
		prevDigit                            int
		wordLen                              int
		words, longWords, wordBytes, numbers int
	)
	wordNgrams := f.WordNgrams
	cmin, cmax := f.CharMin, f.CharMax
	var masks [9]uint64
	for n := cmin; n <= cmax && n > 0; n++ {
		masks[n] = 1<<(8*uint(n)) - 1
		if n == 8 {
			masks[n] = ^uint64(0)
		}
	}
	if cmax > 0 {
		if need := (len(segs[0]) + len(segs[1]) + 2) * (cmax - cmin + 1); cap(v.chars) < need {
			v.chars = make([]uint32, 0, need)
		}
	}
	out := v.chars[:cap(v.chars)]
	k := 0
	win := uint64(0x2020202020202020)
	prevSpace := true
	for _, seg := range segs {
		for i := 0; i <= len(seg); i++ {
			var b byte = ' '
			if i < len(seg) {
				b = seg[i]
				acc += lanes[b]
				if pending++; pending == 255 {
					for l := range counts {
						counts[l] += int(acc >> (8 * l) & 0xff)
					}
					acc, pending = 0, 0
				}
			}
			digit := int(lanes[b] >> (8 * laneDigit) & 1)
			numbers += digit &^ prevDigit // a run of digits starts
			prevDigit = digit
			nb := norm[b]
			if isWord[b] {
				if !inWord {
					inWord, wordHash, pack, packed, wordLen = true, seedUnigram, 0, 0, 0
				}
				wordLen++
				pack = pack<<8 | uint64(nb)
				if packed++; packed == 8 {
					wordHash = (wordHash ^ pack) * 0xff51afd7ed558ccd
					pack, packed = 0, 0
				}
			} else if inWord {
				inWord = false
				words++
				wordBytes += wordLen
				if wordLen >= 10 {
					longWords++
				}
				if wordNgrams >= 1 {
					h := wordHash ^ pack ^ uint64(packed)<<59
					h ^= h >> 31
					v.words = append(v.words, hashEntry(h, shift))
					if wordNgrams >= 2 && havePrev {
						v.words = append(v.words, hashEntry((prevWord*31+h)^seedBigram, shift))
					}
					prevWord, havePrev = h, true
				}
			}
			if cmax == 0 || nb == ' ' && prevSpace {
				continue
			}
			prevSpace = nb == ' '
			win = win<<8 | uint64(nb)
			for n := cmin; n <= cmax; n++ {
				out[k] = hashEntry((win&masks[n])^seedChar+uint64(n), shift)
				k++
			}
		}
	}
	for l := range counts {
		counts[l] += int(acc >> (8 * l) & 0xff)
	}
	v.chars = out[:k]

	// Statistics: counts scaled from the bytes read to the whole prompt.
	size := len(text)
	seen := len(segs[0]) + len(segs[1])
	scale := 1.0
	if seen > 0 {
		scale = float64(size) / float64(seen)
	}
	logCount := func(n int, d float64) float32 { return float32(math.Log1p(float64(n)*scale) / d) }
	ratio := func(a, b int) float32 {
		if b == 0 {
			return 0
		}
		return float32(float64(a) / float64(b))
	}
	capped := func(x float32) float32 { return min(x, 1) }
	c := &counts
	s := &v.stats
	s[0] = float32(math.Log1p(float64(size)) / 9)
	s[1] = logCount(words, 7)
	s[2] = logCount(c[laneNewline], 5)
	s[3] = logCount(c[laneQuestion], 3)
	s[4] = logCount(numbers, 4)
	s[5] = ratio(c[laneDigit], seen)
	s[6] = ratio(c[laneUpper], c[laneUpper]+c[laneLower])
	s[7] = capped(5 * ratio(c[laneMath], seen))
	s[8] = capped(10 * ratio(c[laneCode], seen))
	s[9] = ratio(longWords, words)
	s[10] = capped(ratio(wordBytes, words) / 10)
	s[11] = ratio(c[laneNonASCII], seen)
}
