package learned

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func trained(t *testing.T) *Model {
	t.Helper()
	ex, _ := synthetic(300, 9)
	m, err := Train(ex, TrainOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := trained(t)
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	var head map[string]any
	if err := json.Unmarshal(buf.Bytes(), &head); err != nil {
		t.Fatal(err)
	}
	if head["kind"] != FileKind || head["version"] != float64(FileVersion) {
		t.Errorf("kind %v, version %v", head["kind"], head["version"])
	}
	got, err := Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got.Threshold != m.Threshold || got.Target != m.Target || got.Info != m.Info || got.bias != m.bias {
		t.Errorf("loaded model differs: threshold %g/%g, target %s/%s", got.Threshold, m.Threshold, got.Target, m.Target)
	}
	for i := range m.weights {
		if got.weights[i] != m.weights[i] {
			t.Fatalf("weight %d: %g, saved %g", i, got.weights[i], m.weights[i])
		}
	}
	for _, text := range []string{"", "please prove the theorem", "reset my password", longPrompt} {
		if a, b := m.Score(text), got.Score(text); a != b {
			t.Errorf("%.20q: score %g after loading, %g before", text, b, a)
		}
	}
	// Saving the loaded model gives the same file.
	var again bytes.Buffer
	if err := got.Save(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("saving a loaded model changed the file")
	}
}

func TestLoadRejects(t *testing.T) {
	var buf bytes.Buffer
	if err := trained(t).Save(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	edit := func(fn func(map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(good), &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct{ name, file, want string }{
		{"not JSON", "router", "not a JSON model file"},
		{"another kind", edit(func(m map[string]any) { m["kind"] = "something-else" }), `kind is "something-else"`},
		{"no kind", `{"version": 1}`, `kind is ""`},
		{"a later version", edit(func(m map[string]any) { m["version"] = 2 }), "version 2 is not supported"},
		{"unknown field", edit(func(m map[string]any) { m["extra"] = true }), "unknown field"},
		{"threshold above 1", edit(func(m map[string]any) { m["threshold"] = 1.5 }), "threshold"},
		{"unknown target", edit(func(m map[string]any) { m["target"] = "vibes" }), "target"},
		{"bad features", edit(func(m map[string]any) { m["features"].(map[string]any)["hash_bits"] = 40 }), "hash_bits"},
		{"another stat list", edit(func(m map[string]any) { m["features"].(map[string]any)["stats"] = []string{"a"} }), "stats"},
		{"missing stat weights", edit(func(m map[string]any) { m["stat_weights"] = []float64{1} }), "stat_weights"},
		{"index outside the table", edit(func(m map[string]any) {
			m["weights"] = map[string]any{"index": []int{1 << 30}, "value": []float64{1}}
		}), "outside"},
		{"indices out of order", edit(func(m map[string]any) {
			m["weights"] = map[string]any{"index": []int{5, 3}, "value": []float64{1, 1}}
		}), "out of order"},
		{"more indices than values", edit(func(m map[string]any) {
			m["weights"] = map[string]any{"index": []int{1, 2}, "value": []float64{1}}
		}), "indices"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// A file written before thresholds were cross-fitted has the held-out
// split's figures in "training"; it still loads.
func TestLoadOlderTrainingInfo(t *testing.T) {
	var buf bytes.Buffer
	if err := trained(t).Save(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	info := doc["training"].(map[string]any)
	for _, k := range []string{"threshold_folds", "cv_strong_share", "cv_quality", "cv_cheap_quality", "cv_strong_quality"} {
		delete(info, k)
	}
	info["holdout_strong_share"], info["holdout_quality"] = 0.25, 0.8
	info["holdout_cheap_quality"], info["holdout_strong_quality"] = 0.7, 0.82
	old, _ := json.Marshal(doc)
	m, err := Load(bytes.NewReader(old))
	if err != nil {
		t.Fatalf("Load of an older file: %v", err)
	}
	if m.Info.HoldoutStrongShare != 0.25 || m.Info.HoldoutStrongQuality != 0.82 {
		t.Errorf("older figures not kept: %+v", m.Info)
	}
}
