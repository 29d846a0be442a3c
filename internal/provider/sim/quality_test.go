package sim

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

func model(tb testing.TB, id string) *catalog.Model {
	tb.Helper()
	t, err := catalog.MustBuiltin().Resolve(id)
	if err != nil || t.Model == nil {
		tb.Fatalf("Resolve(%s): %v", id, err)
	}
	return t.Model
}

// prompts of a support desk, easy and hard, varied so that the per-prompt
// term of Difficulty averages out.
func supportPrompts(n int) (easy, hard []string) {
	for i := range n {
		easy = append(easy, fmt.Sprintf("Hi, I am customer %d. How do I reset my password?", i))
		hard = append(hard, fmt.Sprintf("Since deploy %d our Kubernetes pods crash with exit code 137 and the readiness probe "+
			"times out; we tried doubling memory but nothing helped. Why, and how do we debug it step by step?", i))
	}
	return easy, hard
}

func TestSkillOrder(t *testing.T) {
	order := []string{"nova-micro", "nova-lite", "nova-pro", "claude-3-7-sonnet", "claude-opus-4"}
	for i := 1; i < len(order); i++ {
		if a, b := Skill(model(t, order[i-1])), Skill(model(t, order[i])); a >= b {
			t.Errorf("Skill(%s) = %g, not below Skill(%s) = %g", order[i-1], a, order[i], b)
		}
	}
	// A model the table does not know is rated by its output price.
	cheap := &catalog.Model{ID: "mine-cheap", Prices: catalog.Prices{RateSet: catalog.RateSet{Output: catalog.Known(140_000_000)}}}
	dear := &catalog.Model{ID: "mine-dear", Prices: catalog.Prices{RateSet: catalog.RateSet{Output: catalog.Known(15_000_000_000)}}}
	if s := Skill(cheap); s != 0.40 {
		t.Errorf("Skill at Nova Micro's price = %g, want 0.40", s)
	}
	if a, b := Skill(cheap), Skill(dear); !(b > a && b <= 0.95) {
		t.Errorf("Skill by price: cheap %g, dear %g; want dear higher, at most 0.95", a, b)
	}
}

func TestDifficulty(t *testing.T) {
	easy, hard := supportPrompts(50)
	var e, h float64
	for i := range easy {
		e += Difficulty(easy[i])
		h += Difficulty(hard[i])
	}
	e, h = e/50, h/50
	if !(e < 0.3 && h > 0.5) {
		t.Errorf("mean difficulty: easy %.2f, hard %.2f; want below 0.3 and above 0.5", e, h)
	}
	if Difficulty("Walk me through it\nstep  by STEP") != Difficulty("walk me through it step by step") {
		t.Error("difficulty depends on case or spacing")
	}
	// Cues start words: "improve" is not "prove", "room" not "oom".
	if a, b := Difficulty("how can we improve the room"), Difficulty("how can we prove the oom"); a >= b {
		t.Errorf("difficulty %.3f with cues inside words, %.3f with the cues; want lower", a, b)
	}
	for _, p := range []string{"", "x", strings.Repeat("why explain debug error ``` = ", 500)} {
		if d := Difficulty(p); d < 0 || d > 1 {
			t.Errorf("Difficulty(%.20q) = %g, outside [0, 1]", p, d)
		}
	}
}

// Marks follow skill minus difficulty, and a stronger model is never judged
// worse than a weaker one on the same prompt.
func TestMark(t *testing.T) {
	micro, lite, pro := model(t, "nova-micro"), model(t, "nova-lite"), model(t, "nova-pro")
	easy, hard := supportPrompts(200)
	accepted := func(m *catalog.Model, ps []string) int {
		n := 0
		for _, p := range ps {
			if Mark(m, p, 1) >= 7 {
				n++
			}
		}
		return n
	}
	for _, m := range []*catalog.Model{micro, lite, pro} {
		if e, h := accepted(m, easy), accepted(m, hard); e <= h || e < 180 {
			t.Errorf("%s: %d easy and %d hard of 200 accepted; want easy above hard and above 180", m.ID, e, h)
		}
	}
	if a, b, c := accepted(micro, hard), accepted(lite, hard), accepted(pro, hard); !(a < b && b < c && c > 3*a && a < 40) {
		t.Errorf("hard prompts accepted: micro %d, lite %d, pro %d of 200; want increasing, micro below 40, pro over 3× micro", a, b, c)
	}
	for _, p := range append(easy, hard...) {
		mm, ml, mp := Mark(micro, p, 1), Mark(lite, p, 1), Mark(pro, p, 1)
		for _, m := range []int{mm, ml, mp} {
			if m < 1 || m > 10 || m == 6 {
				t.Fatalf("mark %d for %q: want 1–5 or 7–10", m, p)
			}
		}
		if mm > ml || ml > mp {
			t.Fatalf("%q: micro %d, lite %d, pro %d: a stronger model marked lower", p, mm, ml, mp)
		}
		if Mark(pro, p, 1) != mp {
			t.Fatal("Mark is not deterministic")
		}
	}
	differ := 0
	for _, p := range hard {
		if Mark(micro, p, 1) != Mark(micro, p, 2) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("the seed does not change any mark")
	}
}

