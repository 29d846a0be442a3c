package sim

import (
	"hash/fnv"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/catalog"
)

// Simulated quality. The simulator has a notion of how good its answers
// are, so that routing can be judged offline: every prompt has a
// difficulty, every model a skill, and whether a model's answer to a
// prompt is acceptable is a deterministic draw that is likelier the more
// the model's skill exceeds the prompt's difficulty. The draws are shared
// by all models for a prompt (what makes a prompt hard for one model makes
// it hard for all), so a stronger model never gets a lower mark than a
// weaker one on the same prompt. None of this is a measurement of the real models: it
// is a plausible stand-in, clearly labelled as simulated wherever it is
// shown.

// skills are the simulated skills of the catalog's chat models, from 0 to
// 1, ordered as public leaderboards broadly order them.
var skills = map[string]float64{
	"llama3-1-8b":       0.38,
	"nova-micro":        0.40,
	"nova-lite":         0.50,
	"claude-3-haiku":    0.50,
	"mistral-small":     0.52,
	"llama3-1-70b":      0.62,
	"llama3-3-70b":      0.64,
	"claude-3-5-haiku":  0.64,
	"mistral-large":     0.68,
	"nova-pro":          0.70,
	"nova-premier":      0.80,
	"claude-3-5-sonnet": 0.80,
	"claude-3-7-sonnet": 0.85,
	"claude-sonnet-4":   0.88,
	"claude-opus-4":     0.92,
}

// Skill is model m's simulated skill, from 0 to 1. A model the table does
// not know (one a user added to the catalog) gets a skill from its output
// price: 0.40 at Nova Micro's price, +0.075 per doubling, within 0.3–0.95.
func Skill(m *catalog.Model) float64 {
	if s, ok := skills[m.ID]; ok {
		return s
	}
	out := m.Rates(catalog.Terms{}).Output.Rate.Dollars().Dollars()
	if out <= 0 {
		return 0.4
	}
	return math.Min(0.95, math.Max(0.3, 0.40+0.075*math.Log2(out/0.14)))
}

// difficulty cues: each group of cues adds its weight once per cue found,
// up to its cap.
var difficultyCues = []struct {
	cues   []string
	weight float64
	cap    float64
}{
	// asking for reasoning, diagnosis or a procedure
	{[]string{"why", "explain", "troubleshoot", "debug", "diagnos", "root cause", "step by step", "step-by-step",
		"walk me through", "prove", "what could", "what should we check", "derive", "analy", "compare",
		"trade-off", "tradeoff", "design"}, 0.07, 0.21},
	// technical detail
	{[]string{"error", "latency", "timeout", "oom", "tls", "crash", "leak", "connection", "kubernetes", "database",
		"deploy", "config", "container", "probe", "i/o", "pool", "runtime", "exit code", "p99", "instances",
		"algorithm", "complexity", "function", "equation", "integral", "theorem", "regex", "sql", "concurren"}, 0.04, 0.20},
	// constraints and failed attempts
	{[]string{"without", "only on", "but only", "nothing helped", "we tried", "we changed nothing",
		"must", "at most", "at least", "exactly", "constraint"}, 0.05, 0.15},
}

// codeOrMath marks code blocks and formulas.
var codeOrMath = regexp.MustCompile("```|[=^∫∑√]|\\b[a-z]\\([a-z]\\)")

// Difficulty is how hard the simulator deems a prompt, from 0 (a greeting)
// to 1: longer prompts, requests for reasoning or diagnosis, technical
// detail, constraints, several questions and code or math make it harder,
// and a per-prompt term (up to ±0.08, from a hash of the prompt) stands for
// everything a prompt's surface does not show.
func Difficulty(prompt string) float64 {
	// Cues match at the start of a word, in the prompt with case and white
	// space folded: "prove" is not in "improve", "oom" not in "room".
	p := " " + normPrompt(prompt)
	words := len(strings.Fields(p))
	d := 0.08 + 0.06*math.Log2(1+float64(words)/10)
	for _, g := range difficultyCues {
		add := 0.0
		for _, c := range g.cues {
			if strings.Contains(p, " "+c) {
				add += g.weight
			}
		}
		d += math.Min(add, g.cap)
	}
	if codeOrMath.MatchString(p) {
		d += 0.15
	}
	if q := strings.Count(p, "?"); q > 1 {
		d += 0.05 * math.Min(float64(q-1), 3)
	}
	d += 0.16 * (unit(hashOf("difficulty", normPrompt(prompt))) - 0.5)
	return math.Min(1, math.Max(0, d))
}

// Acceptable is the probability that a model of skill s answers a prompt
// of difficulty d acceptably.
func Acceptable(s, d float64) float64 {
	return 1 / (1 + math.Exp(-(s-d)/0.07))
}

