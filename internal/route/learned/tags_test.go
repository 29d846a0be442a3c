package learned

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestTagsAreFeatures trains on prompts whose text says nothing and whose
// tag says everything: a tagged model must learn the tag, an untagged one
// must ignore it.
func TestTagsAreFeatures(t *testing.T) {
	var ex []Example
	for i := 0; i < 400; i++ {
		hard := i%2 == 0
		tag := "feature=chat"
		e := Correct("please help me with this "+string(rune('a'+i%26)), true, true)
		if hard {
			tag = "feature=coding"
			e = Correct(e.Text, false, true)
		}
		e.Tags = []string{tag}
		ex = append(ex, e)
	}
	f := DefaultFeatures()
	f.Tags = true
	m, err := Train(ex, TrainOptions{Features: &f, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	hard, easy := m.ScoreTagged("please help me", "feature=coding"), m.ScoreTagged("please help me", "feature=chat")
	if hard <= easy+0.1 {
		t.Errorf("tagged model: coding %.3f, chat %.3f; want coding clearly higher", hard, easy)
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := loaded.ScoreTagged("please help me", "feature=coding"); math.Abs(got-hard) > 1e-6 {
		t.Errorf("loaded model scores %.6f, want %.6f", got, hard)
	}

	plain, err := Train(ex, TrainOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := plain.ScoreTagged("please help me", "feature=coding"), plain.Score("please help me"); a != b {
		t.Errorf("untagged model: %v with a tag, %v without; want equal", a, b)
	}
}

func TestScoreTaggedDoesNotAllocate(t *testing.T) {
	ex, _ := synthetic(200, 3)
	for i := range ex {
		ex[i].Tags = []string{"feature=x"}
	}
	f := DefaultFeatures()
	f.Tags = true
	m, err := Train(ex, TrainOptions{Features: &f, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.ScoreTagged("warm up the pool", "feature=x")
	if n := testing.AllocsPerRun(100, func() { m.ScoreTagged("what is the integral of x", "feature=x") }); n > 0 && !raceEnabled {
		t.Errorf("ScoreTagged allocates %v times", n)
	}
}

func TestGainRanks(t *testing.T) {
	ex := []Example{
		{Cheap: 2, Strong: 10}, // gain 8: highest
		{Cheap: 9, Strong: 9},  // 0
		{Cheap: 9, Strong: 9},  // 0
		{Cheap: 10, Strong: 6}, // −4: lowest
		{Cheap: 9, Strong: 10}, // 1
	}
	y, _, err := makeLabels(ex, TargetGainRank)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.9, 0.4, 0.4, 0.1, 0.7}
	for i := range want {
		if math.Abs(y[i]-want[i]) > 1e-12 {
			t.Errorf("label %d = %v, want %v (all: %v)", i, y[i], want[i], y)
		}
	}
}

// Without a target, graded qualities (judge scores) train on the gain's
// rank and right-or-wrong ones on the gain.
func TestAutoTarget(t *testing.T) {
	var graded, binary []Example
	for i := 0; i < 100; i++ {
		text := "question number " + string(rune('a'+i%26)) + string(rune('a'+i/26))
		graded = append(graded, Example{Text: text, Cheap: float64(i % 10), Strong: 9})
		binary = append(binary, Correct(text, i%3 == 0, true))
	}
	for _, tc := range []struct {
		ex   []Example
		opts TrainOptions
		want Target
	}{
		{graded, TrainOptions{}, TargetGainRank},
		{binary, TrainOptions{}, TargetGain},
		{graded, TrainOptions{Target: TargetGain}, TargetGain},
	} {
		m, err := Train(tc.ex, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if m.Target != tc.want {
			t.Errorf("target %q, want %q", m.Target, tc.want)
		}
	}
}

// Only tags seen in training count: an end user's id, or any tag the
// training data did not have, leaves the score exactly as it was; a
// request's tag map is read without allocating; the weights survive a
// save and load.
func TestUnseenTagsAreIgnored(t *testing.T) {
	var ex []Example
	for i := 0; i < 300; i++ {
		e := Correct(fmt.Sprintf("please help with ticket %d", i), i%2 == 1, true)
		e.Tags = []string{"feature=chat"}
		if i%2 == 0 {
			e.Tags = []string{"feature=coding"}
		}
		ex = append(ex, e)
	}
	f := DefaultFeatures()
	f.Tags = true
	m, err := Train(ex, TrainOptions{Features: &f, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	const text = "please help with ticket 123456"
	base := m.ScoreTags(text, map[string]string{"feature": "coding"})
	for _, extra := range []map[string]string{
		{"feature": "coding", "user": "u-98213"},
		{"feature": "coding", "app": "web", "team": "support"},
	} {
		if got := m.ScoreTags(text, extra); got != base {
			t.Errorf("tags %v score %v, want %v as with feature=coding alone", extra, got, base)
		}
	}
	if a, b := m.ScoreTags(text, map[string]string{"feature": "billing"}), m.Score(text); a != b {
		t.Errorf("an unseen value scores %v, want %v as with no tags", a, b)
	}
	if a, b := m.ScoreTagged(text, "feature=coding"), base; a != b {
		t.Errorf("ScoreTagged %v, ScoreTags %v", a, b)
	}
	tags := map[string]string{"feature": "coding", "user": "u-1"}
	if n := testing.AllocsPerRun(100, func() { m.ScoreTags(text, tags) }); n > 0 && !raceEnabled {
		t.Errorf("ScoreTags allocates %v times", n)
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"tag_weights":{"feature=chat":`) {
		t.Errorf("model file lacks its tag weights: %.300s", buf.String())
	}
	loaded, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := loaded.ScoreTags(text, tags); got != base {
		t.Errorf("loaded model scores %v, want %v", got, base)
	}
}
