package modeleval

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

func TestScorers(t *testing.T) {
	cases := []struct {
		scorer, expected, output string
		want                     bool
	}{
		{"exact", "Paris", "  paris\n", true},
		{"exact", "Paris", "Paris, France", false},
		{"contains", "paris", "The capital is PARIS.", true},
		{"contains", "Lyon", "The capital is Paris.", false},
		{"regex", `^\d+$`, "42", true},
		{"regex", `^\d+$`, "the answer is 42", false},
		{"regex", `(?i)answer:\s*b\b`, "Answer: B", true},
		{"json", "", `{"a": 1}`, true},
		{"json", "", "not json", false},
		{"json", `{"a": 1, "b": [1, 2]}`, `{"b": [1,2], "a": 1.0}`, true},
		{"json", `{"a": 1}`, `{"a": 2}`, false},
		{"json", `{"ok": true}`, "```json\n{\"ok\": true}\n```", true},
		{"json", "a prose answer", `[1]`, true},
		{"number", "18", "First 12, then 6 more: 18.", true},
		{"number", "18", "18 at first, then 12", false},
		{"number", "1234.5", "The total is $1,234.50", true},
		{"number", "-3", "x = -3", true},
		{"number", "0.1", "about 0.1000000001", true},
		{"number", "0.1", "about 0.11", false},
		{"number", "7", "no digits here", false},
		{"number", "2000", "2e3", true},
	}
	for _, tc := range cases {
		s, err := NewScorer(tc.scorer, nil)
		if err != nil {
			t.Fatal(err)
		}
		it := Item{ID: "x", Prompt: "p", Expected: tc.expected}
		if err := s.Check(it); err != nil {
			t.Fatalf("%s %q: Check: %v", tc.scorer, tc.expected, err)
		}
		g, err := s.Score(context.Background(), it, tc.output)
		if err != nil {
			t.Fatal(err)
		}
		if g.Correct != tc.want || g.Score != map[bool]float64{true: 1, false: 0}[tc.want] {
			t.Errorf("%s: expected %q, output %q: got %+v, want correct=%v", tc.scorer, tc.expected, tc.output, g, tc.want)
		}
	}
	if _, err := NewScorer("fuzzy", nil); err == nil {
		t.Error("unknown scorer accepted")
	}
	if _, err := NewScorer("judge", nil); err == nil {
		t.Error("judge without a judge model accepted")
	}
	re, _ := NewScorer("regex", nil)
	if err := re.Check(Item{Expected: "(unclosed"}); err == nil {
		t.Error("bad pattern passed Check")
	}
	num, _ := NewScorer("number", nil)
	if err := num.Check(Item{Expected: "none"}); err == nil {
		t.Error("number scorer accepted an expected answer with no number")
	}
}

func TestWilson(t *testing.T) {
	cases := []struct {
		k, n   int
		lo, hi float64
	}{
		{8, 10, 0.4902, 0.9433},
		{0, 10, 0, 0.2775},
		{10, 10, 0.7225, 1},
		{50, 100, 0.4038, 0.5962},
		{0, 0, 0, 1},
	}
	for _, tc := range cases {
		lo, hi := Wilson(tc.k, tc.n, z95)
		if math.Abs(lo-tc.lo) > 5e-5 || math.Abs(hi-tc.hi) > 5e-5 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	mean, lo, hi := NormalCI([]float64{0.2, 0.4, 0.6, 0.8}, z95)
	// sd = 0.2582, se = 0.1291, half = 0.2530
	if math.Abs(mean-0.5) > 1e-9 || math.Abs(lo-0.2470) > 1e-4 || math.Abs(hi-0.7530) > 1e-4 {
		t.Errorf("NormalCI = %.4f [%.4f, %.4f]", mean, lo, hi)
	}
}

func TestParseMark(t *testing.T) {
	for s, want := range map[string]int{"8": 8, " 10\n": 10, "0": 0} {
		if got, ok := ParseMark(s); !ok || got != want {
			t.Errorf("ParseMark(%q) = %d, %v", s, got, ok)
		}
	}
	for _, s := range []string{"11", "8/10", "Score: 8", "eight", "", "-1", "7.5"} {
		if _, ok := ParseMark(s); ok {
			t.Errorf("ParseMark(%q) accepted", s)
		}
	}
}

// fake answers each model with a fixed text, charging cost per call.
type fake struct {
	calls   atomic.Int64
	answers map[string]string
	fail    map[string]bool
	latency time.Duration // reported in the response
	mu      sync.Mutex
	seen    []string
}

func (f *fake) Invoke(_ context.Context, r *llm.Request) (*llm.Response, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.seen = append(f.seen, r.Model+":"+r.LastUserText())
	f.mu.Unlock()
	if f.fail[r.Model] {
		return nil, llm.Errorf(llm.KindThrottled, "slow down")
	}
	return &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock(f.answers[r.Model])}},
		Usage:   llm.Usage{InputTokens: 10, OutputTokens: 5}, Cost: 1234, Latency: f.latency,
	}, nil
}

