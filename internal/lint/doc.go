package lint

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// rng is a half-open byte range of the prompt.
type rng struct{ start, end int }

type sentence struct {
	start, end int
	fillers    []rng // absolute ranges
	question   bool  // started with "could you …" and so on
}

type repeat struct {
	index, of int
	overlap   float64
}

type shape struct {
	start, end, count int
}

// doc is a parsed prompt: its sentences (split at . ! ? and at line
// breaks), filler ranges, repeats and document-level facts.
type doc struct {
	text      string
	lines     []int // offsets of line starts
	sentences []sentence
	fillers   []rng
	repeats   []repeat
	hasFormat bool
	hasLength bool
}

func parse(text string) *doc {
	d := &doc{text: text, lines: []int{0}}
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			d.lines = append(d.lines, i+1)
		}
	}
	d.split()
	for i := range d.sentences {
		d.findFillers(&d.sentences[i])
		d.fillers = append(d.fillers, d.sentences[i].fillers...)
	}
	d.findRepeats()
	d.hasFormat = formatRe.MatchString(text) || proseFormRe.MatchString(text)
	d.hasLength = lengthRe.MatchString(text)
	return d
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func (d *doc) split() {
	t := d.text
	for i := 0; i < len(t); {
		for i < len(t) && isSpace(t[i]) {
			i++
		}
		if i >= len(t) {
			break
		}
		start, end := i, len(t)
	scan:
		for j := i; j < len(t); j++ {
			switch t[j] {
			case '\n':
				end = j
				break scan
			case '.', '!', '?':
				k := j + 1
				for k < len(t) && strings.IndexByte(".!?\"')]", t[k]) >= 0 {
					k++
				}
				if k == len(t) || isSpace(t[k]) {
					end = k
					break scan
				}
				j = k - 1
			}
		}
		e := end
		for e > start && isSpace(t[e-1]) {
			e--
		}
		d.sentences = append(d.sentences, sentence{start: start, end: e})
		i = end
	}
}

// findFillers records s's filler ranges: start phrases, repeatedly, then
// phrases anywhere that do not overlap them.
func (d *doc) findFillers(s *sentence) {
	t := d.text[s.start:s.end]
	at := 0
	for {
		for at < len(t) && strings.IndexByte(" \t,;:", t[at]) >= 0 {
			at++
		}
		matched := false
		for _, re := range startFiller {
			if m := re.FindStringIndex(t[at:]); m != nil && m[1] > 0 {
				if len(s.fillers) == 0 && questionStart.MatchString(t[at:]) {
					s.question = true
				}
				s.fillers = append(s.fillers, rng{s.start + at, s.start + at + m[1]})
				at += m[1]
				matched = true
				break
			}
		}
		if !matched {
			break
		}
	}
	for _, m := range anyFiller.FindAllStringIndex(t, -1) {
		r := rng{s.start + m[0], s.start + m[1]}
		overlaps := false
		for _, f := range s.fillers {
			if r.start < f.end && f.start < r.end {
				overlaps = true
			}
		}
		if !overlaps {
			s.fillers = append(s.fillers, r)
		}
	}
	sortRanges(s.fillers)
}

func sortRanges(rs []rng) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].start < rs[j-1].start; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// cleaned returns sentence i with its fillers cut (when cut is true) and
// its whitespace and punctuation tidied; "" when nothing worth keeping is
// left.
func (d *doc) cleaned(i int, cuts []rng) string {
	s := d.sentences[i]
	var b strings.Builder
	at := s.start
	cutAtStart := false
	for _, c := range cuts {
		if c.start < s.start || c.end > s.end {
			continue
		}
		if strings.TrimLeft(d.text[s.start:c.start], " \t,;:") == "" {
			cutAtStart = true
		}
		b.WriteString(d.text[at:c.start])
		b.WriteByte(' ')
		at = c.end
	}
	b.WriteString(d.text[at:s.end])
	out := tidy(b.String())
	if !hasWord(out) {
		return ""
	}
	if cutAtStart {
		out = capitalize(out)
		if s.question && strings.HasSuffix(out, "?") {
			out = strings.TrimSuffix(out, "?") + "."
		}
	}
	return out
}

var (
	spaceRun       = regexp.MustCompile(`[ \t]+`)
	spaceBefore    = regexp.MustCompile(` +([,;:.!?])`)
	commaBeforeEnd = regexp.MustCompile(`[,;:]+([.!?])`)
	commaRun       = regexp.MustCompile(`([,;:]) *[,;:]+`)
)