// Mark is the simulated judge's mark, from 0 to 10, of model m's answer to
// prompt (the text of the last user turn) under seed: 7–10 for an
// acceptable answer, 1–5 for one that is not. It is deterministic, and
// every model's answer to a prompt is judged against the same draws, so
// marks are ordered by skill: all acceptable answers to a prompt get the
// same mark, and so do all unacceptable ones.
func Mark(m *catalog.Model, prompt string, seed int64) int {
	key := normPrompt(prompt) + "\x00" + strconv.FormatInt(seed, 10)
	u := unit(hashOf("quality", key))
	v := unit(hashOf("mark", key))
	if u < Acceptable(Skill(m), Difficulty(prompt)) {
		return 7 + int(v*4)
	}
	return 1 + int(v*5)
}

// normPrompt folds case and white space, so a prompt's quality does not
// depend on how it is spaced.
func normPrompt(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

func hashOf(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return mix64(h.Sum64())
}

// mix64 is SplitMix64's finaliser: FNV's low bits alone mix poorly.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// The simulator's two special modes: Penny's routing agent and judge (and
// anyone else's with the same shape of prompt) get bare answers that their
// strict parsers accept, without the "[simulated …]" label.

// labelsLine finds a classifier's label list in its instructions.
var labelsLine = regexp.MustCompile(`(?i)one of (?:these|the following) labels:\s*([^\n]+)`)

// labelRanks orders common labels by how much model a request needs.
var labelRanks = map[string]float64{
	"simple": 0, "easy": 0, "basic": 0, "trivial": 0, "faq": 0, "cheap": 0, "low": 0, "small": 0, "light": 0, "routine": 0,
	"medium": 0.5, "moderate": 0.5, "normal": 0.5, "standard": 0.5, "mid": 0.5, "intermediate": 0.5,
	"complex": 1, "hard": 1, "difficult": 1, "advanced": 1, "technical": 1, "expert": 1, "strong": 1, "high": 1,
	"heavy": 1, "large": 1, "reasoning": 1,
}

// classifyLabels answers a classifier's request: the labels in system, or
// ok false when system asks for no labels. When every label is a known
// level of difficulty the simulated model estimates the prompt's
// difficulty (noisier the less skilled it is) and picks the nearest level;
// otherwise it picks the first label named in the prompt, or the first
// label.
func classifyLabels(m *catalog.Model, system, prompt string, seed int64) (string, bool) {
	sm := labelsLine.FindStringSubmatch(system)
	if sm == nil {
		return "", false
	}
	var labels []string
	for _, l := range strings.Split(sm[1], ",") {
		l = strings.Trim(strings.TrimSpace(l), ".;:")
		if l != "" {
			labels = append(labels, l)
		}
	}
	if len(labels) == 0 {
		return "", false
	}
	ranked := true
	for _, l := range labels {
		if _, ok := labelRanks[strings.ToLower(l)]; !ok {
			ranked = false
		}
	}
	if !ranked {
		words := map[string]bool{}
		for _, w := range wordsOf(prompt) {
			words[w] = true
		}
		for _, l := range labels {
			if words[strings.ToLower(l)] {
				return l, true
			}
		}
		return labels[0], true
	}
	noise := (1 - Skill(m)) * 0.5 * (unit(hashOf("classify/"+m.ID, normPrompt(prompt), strconv.FormatInt(seed, 10))) - 0.5)
	want := math.Min(1, math.Max(0, (Difficulty(prompt)+noise-0.2)/0.5))
	sort.SliceStable(labels, func(i, j int) bool {
		return math.Abs(labelRanks[strings.ToLower(labels[i])]-want) < math.Abs(labelRanks[strings.ToLower(labels[j])]-want)
	})
	return labels[0], true
}

// answerLabel finds the model that wrote a simulated answer.
var answerLabel = regexp.MustCompile(`\[simulated ([^\]\s]+)\]`)

// judge answers a grader's request: a user turn with QUESTION: and ANSWER:
// sections, under instructions that mention grading. The mark is Mark for
// the model that wrote the answer, read from its "[simulated …]" label; an
// empty answer gets 0 and an answer the simulator did not write 5 (it
// cannot tell). ok is false when the request is not a grader's.
func (p *Provider) judge(system, user string) (string, bool) {
	if !strings.Contains(strings.ToLower(system), "grade") {
		return "", false
	}
	qi, ai := strings.Index(user, "QUESTION:"), strings.LastIndex(user, "ANSWER:")
	if qi < 0 || ai < qi {
		return "", false
	}
	question := user[qi+len("QUESTION:") : ai]
	if ri := strings.Index(question, "REFERENCE:"); ri >= 0 {
		question = question[:ri]
	}
	answer := strings.TrimSpace(user[ai+len("ANSWER:"):])
	if answer == "" {
		return "0", true
	}
	sm := answerLabel.FindStringSubmatch(answer)
	if sm == nil {
		return "5", true
	}
	t, err := p.cat.Resolve(sm[1])
	if err != nil || t.Model == nil {
		return "5", true
	}
	return strconv.Itoa(Mark(t.Model, strings.TrimSpace(question), p.opts.Seed)), true
}