func (f *fake) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, errors.New("no")
}

func items(n int) []Item {
	var its []Item
	for i := 0; i < n; i++ {
		its = append(its, Item{ID: string(rune('a' + i)), Prompt: "q" + string(rune('a'+i)), Expected: "yes"})
	}
	return its
}

func TestRunResume(t *testing.T) {
	f := &fake{answers: map[string]string{"m1": "yes", "m2": "no"}, fail: map[string]bool{"m3": true}}
	sc, _ := NewScorer("contains", nil)
	var out bytes.Buffer
	opts := Options{Invoker: f, Models: []string{"m1", "m2", "m3"}, Scorer: sc, Concurrency: 3, Out: &out}
	res, err := Run(context.Background(), items(3), opts)
	if err != nil || len(res) != 9 || f.calls.Load() != 9 {
		t.Fatalf("first run: %d results, %d calls, %v", len(res), f.calls.Load(), err)
	}
	prior, err := ReadResults(bytes.NewReader(out.Bytes()))
	if err != nil || len(prior) != 9 {
		t.Fatalf("ReadResults: %d, %v", len(prior), err)
	}
	// Five items now; the three done on m1 and m2 are skipped, m3's
	// failures are tried again.
	f.calls.Store(0)
	f.fail = nil
	opts.Done = Done(prior)
	if n := Pending(items(5), opts.Models, opts.Done); n != 9 {
		t.Errorf("Pending = %d, want 9", n)
	}
	res, err = Run(context.Background(), items(5), opts)
	if err != nil || len(res) != 9 || f.calls.Load() != 9 {
		t.Fatalf("resumed run: %d results, %d calls, %v", len(res), f.calls.Load(), err)
	}
	all, err := ReadResults(bytes.NewReader(out.Bytes()))
	if err != nil || len(all) != 15 {
		t.Fatalf("after resume: %d results, %v", len(all), err)
	}
	for _, r := range all {
		if r.Error != "" {
			t.Errorf("a failed row was not superseded by its retry: %+v", r)
		}
	}
	sums := Summarize(all, opts.Models, true)
	if s := sums[0]; s.N != 5 || s.Correct != 5 || s.Cost != 5*1234 || s.PerThousand != 1234*1000 {
		t.Errorf("m1 summary %+v", s)
	}
	if s := sums[1]; s.Correct != 0 || s.Score != 0 {
		t.Errorf("m2 summary %+v", s)
	}
	// A torn last line is ignored.
	torn := out.String() + `{"id":"z","mod`
	if got, err := ReadResults(strings.NewReader(torn)); err != nil || len(got) != 15 {
		t.Errorf("torn line: %d, %v", len(got), err)
	}
	if _, err := ReadResults(strings.NewReader("garbage\n" + out.String())); err == nil {
		t.Error("a bad line in the middle was accepted")
	}
}

func TestRunCountsErrorsAsWrong(t *testing.T) {
	f := &fake{fail: map[string]bool{"m": true}}
	sc, _ := NewScorer("exact", nil)
	res, err := Run(context.Background(), items(4), Options{Invoker: f, Models: []string{"m"}, Scorer: sc})
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(res, []string{"m"}, true)[0]
	if s.Errors != 4 || s.N != 4 || s.Score != 0 || !strings.Contains(res[0].Error, "throttled") {
		t.Errorf("summary %+v, first %+v", s, res[0])
	}
	if _, err := Run(context.Background(), []Item{{ID: "r", Prompt: "p", Expected: "("}},
		Options{Invoker: f, Models: []string{"m"}, Scorer: newRegex()}); err == nil {
		t.Error("a bad regex was not rejected before the run")
	}
}

func TestJudge(t *testing.T) {
	f := &fake{answers: map[string]string{"m": "Paris", "good-judge": " 8\n", "chatty-judge": "I'd give it 8/10."}}
	for _, tc := range []struct {
		judge    string
		score    float64
		correct  bool
		unparsed bool
	}{{"good-judge", 0.8, true, false}, {"chatty-judge", 0, false, true}} {
		sc, err := NewScorer("judge", &Judge{Invoker: f, Model: tc.judge})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), items(2), Options{Invoker: f, Models: []string{"m"}, Scorer: sc})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Score != tc.score || r.Correct != tc.correct || r.JudgeUnparsed != tc.unparsed ||
				r.JudgeCostNanos != 1234 || r.JudgeInputTokens != 10 {
				t.Errorf("%s: %+v", tc.judge, r)
			}
		}
		s := Summarize(res, []string{"m"}, sc.Binary())[0]
		if s.JudgeCost != 2*1234 || s.JudgeUnparsed != map[bool]int{true: 2}[tc.unparsed] {
			t.Errorf("%s: summary %+v", tc.judge, s)
		}
	}
	if !strings.Contains(strings.Join(f.seen, "\n"), "REFERENCE:\nyes") {
		t.Errorf("judge prompt lacks the reference: %v", f.seen)
	}
}