func tidy(s string) string {
	s = spaceRun.ReplaceAllString(s, " ")
	s = spaceBefore.ReplaceAllString(s, "$1")
	s = commaBeforeEnd.ReplaceAllString(s, "$1")
	s = commaRun.ReplaceAllString(s, "$1")
	s = strings.TrimSpace(s)
	s = strings.TrimLeft(s, ",;: ")
	s = strings.TrimRight(s, ",;: ")
	return s
}

func hasWord(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if unicode.IsLower(r) {
		return string(unicode.ToUpper(r)) + s[n:]
	}
	return s
}

// findRepeats marks each sentence whose word bigrams overlap an earlier
// sentence's by repeatOverlap or more.
func (d *doc) findRepeats() {
	grams := make([]map[string]bool, len(d.sentences))
	for i, s := range d.sentences {
		ws := ContentWords(d.cleaned(i, s.fillers))
		if len(ws) < minRepeatWords {
			continue
		}
		g := map[string]bool{}
		for k := 1; k < len(ws); k++ {
			g[ws[k-1]+" "+ws[k]] = true
		}
		grams[i] = g
		best, of := 0.0, -1
		for j := 0; j < i; j++ {
			if grams[j] == nil {
				continue
			}
			common := 0
			for k := range g {
				if grams[j][k] {
					common++
				}
			}
			ov := float64(common) / float64(min(len(g), len(grams[j])))
			if ov > best {
				best, of = ov, j
			}
		}
		if of >= 0 && best >= repeatOverlap {
			d.repeats = append(d.repeats, repeat{index: i, of: of, overlap: best})
		}
	}
}

// prose returns the range from the first to the last sentence describing
// the output's shape, when there are minShape of them and no format is
// stated.
func (d *doc) prose() (shape, bool) {
	if d.hasFormat {
		return shape{}, false
	}
	var p shape
	for _, s := range d.sentences {
		if shapeRe.MatchString(d.text[s.start:s.end]) {
			if p.count == 0 {
				p.start = s.start
			}
			p.end = s.end
			p.count++
		}
	}
	return p, p.count >= minShape
}

// edit says what render removes.
type edit struct {
	fillers []rng
	drop    map[int]bool
}

// render rebuilds the prompt with e applied and whitespace normalised:
// runs of spaces collapse to one, at most one blank line is kept between
// lines, leading indentation stays.
func (d *doc) render(e edit) string {
	var b strings.Builder
	sep := ""
	for i, s := range d.sentences {
		if i > 0 {
			sep = strongest(sep, d.text[d.sentences[i-1].end:s.start])
		}
		if e.drop[i] {
			continue
		}
		c := d.cleaned(i, e.fillers)
		if c == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(normSep(sep))
		}
		b.WriteString(c)
		sep = ""
	}
	return b.String()
}

// strongest keeps the separator with more line breaks.
func strongest(a, b string) string {
	if strings.Count(b, "\n") > strings.Count(a, "\n") || a == "" {
		return b
	}
	return a
}

func normSep(s string) string {
	n := strings.Count(s, "\n")
	if n == 0 {
		return " "
	}
	indent := s[strings.LastIndexByte(s, '\n')+1:]
	return strings.Repeat("\n", min(n, 2)) + indent
}

// suggest returns the leaner prompt: fillers cut, repeats whose every
// content word is said elsewhere dropped, whitespace normalised, and
// FormatLine appended when the output's parts are described in prose
// (and no format is stated). A prompt that states no format but describes
// no parts either gets no format line: what it asks for may well be prose
// (a summary, an explanation), and only its author knows which format fits.
func (d *doc) suggest() string {
	drop := map[int]bool{}
	for _, r := range d.repeats {
		drop[r.index] = true
		rest := map[string]bool{}
		for i := range d.sentences {
			if !drop[i] {
				for _, w := range ContentWords(d.cleaned(i, d.fillers)) {
					rest[w] = true
				}
			}
		}
		for _, w := range ContentWords(d.cleaned(r.index, d.fillers)) {
			if !rest[w] {
				delete(drop, r.index)
				break
			}
		}
	}
	out := d.render(edit{fillers: d.fillers, drop: drop})
	if _, parts := d.prose(); parts {
		if out != "" {
			out += "\n"
		}
		out += FormatLine
	}
	return out
}

func (d *doc) pos(off int) Pos {
	line := 0
	for line+1 < len(d.lines) && d.lines[line+1] <= off {
		line++
	}
	return Pos{Line: line + 1, Col: off - d.lines[line] + 1, Offset: off}
}

func (d *doc) span(start, end int) Span { return Span{Start: d.pos(start), End: d.pos(end)} }
