package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// routerCLI runs `penny router args...` through a root of its own, so the
// test does not depend on how main registers the command.
func routerCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout bytes.Buffer
	root := &cobra.Command{Use: "penny", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(&stdout)
	root.SetErr(&stdout)
	root.AddCommand(newRouter())
	root.SetArgs(append([]string{"router"}, args...))
	err := root.Execute()
	return stdout.String(), err
}

// routerData writes a JSONL dataset where prompts about proofs are hard for
// the cheap model.
func routerData(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for i := 0; i < 300; i++ {
		hard := i%3 == 0
		prompt := fmt.Sprintf("what is the capital of country %d", i)
		if hard {
			prompt = fmt.Sprintf("prove that lemma %d holds for every prime", i)
		}
		enc.Encode(map[string]any{"prompt": prompt, "cheap_correct": !hard || i%7 == 0, "strong_correct": i%11 != 0})
	}
	path := filepath.Join(dir, "data.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRouterTrainAndEval(t *testing.T) {
	dir := t.TempDir()
	data := routerData(t, dir)
	model := filepath.Join(dir, "router.json")
	out, err := routerCLI(t, "train", "--data", data, "--out", model, "--target-quality", "0.9", "--seed", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"trained on data.jsonl: 300 prompts", "threshold", "wrote " + model} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Kind     string
		Version  int
		Training struct {
			TargetQuality float64 `json:"target_quality"`
		} `json:"training"`
	}
	if err := json.Unmarshal(b, &file); err != nil || file.Kind != "penny-learned-router" || file.Version != 1 || file.Training.TargetQuality != 0.9 {
		t.Errorf("model file: %+v, %v", file, err)
	}

	svg, csvPath := filepath.Join(dir, "curve.svg"), filepath.Join(dir, "curve.csv")
	out, err = routerCLI(t, "eval", "--data", data, "--router", model, "--plot", svg, "--csv", csvPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"prices: nova-micro (cheap) and nova-pro (strong)", "router scores by model file", "penny-learned", "random", "length", "perfect", "cost saved at 95 %", "at its own threshold"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{svg, csvPath} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}

	out, err = routerCLI(t, "eval", "--data", data, "--cv", "3", "--cheap", "nova-lite", "--target-quality", "0.9")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3-fold cross-validation, split by prompt", "nova-lite (cheap)", "cost saved at 90 %"} {
		if !strings.Contains(out, want) {
			t.Errorf("cross-validated eval output lacks %q:\n%s", want, out)
		}
	}
}

func TestRouterErrors(t *testing.T) {
	dir := t.TempDir()
	data := routerData(t, dir)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "--out", "x.json"}, "--data and --out are required"},
		{[]string{"eval"}, "--data is required"},
		{[]string{"eval", "--data", data, "--router", "m.json", "--cv", "3"}, "exclude each other"},
		{[]string{"eval", "--data", data, "--split", "topic"}, "--split"},
		{[]string{"eval", "--data", data, "--plot", filepath.Join(dir, "c.png")}, "only SVG"},
		{[]string{"eval", "--data", data, "--strong", "gpt-9"}, "strong model"},
		{[]string{"eval", "--data", "routellm:squad"}, "unknown RouteLLM benchmark"},
		{[]string{"eval", "--data", data, "--router", data}, "load router model"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := routerCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// Training rows with tags train a router that reads tags: here only the
// tag tells hard prompts from easy ones, and --router eval (which scores
// each row with its tags) must find it.
func TestRouterTrainTags(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for i := 0; i < 300; i++ {
		hard := i%2 == 0
		feature := "chat"
		if hard {
			feature = "coding"
		}
		enc.Encode(map[string]any{"prompt": fmt.Sprintf("please help with ticket %d", i), "cheap_correct": !hard,
			"strong_correct": true, "tags": map[string]string{"feature": feature}})
	}
	data := filepath.Join(dir, "tagged.jsonl")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "router.json")
	if _, err := routerCLI(t, "train", "--data", data, "--out", model); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Features struct {
			Tags bool `json:"tags"`
		} `json:"features"`
	}
	if err := json.Unmarshal(raw, &file); err != nil || !file.Features.Tags {
		t.Fatalf("model features: %+v, %v; want tags on", file, err)
	}
	out, err := routerCLI(t, "eval", "--data", data, "--router", model)
	if err != nil {
		t.Fatal(err)
	}
	var apgr float64
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[0] == "penny-learned" {
			fmt.Sscan(f[5], &apgr)
		}
	}
	if apgr < 0.9 {
		t.Errorf("APGR with the tags %.3f, want at least 0.9:\n%s", apgr, out)
	}
}

// writeRows writes n rows whose prompts start with prefix.
func writeRows(t *testing.T, dir, prefix string, n int) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for i := 0; i < n; i++ {
		enc.Encode(map[string]any{"prompt": fmt.Sprintf("%s question %d", prefix, i), "cheap_correct": i%3 != 0, "strong_correct": true})
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.jsonl", prefix, n))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRouterLittleData: too little data says so and what to do, instead
// of failing somewhere inside training.
func TestRouterLittleData(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"train", "--data", writeRows(t, dir, "few", 3), "--out", filepath.Join(dir, "r.json")},
			[]string{"too few examples: 3 (at least 10 needed)", "add labelled rows"}},
		{[]string{"eval", "--data", writeRows(t, dir, "few", 3)},
			[]string{"too few for 5 folds", "use fewer folds (--cv) or add rows"}},
		{[]string{"eval", "--data", writeRows(t, dir, "some", 12)},
			[]string{"too few examples", "each fold's router trains on the other folds' prompts", "add rows"}},
	}
	for _, tc := range cases {
		_, err := routerCLI(t, tc.args...)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("router %v: err = %v, want it to say %q", tc.args, err, w)
			}
		}
	}
	// Enough to train, too little to trust: a note.
	out, err := routerCLI(t, "train", "--data", writeRows(t, dir, "enough", 40), "--out", filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "note: 40 prompts is little data") {
		t.Errorf("train on 40 rows gives no note:\n%s", out)
	}
}

// TestRouterEvalOverlap: a router evaluated on its own training prompts is
// warned about; on other prompts it is not, and the share is reported.
func TestRouterEvalOverlap(t *testing.T) {
	dir := t.TempDir()
	train := writeRows(t, dir, "train", 300)
	model := filepath.Join(dir, "router.json")
	if _, err := routerCLI(t, "train", "--data", train, "--out", model); err != nil {
		t.Fatal(err)
	}
	out, err := routerCLI(t, "eval", "--data", train, "--router", model)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"the router's training prompts among these: 300 of 300, about 100.0 %",
		"warning: about 100 % of these prompts (300 of 300) were among " + model + "'s training prompts"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval on the training data lacks %q:\n%s", want, out)
		}
	}
	out, err = routerCLI(t, "eval", "--data", writeRows(t, dir, "fresh", 300), "--router", model)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "the router's training prompts among these: ") || strings.Contains(out, "warning:") {
		t.Errorf("eval on fresh prompts:\n%s", out)
	}
}