func TestRecommend(t *testing.T) {
	cat := catalog.MustBuiltin()
	sums := []Summary{
		{Model: "nova-pro", N: 100, Score: 0.95, Lo: 0.89, PerThousand: 900},
		{Model: "nova-lite", N: 100, Score: 0.91, Lo: 0.84, PerThousand: 100},
		{Model: "nova-micro", N: 100, Score: 0.70, Lo: 0.60, PerThousand: 50},
	}
	rec := Recommend(sums, 0.9, cat)
	if rec.Model != "nova-lite" || rec.LowerMeets {
		t.Errorf("target 0.9: %+v", rec)
	}
	if rec := Recommend(sums, 0.85, cat); rec.Model != "nova-lite" || rec.LowerMeets {
		t.Errorf("target 0.85: %+v", rec)
	}
	if rec := Recommend(sums, 0.6, cat); rec.Model != "nova-micro" || !rec.LowerMeets {
		t.Errorf("target 0.6: %+v", rec)
	}
	if rec := Recommend(sums, 0.99, cat); rec.Model != "" {
		t.Errorf("target 0.99: %+v", rec)
	}
	var b bytes.Buffer
	WriteTable(&b, sums, Recommend(sums, 0.99, cat), 0.99, "exact")
	if !strings.Contains(b.String(), "no model meets the target") {
		t.Errorf("table:\n%s", b.String())
	}
	if c, s := CheapStrong(cat, "nova-pro", "nova-micro"); c != "nova-micro" || s != "nova-pro" {
		t.Errorf("CheapStrong = %s, %s", c, s)
	}
}

func TestWriteRouterData(t *testing.T) {
	its := items(3)
	res := []Result{
		{ID: "a", Model: "cheap", Correct: true, Score: 1}, {ID: "a", Model: "strong", Correct: true, Score: 1},
		{ID: "b", Model: "cheap", Correct: false}, {ID: "b", Model: "strong", Correct: true, Score: 1},
		{ID: "c", Model: "cheap", Error: "boom"}, {ID: "c", Model: "strong", Correct: true, Score: 1},
	}
	// Metadata becomes the row's tags, Penny's own keys left out.
	its[1].Metadata = map[string]string{"feature": "coding", "penny_template": "t@1"}
	var b bytes.Buffer
	n, err := WriteRouterData(&b, its, res, "cheap", "strong", false)
	want := `{"prompt":"qa","cheap_correct":true,"strong_correct":true,"id":"a"}
{"prompt":"qb","cheap_correct":false,"strong_correct":true,"tags":{"feature":"coding"},"id":"b"}
`
	if err != nil || n != 2 || b.String() != want {
		t.Errorf("WriteRouterData = %d, %v:\n%s", n, err, b.String())
	}
}

func TestReadDataset(t *testing.T) {
	good := `{"id":"1","prompt":"hi","expected":"x"}

{"id":"2","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"expected":"y","max_tokens":9}
`
	its, err := ReadDataset(strings.NewReader(good))
	if err != nil || len(its) != 2 {
		t.Fatalf("%d items, %v", len(its), err)
	}
	req, err := its[1].Request("nova-micro")
	if err != nil || req.System[0].Text != "be brief" || req.LastUserText() != "ab" || *req.Config.MaxTokens != 9 {
		t.Errorf("request %+v, %v", req, err)
	}
	for name, bad := range map[string]string{
		"no id":               `{"prompt":"hi"}`,
		"repeated id":         `{"id":"1","prompt":"a"}` + "\n" + `{"id":"1","prompt":"b"}`,
		"no prompt":           `{"id":"1","expected":"x"}`,
		"unknown key":         `{"id":"1","prompt":"a","answer":"x"}`,
		"bad role":            `{"id":"1","messages":[{"role":"tool","content":"x"}]}`,
		"ends with assistant": `{"id":"1","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}`,
		"empty":               "\n\n",
	} {
		if _, err := ReadDataset(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRunRateLimit(t *testing.T) {
	f := &fake{answers: map[string]string{"m": "yes"}}
	sc, _ := NewScorer("contains", nil)
	start := time.Now()
	// 6 requests at 50/s: the last starts 100 ms after the first.
	if _, err := Run(context.Background(), items(6), Options{Invoker: f, Models: []string{"m"}, Scorer: sc, Concurrency: 6, Rate: 50}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 95*time.Millisecond {
		t.Errorf("6 requests at 50/s took %s", d)
	}
}

// With ReportedLatency an answer's latency is the one the upstream reports
// (the simulator's Bedrock-like latency); without, the time the call took.
func TestReportedLatency(t *testing.T) {
	f := &fake{answers: map[string]string{"m": "yes"}, latency: 2500 * time.Millisecond}
	sc, _ := NewScorer("contains", nil)
	for _, reported := range []bool{false, true} {
		res, err := Run(context.Background(), items(2), Options{Invoker: f, Models: []string{"m"}, Scorer: sc, ReportedLatency: reported})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if got := r.LatencyMS == 2500; got != reported {
				t.Errorf("reported=%v: latency %v ms", reported, r.LatencyMS)
			}
		}
	}
}
