package eval

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// routeLLMDir returns the RouteLLM data directory, skipping the test when
// it is absent, unless CI=true: there the data must be present.
func routeLLMDir(t *testing.T) string {
	t.Helper()
	dir, err := DataDir(os.Getenv)
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "mmlu", "responses"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RouteLLM data is required under CI: %v (set %s)", err, DataDirEnv)
		}
		t.Skipf("no RouteLLM data: %v", err)
	}
	return dir
}

// The counts and accuracies the data's README states, after dropping the
// contaminated prompts.
func TestLoadRouteLLM(t *testing.T) {
	dir := routeLLMDir(t)
	cases := []struct {
		name                    string
		load                    func(string) (*Dataset, error)
		items, dropped, groups  int
		cheap, strong, perfect  float64 // rounded as the README gives them
		decimals                float64
		quality                 string
		firstPrompt, firstGroup string
	}{
		{"mmlu", LoadMMLU, 14037, 5, 57, 68.1, 80.6, 85.9, 10, "accuracy", "Find the degree for the given field extension", "abstract_algebra"},
		// GSM8K's first question (Janet's ducks) is contaminated.
		{"gsm8k", LoadGSM8K, 1307, 12, 0, 63.7, 85.8, 93.0, 10, "accuracy", "James decides to run 3 sprints", ""},
		// MT-Bench: 80 questions, 8 contaminated; mean judge scores.
		{"mt_bench", LoadMTBench, 72, 8, 8, 8.281, 9.212, 9.316, 1000, "MT-Bench score (1-10)", "Draft a professional email", "writing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tc.load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Items) != tc.items || d.Contaminated != tc.dropped {
				t.Errorf("%d items, %d contaminated dropped; want %d, %d", len(d.Items), d.Contaminated, tc.items, tc.dropped)
			}
			if d.Quality != tc.quality {
				t.Errorf("quality %q", d.Quality)
			}
			groups := map[string]bool{}
			for _, it := range d.Items {
				if it.Group != "" {
					groups[it.Group] = true
				}
				if it.Prompt == "" {
					t.Fatal("an empty prompt")
				}
			}
			if len(groups) != tc.groups {
				t.Errorf("%d groups, want %d", len(groups), tc.groups)
			}
			if first := d.Items[0]; !strings.HasPrefix(first.Prompt, tc.firstPrompt) || first.Group != tc.firstGroup {
				t.Errorf("first item %.40q in %q", first.Prompt, first.Group)
			}
			scale := 100.0
			if tc.quality != "accuracy" {
				scale = 1
			}
			cheap, strong := MeanQuality(d.Items)
			perfect := PerfectCurve(d.Items, Costs{}).Points[len(d.Items)].Quality
			round := func(x float64) float64 { return math.Round(x*scale*tc.decimals) / tc.decimals }
			if round(cheap) != tc.cheap || round(strong) != tc.strong || round(perfect) != tc.perfect {
				t.Errorf("cheap %.4f, strong %.4f, perfect %.4f; want %g, %g, %g", cheap*scale, strong*scale, perfect*scale, tc.cheap, tc.strong, tc.perfect)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.jsonl")
	err := os.WriteFile(path, []byte(`{"prompt": "a", "cheap_correct": true, "strong_correct": true, "extra": 1}

{"prompt": "b", "cheap_correct": false, "strong_correct": true, "group": "math"}
{"prompt": "c", "cheap_score": 3.5, "strong_score": 9, "tags": {"team": "web", "feature": "coding"}}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{Prompt: "a", Cheap: 1, Strong: 1}, {Prompt: "b", Group: "math", Strong: 1}, {Prompt: "c", Cheap: 3.5, Strong: 9, Tags: []string{"feature=coding", "team=web"}}}
	if len(d.Items) != len(want) || d.Name != "data.jsonl" || d.Quality != "score" {
		t.Fatalf("%+v", d)
	}
	for i, w := range want {
		if !reflect.DeepEqual(d.Items[i], w) {
			t.Errorf("item %d = %+v, want %+v", i, d.Items[i], w)
		}
	}

	bad := map[string]string{
		"not JSON":       "{prompt",
		"no prompt":      `{"cheap_correct": true, "strong_correct": true}`,
		"no correctness": `{"prompt": "a", "cheap_correct": true}`,
		"wrong type":     `{"prompt": "a", "cheap_correct": "yes", "strong_correct": true}`,
		"empty":          "\n\n",
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := ReadJSONL(strings.NewReader(body)); err == nil {
				t.Error("no error")
			}
		})
	}

	env := func(k string) string {
		if k == DataDirEnv {
			return dir
		}
		return ""
	}
	if got, _ := DataDir(env); got != dir {
		t.Errorf("DataDir with %s set = %q", DataDirEnv, got)
	}
	if _, err := Open("routellm:mmlu", env); err == nil || !strings.Contains(err.Error(), DataDirEnv) {
		t.Errorf("missing data: %v; want an error naming %s", err, DataDirEnv)
	}
	if _, err := Open("routellm:hellaswag", env); err == nil || !strings.Contains(err.Error(), "mmlu, gsm8k, mt_bench") {
		t.Errorf("unknown benchmark: %v", err)
	}
}