func classifierRequest(model, system, user string) *llm.Request {
	r := ask(model, user)
	r.System = []llm.SystemBlock{{Text: system}}
	return r
}

// The simulator answers Penny's routing agent with a bare label: hard
// prompts mostly "complex", easy ones "simple".
func TestClassifier(t *testing.T) {
	p := newSim(t, Options{Seed: 3})
	sys := "You are a request router. Classify the user's message into exactly one of these labels: complex, simple.\n" +
		"Reply with the label only: one word, no punctuation, no explanation."
	easy, hard := supportPrompts(100)
	count := func(ps []string, want string) int {
		n := 0
		for _, q := range ps {
			got := invoke(t, p, classifierRequest("nova-micro", sys, q)).Text()
			if got != "complex" && got != "simple" {
				t.Fatalf("classifier answered %q, want a bare label", got)
			}
			if got == want {
				n++
			}
		}
		return n
	}
	if n := count(hard, "complex"); n < 80 {
		t.Errorf("%d of 100 hard prompts classified complex, want at least 80", n)
	}
	if n := count(easy, "simple"); n < 95 {
		t.Errorf("%d of 100 easy prompts classified simple, want at least 95", n)
	}
	// Labels that are not levels: the one the message names, else the first.
	topics := "Classify the user's message into exactly one of these labels: billing, outage, other."
	if got := invoke(t, p, classifierRequest("nova-micro", topics, "Is there an outage in eu-west?")).Text(); got != "outage" {
		t.Errorf("topic label = %q, want outage", got)
	}
	if got := invoke(t, p, classifierRequest("nova-micro", topics, "Hello there")).Text(); got != "billing" {
		t.Errorf("no label named: %q, want the first, billing", got)
	}
	// Any other system prompt gets the usual labelled prose.
	if got := invoke(t, p, classifierRequest("nova-micro", "Be brief.", "Hello there")).Text(); !strings.HasPrefix(got, "[simulated ") {
		t.Errorf("ordinary answer %q lacks the simulator's label", got)
	}
}

// The simulator's judge marks its own answers with Mark, read from the
// answer's label, and answers a bare integer.
func TestJudge(t *testing.T) {
	p := newSim(t, Options{Seed: 5})
	const sys = "You grade answers. Reply with a single integer from 0 to 10, and nothing else."
	_, hard := supportPrompts(20)
	for _, q := range hard {
		for _, id := range []string{"nova-micro", "nova-pro"} {
			answer := invoke(t, p, ask(id, q)).Text()
			user := "QUESTION:\n" + q + "\n\nREFERENCE:\n\n\nANSWER:\n" + answer
			got := invoke(t, p, classifierRequest("nova-lite", sys, user)).Text()
			if want := strconv.Itoa(Mark(model(t, id), q, 5)); got != want {
				t.Fatalf("judge of %s's answer = %q, want %s", id, got, want)
			}
		}
	}
	for _, tc := range []struct{ answer, want string }{
		{"", "0"},
		{"Paris is the capital of France.", "5"}, // not the simulator's: it cannot tell
		{"[simulated no.such-model] text", "5"},
	} {
		user := "QUESTION:\nWhat is the capital of France?\n\nANSWER:\n" + tc.answer
		if got := invoke(t, p, classifierRequest("nova-lite", sys, user)).Text(); got != tc.want {
			t.Errorf("judge of %q = %q, want %s", tc.answer, got, tc.want)
		}
	}
}
