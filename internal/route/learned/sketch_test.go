package learned

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPromptSketch(t *testing.T) {
	m := trained(t)
	ex, _ := synthetic(300, 9) // the examples trained() fits
	s := m.Prompts
	if s == nil {
		t.Fatal("a trained model has no sketch of its prompts")
	}
	for _, e := range ex {
		// Compared as PromptHash compares: case and white space aside.
		if !s.Contains(e.Text) || !s.Contains("  "+strings.ToUpper(e.Text)+"\n") {
			t.Fatalf("sketch misses training prompt %q", e.Text)
		}
	}
	var fp int
	const unseen = 5000
	for i := range unseen {
		if s.Contains(fmt.Sprintf("a prompt never trained on, number %d", i)) {
			fp++
		}
	}
	if rate := s.FalsePositiveRate(); rate <= 0 || rate > 0.02 || float64(fp)/unseen > 2*rate+0.005 {
		t.Errorf("false positives: %d of %d unseen prompts; expected rate %.4f", fp, unseen, rate)
	}
	if n := s.Len(); n < 250 || n > 300 {
		t.Errorf("sketch counts %d distinct prompts of 300", n)
	}
	// 10 bits a prompt: compact next to the weights.
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TrainingPrompts sketchFile `json:"training_prompts"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if got := len(doc.TrainingPrompts.Bits); got > 2*s.Len() {
		t.Errorf("the sketch takes %d bytes of base64 for %d prompts", got, s.Len())
	}
}

func TestPromptSketchFile(t *testing.T) {
	m := trained(t)
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got.Prompts == nil || got.Prompts.Len() != m.Prompts.Len() || !bytes.Equal(got.Prompts.bits, m.Prompts.bits) {
		t.Fatal("the sketch did not survive saving and loading")
	}

	// A file written before sketches loads, without one.
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "training_prompts")
	old, _ := json.Marshal(doc)
	if m, err := Load(bytes.NewReader(old)); err != nil || m.Prompts != nil {
		t.Errorf("a file without a sketch: %v, sketch %v", err, m.Prompts)
	}

	for name, bad := range map[string]map[string]any{
		"not base64":  {"count": 3, "hashes": 7, "bits": "%%%"},
		"no bits":     {"count": 3, "hashes": 7, "bits": ""},
		"no hashes":   {"count": 3, "hashes": 0, "bits": "AAAAAAAAAAA="},
		"many hashes": {"count": 3, "hashes": 99, "bits": "AAAAAAAAAAA="},
		"negative":    {"count": -1, "hashes": 7, "bits": "AAAAAAAAAAA="},
		"extra field": {"count": 3, "hashes": 7, "bits": "AAAAAAAAAAA=", "salt": 1},
	} {
		doc["training_prompts"] = bad
		b, _ := json.Marshal(doc)
		if _, err := Load(bytes.NewReader(b)); err == nil || !strings.Contains(err.Error(), "training_prompts") && !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestTrainTooFew(t *testing.T) {
	ex, _ := synthetic(50, 4)
	repeated := make([]Example, 30) // one prompt: no held-out split possible
	for i := range repeated {
		repeated[i] = Correct("the same prompt", i%2 == 0, true)
	}
	for name, data := range map[string][]Example{"fewer than MinExamples": ex[:MinExamples-1], "one distinct prompt": repeated} {
		_, err := Train(data, TrainOptions{})
		if !errors.Is(err, ErrTooFewExamples) {
			t.Errorf("%s: err = %v, want ErrTooFewExamples", name, err)
		}
	}
}
