// Package tokens counts tokens with a real byte-pair-encoding tokenizer:
// OpenAI's cl100k_base vocabulary, embedded in the binary by
// github.com/pkoukk/tiktoken-go-loader, so nothing is ever downloaded.
//
// Bedrock models use their own tokenizers (Claude, Nova, Mistral and Titan
// are not public; Llama 3's extends cl100k_base), so every count here is an
// estimate, typically within a few percent of what Bedrock bills for English
// text and code, and further off for other scripts. Bedrock's own usage
// figures remain the truth for billing; Penny uses these counts where it
// must decide before the answer arrives (budgets, routing, trimming) and in
// the simulator.
package tokens

import (
	"fmt"
	"sync"
	"unicode"
	"unicode/utf8"

	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// Encoding is the name of the vocabulary Penny counts with. cl100k_base is
// chosen over o200k_base because it loads in a third of the time and memory
// and is as close to the Bedrock vocabularies for English.
const Encoding = "cl100k_base"

// Counter counts tokens. It is immutable after New and safe for concurrent
// use.
type Counter struct {
	ranks map[string]int
}

// shared is the one Counter of the process: the vocabulary takes ~60 ms and
// ~11 MB to load, so it is loaded once, on first use, and never changed.
var shared = sync.OnceValues(func() (*Counter, error) {
	ranks, err := tiktoken_loader.NewOfflineLoader().LoadTiktokenBpe(Encoding + ".tiktoken")
	if err != nil {
		return nil, fmt.Errorf("tokens: load %s: %w", Encoding, err)
	}
	if len(ranks) == 0 {
		return nil, fmt.Errorf("tokens: load %s: empty vocabulary", Encoding)
	}
	return &Counter{ranks: ranks}, nil
})

// New returns the process's Counter, loading the embedded vocabulary on the
// first call; later calls return the same Counter at no cost. It never
// touches the network.
func New() (*Counter, error) { return shared() }

// Count returns the number of tokens in s, as cl100k_base encodes it with
// special tokens treated as ordinary text.
func (c *Counter) Count(s string) int {
	n := 0
	for s != "" {
		k := nextPiece(s)
		n += c.countPiece(s[:k])
		s = s[k:]
	}
	return n
}

// Truncate returns the longest prefix of s, cut between pre-tokenized
// pieces (words with their leading space, number groups, punctuation runs),
// that has at most n tokens. Its count may fall short of n by the size of
// the piece that did not fit.
func (c *Counter) Truncate(s string, n int) string {
	used, at := 0, 0
	for at < len(s) {
		k := nextPiece(s[at:])
		t := c.countPiece(s[at : at+k])
		if used+t > n {
			break
		}
		used += t
		at += k
	}
	return s[:at]
}

// Split cuts s between pre-tokenized pieces into consecutive chunks of
// about n tokens each (a chunk may hold more when one piece does); joined,
// the chunks are s. It returns nil for "".
func (c *Counter) Split(s string, n int) []string {
	n = max(n, 1)
	var out []string
	start, at, used := 0, 0, 0
	for at < len(s) {
		k := nextPiece(s[at:])
		used += c.countPiece(s[at : at+k])
		at += k
		if used >= n {
			out = append(out, s[start:at])
			start, used = at, 0
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// countPiece returns the number of tokens one pre-tokenized piece encodes to.
func (c *Counter) countPiece(p string) int {
	if _, ok := c.ranks[p]; ok {
		return 1
	}
	if len(p) <= 1 {
		return len(p)
	}
	if len(p) > longPiece {
		return c.bytePairCountLong(p)
	}
	return c.bytePairCount(p)
}

// longPiece is the length in bytes past which a piece is merged with a
// heap: the simple merge is quadratic, and a run of thousands of '=' or
// base64 letters would otherwise take seconds.
const longPiece = 128

// bytePairCount runs the byte-pair merge of tiktoken on p and returns the
// number of parts left: starting from single bytes, it repeatedly merges the
// adjacent pair whose concatenation has the lowest rank.
func (c *Counter) bytePairCount(p string) int {
	// bounds[i] is where part i starts; the last entry is len(p).
	var buf [64]int
	bounds := buf[:0]
	for i := 0; i <= len(p); i++ {
		bounds = append(bounds, i)
	}
	const none = int(^uint(0) >> 1)
	rank := func(i int) int { // rank of merging part i with part i+1
		if i+2 >= len(bounds) {
			return none
		}
		if r, ok := c.ranks[p[bounds[i]:bounds[i+2]]]; ok {
			return r
		}
		return none
	}
	var rbuf [64]int
	ranks := rbuf[:0]
	for i := 0; i < len(bounds)-1; i++ {
		ranks = append(ranks, rank(i))
	}
	for len(bounds) > 2 {
		best, at := none, -1
		for i, r := range ranks {
			if r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		bounds = append(bounds[:at+1], bounds[at+2:]...)
		ranks = append(ranks[:at+1], ranks[at+2:]...)
		ranks[at] = rank(at)
		if at > 0 {
			ranks[at-1] = rank(at - 1)
		}
	}
	return len(bounds) - 1
}

// bytePairCountLong is bytePairCount in O(n log n): a heap of candidate
// merges ordered by (rank, position), with stale candidates skipped. It
// makes the same merges in the same order, since the simple loop also
// takes the lowest rank and, among equal ones, the leftmost pair.
func (c *Counter) bytePairCountLong(p string) int {
	n := len(p)
	// Parts are identified by the byte offset they start at.
	next := make([]int, n)
	prev := make([]int, n)
	alive := make([]bool, n)
	for i := range n {
		next[i], prev[i], alive[i] = i+1, i-1, true
	}
	h := &mergeHeap{}
	push := func(i int) { // candidate: merge part i with its next part
		j := next[i]
		if j >= n {
			return
		}
		e := next[j]
		if r, ok := c.ranks[p[i:e]]; ok {
			h.push(merge{rank: r, left: i, right: j, end: e})
		}
	}
	for i := 0; i < n-1; i++ {
		push(i)
	}
	parts := n
	for h.len() > 0 {
		m := h.pop()
		if !alive[m.left] || !alive[m.right] || next[m.left] != m.right || next[m.right] != m.end {
			continue // stale: one side has merged since
		}
		alive[m.right] = false
		next[m.left] = m.end
		if m.end < n {
			prev[m.end] = m.left
		}
		parts--
		if prev[m.left] >= 0 {
			push(prev[m.left])
		}
		push(m.left)
	}
	return parts
}

// merge is a candidate merge of the part at left with the part at right,
// which ends at end.
type merge struct{ rank, left, right, end int }

func (a merge) less(b merge) bool {
	return a.rank < b.rank || a.rank == b.rank && a.left < b.left
}

// mergeHeap is a binary min-heap of merges.
type mergeHeap struct{ items []merge }

func (h *mergeHeap) len() int { return len(h.items) }

func (h *mergeHeap) push(m merge) {
	h.items = append(h.items, m)
	i := len(h.items) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !h.items[i].less(h.items[parent]) {
			break
		}
		h.items[i], h.items[parent] = h.items[parent], h.items[i]
		i = parent
	}
}

func (h *mergeHeap) pop() merge {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	i := 0
	for {
		l, r, least := 2*i+1, 2*i+2, i
		if l < last && h.items[l].less(h.items[least]) {
			least = l
		}
		if r < last && h.items[r].less(h.items[least]) {
			least = r
		}
		if least == i {
			return top
		}
		h.items[i], h.items[least] = h.items[least], h.items[i]
		i = least
	}
}

// nextPiece returns the length in bytes of the first piece of s under
// cl100k_base's pre-tokenizing pattern, written out by hand because the
// regular-expression engine is ten times slower:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// The alternatives are tried in order, as a backtracking engine does.
// s must not be empty.
func nextPiece(s string) int {
	r0, w0 := utf8.DecodeRuneInString(s)
	// 's 't 're 've 'm 'll 'd, any case.
	if r0 == '\'' && len(s) >= 2 {
		switch s[1] | 0x20 {
		case 's', 't', 'm', 'd':
			return 2
		case 'r', 'v':
			if len(s) >= 3 && s[2]|0x20 == 'e' {
				return 3
			}
		case 'l':
			if len(s) >= 3 && s[2]|0x20 == 'l' {
				return 3
			}
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if unicode.IsLetter(r0) {
		return w0 + letters(s[w0:])
	}
	if r0 != '\r' && r0 != '\n' && !unicode.IsNumber(r0) {
		if n := letters(s[w0:]); n > 0 {
			return w0 + n
		}
	}
	// \p{N}{1,3}
	if unicode.IsNumber(r0) {
		n := w0
		for k := 1; k < 3 && n < len(s); k++ {
			r, w := utf8.DecodeRuneInString(s[n:])
			if !unicode.IsNumber(r) {
				break
			}
			n += w
		}
		return n
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	start := 0
	if r0 == ' ' && len(s) > 1 {
		if r, _ := utf8.DecodeRuneInString(s[1:]); isPunct(r) {
			start = 1
		}
	}
	if r, _ := utf8.DecodeRuneInString(s[start:]); isPunct(r) {
		n := start
		for n < len(s) {
			r, w := utf8.DecodeRuneInString(s[n:])
			if !isPunct(r) {
				break
			}
			n += w
		}
		for n < len(s) && (s[n] == '\r' || s[n] == '\n') {
			n++
		}
		return n
	}
	// r0 is white space: W is the whole run of it.
	end, lastNL, lastStart := 0, -1, 0
	for end < len(s) {
		r, w := utf8.DecodeRuneInString(s[end:])
		if !unicode.IsSpace(r) {
			break
		}
		if r == '\r' || r == '\n' {
			lastNL = end
		}
		lastStart = end
		end += w
	}
	// \s*[\r\n]+ : up to the last line break of the run.
	if lastNL >= 0 {
		return lastNL + 1
	}
	switch {
	case end == 0: // unreachable: every rune is a letter, number, punctuation or space
		return w0
	case end == len(s): // \s+(?!\S) at the end of the text
		return end
	case lastStart > 0: // \s+(?!\S): the run less its last character
		return lastStart
	default: // \s+: a single space before a non-space
		return end
	}
}

// letters returns the length in bytes of the run of letters s starts with.
func letters(s string) int {
	n := 0
	for n < len(s) {
		r, w := utf8.DecodeRuneInString(s[n:])
		if !unicode.IsLetter(r) {
			break
		}
		n += w
	}
	return n
}

// isPunct reports whether r is in [^\s\p{L}\p{N}].
func isPunct(r rune) bool {
	return !unicode.IsSpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r)
}
