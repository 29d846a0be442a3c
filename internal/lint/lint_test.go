package lint

import (
	"os"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

func linter(t *testing.T) *Linter {
	t.Helper()
	c, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	return New(c)
}

// got is a finding reduced to what the table asserts.
type got struct {
	kind Kind
	span string
	text string
}

func findings(r Report, kinds ...Kind) []got {
	var out []got
	for _, f := range r.Findings {
		for _, k := range kinds {
			if f.Kind == k {
				out = append(out, got{f.Kind, f.Span.String(), f.Text})
			}
		}
	}
	return out
}

func TestFindings(t *testing.T) {
	l := linter(t)
	for _, tc := range []struct {
		name   string
		prompt string
		kinds  []Kind
		want   []got
	}{
		{"filler at start and end", "Could you please summarise the text? Thanks in advance.", []Kind{KindFiller},
			[]got{{KindFiller, "1:1-1:17", "Could you please"}, {KindFiller, "1:38-1:55", "Thanks in advance"}}},
		{"filler on second line", "Summarise the text.\nKindly keep names.\nAs an AI, feel free to skip dates.", []Kind{KindFiller},
			[]got{{KindFiller, "2:1-2:7", "Kindly"}, {KindFiller, "3:1-3:9", "As an AI"}, {KindFiller, "3:11-3:23", "feel free to"}}},
		{"mid-sentence please", "List the risks, please, in order.", []Kind{KindFiller},
			[]got{{KindFiller, "1:17-1:23", "please"}}},
		{"would you is not filler mid-sentence", "Say which model would you pick and why.", []Kind{KindFiller}, nil},
		{"pleased is not please", "I am pleased with the draft.", []Kind{KindFiller}, nil},
		{"repeat", "Summarise the quarterly sales report for the board.\nUse plain words.\nSummarise the quarterly sales report.", []Kind{KindRepeat},
			[]got{{KindRepeat, "3:1-3:38", "Summarise the quarterly sales report."}}},
		{"different sentences are not repeats", "Summarise the quarterly sales report.\nTranslate the annual marketing plan.", []Kind{KindRepeat}, nil},
		{"long prose", "Write a bio. It should start with the name. Then mention the role. Include two hobbies. Sign off.", []Kind{KindProse},
			[]got{{KindProse, "1:14-1:88", "It should start with the name. Then mention the role. Include two hobbies."}}},
		{"prose with a format is fine", "Write a bio as JSON. It should start with the name. Then mention the role. Include two hobbies.", []Kind{KindProse}, nil},
		{"no format, no length", "Write a bio.\n", []Kind{KindNoFormat, KindNoLength},
			[]got{{KindNoFormat, "1:1-2:1", ""}, {KindNoLength, "1:1-2:1", ""}}},
		{"format and length stated", "Write a bio as a bulleted list of at most 5 items.", []Kind{KindNoFormat, KindNoLength}, nil},
		{"respond with and word count", "Respond with a 50-word bio.", []Kind{KindNoFormat, KindNoLength}, nil},
		{"max_tokens", "Output only the answer; max_tokens 100.", []Kind{KindNoFormat, KindNoLength}, nil},
		{"comfortable is not table", "Describe a comfortable chair.", []Kind{KindNoFormat},
			[]got{{KindNoFormat, "1:1-1:30", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := findings(l.Lint(tc.prompt), tc.kinds...)
			if len(g) != len(tc.want) {
				t.Fatalf("findings = %+v, want %+v", g, tc.want)
			}
			for i := range g {
				if g[i] != tc.want[i] {
					t.Errorf("finding %d = %+v, want %+v", i, g[i], tc.want[i])
				}
			}
		})
	}
}

func TestFindingTokens(t *testing.T) {
	r := linter(t).Lint("Summarise the text. Thank you so much for your help!")
	if len(r.Findings) == 0 || r.Findings[0].Kind != KindFiller || r.Findings[0].Tokens <= 0 {
		t.Fatalf("findings = %+v", r.Findings)
	}
	// A missing format or bound costs output tokens, not prompt tokens.
	for _, f := range r.Findings[1:] {
		if f.Tokens != 0 {
			t.Errorf("%s costs %d tokens", f.Kind, f.Tokens)
		}
	}
}

func TestSuggestion(t *testing.T) {
	l := linter(t)
	for _, tc := range []struct{ prompt, want string }{
		// No format stated, but no parts described either: no format line,
		// which could change what is asked for.
		{"Could you please summarise the text?", "Summarise the text."},
		{"Hello!\n\n  I would like you to   name three risks.   Thank you!", "Name three risks."},
		{"Name the capital, thanks.\nAnswer in one word.", "Name the capital.\nAnswer in one word."},
		// The output's parts described in prose: they become JSON fields.
		{"Write a bio. It should start with the name. Then mention the role. Include two hobbies.",
			"Write a bio. It should start with the name. Then mention the role. Include two hobbies.\n" + FormatLine},
		// An essay described part by part is still an essay.
		{"Please write an essay on the printing press. It should start with Gutenberg. Then mention the Reformation. Include the spread of literacy.",
			"Write an essay on the printing press. It should start with Gutenberg. Then mention the Reformation. Include the spread of literacy."},
		{"Reply as JSON. Keep the summary short. Please, keep the summary short.", "Reply as JSON. Keep the summary short."},
		// The repeat adds "board", so it stays.
		{"Summarise the quarterly sales report.\nSummarise the quarterly sales report for the board.\nUse a table.",
			"Summarise the quarterly sales report.\nSummarise the quarterly sales report for the board.\nUse a table."},
	} {
		if got := l.Lint(tc.prompt).Suggestion; got != tc.want {
			t.Errorf("Lint(%q).Suggestion =\n%q\nwant\n%q", tc.prompt, got, tc.want)
		}
	}
}

// TestProseForms: a prompt that asks for a form of prose states its output
// format; a prompt that only mentions one (as its input) does not.
func TestProseForms(t *testing.T) {
	l := linter(t)
	for _, tc := range []struct {
		prompt string
		format bool
	}{
		{"Write a 500-word essay on the history of the printing press.", true},
		{"Draft a short cover letter for a data analyst job.", true},
		{"Tell me a story about a lighthouse keeper.", true},
		{"Compose a haiku about autumn.", true},
		{"Write an essay. It should start with a question. Then mention two sources. Include a conclusion.", true},
		{"Summarise this article about the printing press.", false},
		{"Extract the sender of the email below.", false},
	} {
		r := l.Lint(tc.prompt)
		if got := len(findings(r, KindNoFormat, KindProse)) == 0; got != tc.format {
			t.Errorf("Lint(%q): format stated %v, want %v; findings %+v", tc.prompt, got, tc.format, r.Findings)
		}
		if strings.Contains(r.Suggestion, FormatLine) {
			t.Errorf("Lint(%q) appends %q, which changes what it asks for", tc.prompt, FormatLine)
		}
	}
}

// TestUnchanged: a prompt with nothing to cut is reported as such, so that
// no "suggested" copy of it is shown.
func TestUnchanged(t *testing.T) {
	l := linter(t)
	for _, tc := range []struct {
		prompt    string
		unchanged bool
	}{
		{"Summarise the text in at most 3 sentences as a bulleted list.\n", true},
		{"Write a 500-word essay on the printing press.", true},
		{"Summarise the text.", true}, // findings (no format), but nothing to cut
		{"Please summarise the text.", false},
		{"Summarise   the text.", false}, // white space inside is normalised
	} {
		r := l.Lint(tc.prompt)
		if r.Unchanged != tc.unchanged {
			t.Errorf("Lint(%q).Unchanged = %v, want %v (suggestion %q)", tc.prompt, r.Unchanged, tc.unchanged, r.Suggestion)
		}
		if r.Unchanged && r.Saved() != l.Count(tc.prompt)-l.Count(strings.TrimSpace(tc.prompt)) {
			t.Errorf("Lint(%q): unchanged but saves %d tokens", tc.prompt, r.Saved())
		}
	}
}

// TestSuggestionKeepsContentWords checks that only filler is dropped: every
// content word of the prompt outside filler phrases is in the suggestion.
func TestSuggestionKeepsContentWords(t *testing.T) {
	l := linter(t)
	prompts := []string{
		"Summarise the quarterly sales report.\nSummarise the quarterly sales report for the board.\nPlease use a table.",
		"Could you kindly translate this into French? I need you to keep the names. It would be great if you could keep the names as they are.",
		"As an AI, feel free to refuse.\n\n\tPlease, don't invent facts!  Thank you very much.",
	}
	for _, f := range []string{"testdata/verbose.txt", "testdata/concise.txt"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, string(b))
	}
	for _, p := range prompts {
		d := parse(p)
		var noFiller strings.Builder
		at := 0
		for _, f := range d.fillers {
			noFiller.WriteString(p[at:f.start] + " ")
			at = f.end
		}
		noFiller.WriteString(p[at:])
		kept := map[string]bool{}
		sug := l.Lint(p).Suggestion
		for _, w := range ContentWords(sug) {
			kept[w] = true
		}
		for _, w := range ContentWords(noFiller.String()) {
			if !kept[w] {
				t.Errorf("suggestion for %q drops %q:\n%s", p, w, sug)
			}
		}
	}
}

// TestClassicCase reproduces the verbose product-description request
// against a concise JSON-format one.
func TestClassicCase(t *testing.T) {
	l := linter(t)
	read := func(name string) string {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	v, c := l.Count(read("verbose.txt")), l.Count(read("concise.txt"))
	if v < 110 || v > 130 {
		t.Errorf("verbose prompt has %d tokens, want 110-130", v)
	}
	if c < 30 || c > 40 {
		t.Errorf("concise prompt has %d tokens, want 30-40", c)
	}
	saving := Percent(v-c, v)
	if saving < 600 || saving > 800 {
		t.Errorf("saving = %s %%, want 60-80 %%", FormatPercent(saving))
	}
	t.Logf("verbose %d tokens, concise %d tokens, %s %% fewer", v, c, FormatPercent(saving))

	// The concise prompt has nothing to find.
	if r := l.Lint(read("concise.txt")); len(r.Findings) != 0 || r.Suggestion != strings.TrimSpace(read("concise.txt")) {
		t.Errorf("concise: findings %+v, suggestion %q", r.Findings, r.Suggestion)
	}
	r := l.Lint(read("verbose.txt"))
	if r.Saved() <= 0 {
		t.Errorf("suggestion saves %d tokens", r.Saved())
	}
}

func TestCost(t *testing.T) {
	m, err := catalog.MustBuiltin().Resolve("nova-pro")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n, calls int
		want     llm.Money
	}{
		{122, 1_000_000, 97_600_000_000}, // $97.60 at $0.80/1M
		{38, 1_000_000, 30_400_000_000},
		{1, 1, 800}, // $0.80 per 1M tokens is 800 nano-dollars a token
		{3, 1000, 2_400_000},
		{0, 1_000_000, 0},
	} {
		got, err := Cost(m.Model, tc.n, tc.calls)
		if err != nil || got != tc.want {
			t.Errorf("Cost(%d, %d) = %d, %v; want %d", tc.n, tc.calls, got, err, tc.want)
		}
		if want, _ := m.Model.Cost(llm.Usage{InputTokens: tc.n * tc.calls}, catalog.Terms{}); got != want {
			t.Errorf("Cost(%d, %d) = %d, catalog says %d", tc.n, tc.calls, got, want)
		}
	}
	if _, err := Cost(m.Model, 1<<40, 1<<30); err == nil {
		t.Error("want an overflow error")
	}
}

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		part, whole int
		want        string
	}{{84, 122, "68.9"}, {-84, 122, "-68.9"}, {1, 3, "33.3"}, {2, 3, "66.7"}, {5, 0, "0.0"}} {
		if got := FormatPercent(Percent(tc.part, tc.whole)); got != tc.want {
			t.Errorf("Percent(%d, %d) = %s, want %s", tc.part, tc.whole, got, tc.want)
		}
	}
}
