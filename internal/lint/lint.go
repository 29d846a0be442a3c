// Package lint finds input tokens a prompt pays for without needing them —
// filler and politeness, repeated instructions, output shapes described in
// long prose — and the missing output format and length bound that make
// answers longer than they need to be. It proposes a leaner prompt that
// keeps every content word, and prices both through package catalog.
package lint

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// Kind names a kind of finding.
type Kind string

const (
	KindFiller   Kind = "filler"               // politeness and padding phrases
	KindRepeat   Kind = "repeated-instruction" // a sentence that restates an earlier one
	KindProse    Kind = "long-prose"           // the output's shape described sentence by sentence
	KindNoFormat Kind = "no-output-format"     // no JSON/list/table/schema/"respond with"
	KindNoLength Kind = "no-length-bound"      // no word, sentence or token limit
)

// Pos is a position in the prompt: a 1-based line, a 1-based byte column
// (as Go's own tools count), and the 0-based byte offset.
type Pos struct {
	Line   int `json:"line"`
	Col    int `json:"col"`
	Offset int `json:"offset"`
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Span is the half-open byte range [Start, End) of the prompt.
type Span struct {
	Start Pos `json:"start"`
	End   Pos `json:"end"`
}

func (s Span) String() string { return s.Start.String() + "-" + s.End.String() }

// Finding is one problem. Tokens is what it costs on every call: for filler
// and repeats the tokens saved by removing it alone, for long prose the
// tokens of the prose, and zero for what is missing (that costs output
// tokens, which the prompt cannot count).
type Finding struct {
	Kind    Kind   `json:"kind"`
	Span    Span   `json:"span"`
	Text    string `json:"text"`
	Tokens  int    `json:"tokens"`
	Message string `json:"message"`
}

// Report is the result of Lint.
type Report struct {
	Tokens     int       `json:"tokens"`
	Findings   []Finding `json:"findings"`
	Suggestion string    `json:"suggestion"`
	// SuggestionTokens is the token count of Suggestion.
	SuggestionTokens int `json:"suggestion_tokens"`
	// Unchanged is true when Suggestion is the prompt itself (but for
	// leading and trailing white space): there is nothing to cut.
	Unchanged bool `json:"unchanged"`
}

// Saved returns the tokens the suggestion saves per call (negative when the
// appended format line outweighs what was removed).
func (r Report) Saved() int { return r.Tokens - r.SuggestionTokens }

// FormatLine is appended to the suggestion when the prompt describes the
// parts of its output in prose (a KindProse finding) and states no format:
// the parts become fields.
const FormatLine = "Respond in JSON only."

// Linter lints prompts. It is immutable and safe for concurrent use.
type Linter struct {
	counter *tokens.Counter
}

// New returns a Linter that counts with c.
func New(c *tokens.Counter) *Linter { return &Linter{counter: c} }

// Count returns the tokens of s.
func (l *Linter) Count(s string) int { return l.counter.Count(s) }

// Lint analyses text. Findings are ordered by start offset, then kind; the
// result depends only on text.
func (l *Linter) Lint(text string) Report {
	doc := parse(text)
	rep := Report{Tokens: l.counter.Count(text)}
	// Removal is measured against the prompt with whitespace normalised
	// only, so a finding's tokens are its own and not the whitespace's.
	base := l.counter.Count(doc.render(edit{}))
	var fs []Finding
	for _, f := range doc.fillers {
		fs = append(fs, Finding{Kind: KindFiller, Span: doc.span(f.start, f.end), Text: text[f.start:f.end],
			Tokens:  base - l.counter.Count(doc.render(edit{fillers: []rng{f}})),
			Message: "filler or politeness phrase; the model does not need it"})
	}
	for _, r := range doc.repeats {
		s := doc.sentences[r.index]
		first := doc.sentences[r.of]
		fs = append(fs, Finding{Kind: KindRepeat, Span: doc.span(s.start, s.end), Text: text[s.start:s.end],
			Tokens:  base - l.counter.Count(doc.render(edit{drop: map[int]bool{r.index: true}})),
			Message: fmt.Sprintf("repeats the instruction at %s (%.0f %% overlap)", doc.pos(first.start), r.overlap*100)})
	}
	if p, ok := doc.prose(); ok {
		fs = append(fs, Finding{Kind: KindProse, Span: doc.span(p.start, p.end), Text: text[p.start:p.end],
			Tokens:  l.counter.Count(text[p.start:p.end]),
			Message: fmt.Sprintf("%d sentences describe the output's shape in prose; a format spec (e.g. JSON fields) or 2-3 examples would be shorter", p.count)})
	}
	whole := doc.span(0, len(text))
	if !doc.hasFormat {
		fs = append(fs, Finding{Kind: KindNoFormat, Span: whole,
			Message: "no output format stated (JSON, list, table, schema, \"respond with\"); answers run longer — add one line saying what to return"})
	}
	if !doc.hasLength {
		fs = append(fs, Finding{Kind: KindNoLength, Span: whole,
			Message: "no length bound (max words/sentences/tokens); state one or set max_tokens"})
	}
	// Spans first by position; what is missing from the whole prompt last.
	sort.SliceStable(fs, func(i, j int) bool {
		if wi, wj := fs[i].Kind == KindNoFormat || fs[i].Kind == KindNoLength, fs[j].Kind == KindNoFormat || fs[j].Kind == KindNoLength; wi != wj {
			return wj
		}
		return fs[i].Span.Start.Offset < fs[j].Span.Start.Offset
	})
	rep.Findings = fs
	rep.Suggestion = doc.suggest()
	rep.SuggestionTokens = l.counter.Count(rep.Suggestion)
	rep.Unchanged = rep.Suggestion == strings.TrimSpace(text)
	return rep
}

// Cost returns what calls calls of a prompt of n input tokens cost on m on
// demand, exact to the nano-dollar: the tokens of all calls are priced at
// once, so no per-call rounding accumulates. It fails when the product
// would overflow.
func Cost(m *catalog.Model, n, calls int) (llm.Money, error) {
	if n < 0 || calls < 0 {
		return 0, fmt.Errorf("lint: negative tokens or calls")
	}
	total := int64(n) * int64(calls)
	if calls != 0 && total/int64(calls) != int64(n) {
		return 0, fmt.Errorf("lint: %d tokens × %d calls overflows", n, calls)
	}
	if r := int64(m.Rates(catalog.Terms{}).Input.Rate); r > 0 && total > math.MaxInt64/r {
		return 0, fmt.Errorf("lint: %d tokens × %d calls is too large to price", n, calls)
	}
	c, _ := m.Cost(llm.Usage{InputTokens: int(total)}, catalog.Terms{}) // on demand, input only: always exact
	return c, nil
}

// Percent returns part/whole in tenths of a percent, rounded half away from
// zero, so reports are identical everywhere; zero when whole is zero.
func Percent(part, whole int) int {
	if whole == 0 {
		return 0
	}
	p := int64(part) * 1000
	if p < 0 {
		return int((p - int64(whole)/2) / int64(whole))
	}
	return int((p + int64(whole)/2) / int64(whole))
}

// FormatPercent renders tenths of a percent, e.g. 705 → "70.5".
func FormatPercent(tenths int) string {
	sign := ""
	if tenths < 0 {
		sign, tenths = "-", -tenths
	}
	return fmt.Sprintf("%s%d.%d", sign, tenths/10, tenths%10)
}

// ContentWords returns the lower-cased words of s that are not stop words,
// in order. Tests use it to check that a suggestion keeps every content
// word.
func ContentWords(s string) []string {
	var out []string
	for _, w := range words(s) {
		if !stop[w] {
			out = append(out, w)
		}
	}
	return out
}

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !isWordRune(r) })
}
