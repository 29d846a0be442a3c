package eval

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The models of the RouteLLM evaluation data: the weak (cheap) and the
// strong one.
const (
	RouteLLMWeak   = "mistralai/Mixtral-8x7B-Instruct-v0.1"
	RouteLLMStrong = "gpt-4-1106-preview"
)

// LoadMMLU reads dir/mmlu/responses/mmlu_<subject>.csv (columns prompt,
// RouteLLMWeak, RouteLLMStrong as True/False), the subject becoming the
// item's group, and drops the prompts listed in
// dir/mmlu/contaminated_prompts.jsonl, as RouteLLM does.
func LoadMMLU(dir string) (*Dataset, error) {
	bad, err := contaminated(filepath.Join(dir, "mmlu", "contaminated_prompts.jsonl"))
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "mmlu", "responses", "mmlu_*.csv"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no MMLU data: %s has no mmlu_*.csv (set %s to the RouteLLM data directory)", filepath.Join(dir, "mmlu", "responses"), DataDirEnv)
	}
	sort.Strings(files)
	d := &Dataset{Name: "mmlu", Quality: "accuracy", OutputTokens: 5}
	for _, f := range files {
		subject := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "mmlu_"), ".csv")
		err := readCSV(f, func(col func(string) string) error {
			it, err := correctItem(col)
			if err != nil {
				return err
			}
			if bad[it.Prompt] {
				d.Contaminated++
				return nil
			}
			it.Group = subject
			d.Items = append(d.Items, it)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// LoadGSM8K reads dir/gsm8k/gsm8k_responses.csv and drops the prompts
// listed in dir/gsm8k/contaminated_prompts.jsonl. Output tokens are
// estimated from each model's recorded answer (4 bytes a token).
func LoadGSM8K(dir string) (*Dataset, error) {
	bad, err := contaminated(filepath.Join(dir, "gsm8k", "contaminated_prompts.jsonl"))
	if err != nil {
		return nil, err
	}
	d := &Dataset{Name: "gsm8k", Quality: "accuracy", OutputTokens: 200}
	err = readCSV(filepath.Join(dir, "gsm8k", "gsm8k_responses.csv"), func(col func(string) string) error {
		it, err := correctItem(col)
		if err != nil {
			return err
		}
		if bad[it.Prompt] {
			d.Contaminated++
			return nil
		}
		it.CheapTokens = (len(col(RouteLLMWeak+"_response")) + 3) / 4
		it.StrongTokens = (len(col(RouteLLMStrong+"_response")) + 3) / 4
		d.Items = append(d.Items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// LoadMTBench reads MT-Bench's 80 two-turn questions and GPT-4's
// single-answer judgements (scores 1–10) of each model's answers, and drops
// the questions whose first or second turn is listed in
// contaminated_prompts.jsonl, as RouteLLM does.
//
// An item is a question; its prompt is the first turn (RouteLLM routes on
// the first turn only) and its group the category. Each model's quality is
// the mean of its judge scores over the question's two turns: exactly how
// RouteLLM scores a routed question (the mean score of the routed model's
// judgements). The strong model "wins" a question, and the cheap one
// "fails" it, when the strong mean score is higher.
func LoadMTBench(dir string) (*Dataset, error) {
	bad, err := contaminated(filepath.Join(dir, "mt_bench", "contaminated_prompts.jsonl"))
	if err != nil {
		return nil, err
	}
	type question struct {
		ID       int      `json:"question_id"`
		Category string   `json:"category"`
		Turns    []string `json:"turns"`
	}
	var qs []question
	err = readJSONLines(filepath.Join(dir, "mt_bench", "question.jsonl"), func(b []byte) error {
		var q question
		if err := json.Unmarshal(b, &q); err != nil {
			return err
		}
		if len(q.Turns) != 2 {
			return fmt.Errorf("question %d has %d turns, want 2", q.ID, len(q.Turns))
		}
		qs = append(qs, q)
		return nil
	})
	if err != nil {
		return nil, err
	}
	type key struct {
		id    int
		model string
	}
	type judged struct {
		sum   float64
		turns [3]bool
	}
	scores := map[key]*judged{}
	err = readJSONLines(filepath.Join(dir, "mt_bench", "judgements.jsonl"), func(b []byte) error {
		var j struct {
			ID    int     `json:"question_id"`
			Model string  `json:"model"`
			Score float64 `json:"score"`
			Turn  int     `json:"turn"`
		}
		if err := json.Unmarshal(b, &j); err != nil {
			return err
		}
		if j.Turn != 1 && j.Turn != 2 {
			return fmt.Errorf("question %d: turn %d", j.ID, j.Turn)
		}
		k := key{j.ID, j.Model}
		s := scores[k]
		if s == nil {
			s = &judged{}
			scores[k] = s
		}
		if s.turns[j.Turn] {
			return fmt.Errorf("question %d, %s: turn %d judged twice", j.ID, j.Model, j.Turn)
		}
		s.turns[j.Turn] = true
		s.sum += j.Score
		return nil
	})
	if err != nil {
		return nil, err
	}
	d := &Dataset{Name: "mt_bench", Quality: "MT-Bench score (1-10)", OutputTokens: 800}
	for _, q := range qs {
		if bad[q.Turns[0]] || bad[q.Turns[1]] {
			d.Contaminated++
			continue
		}
		var mean [2]float64
		for i, m := range []string{RouteLLMWeak, RouteLLMStrong} {
			s := scores[key{q.ID, m}]
			if s == nil || !s.turns[1] || !s.turns[2] {
				return nil, fmt.Errorf("mt_bench: question %d has no judgement of both turns for %s", q.ID, m)
			}
			mean[i] = s.sum / 2
		}
		d.Items = append(d.Items, Item{Prompt: q.Turns[0], Group: q.Category, Cheap: mean[0], Strong: mean[1]})
	}
	return d, nil
}

// contaminated returns the eval_prompt values of a contaminated_prompts file.
func contaminated(path string) (map[string]bool, error) {
	out := map[string]bool{}
	err := readJSONLines(path, func(b []byte) error {
		var c struct {
			EvalPrompt string `json:"eval_prompt"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return err
		}
		out[c.EvalPrompt] = true
		return nil
	})
	return out, err
}

func readJSONLines(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w (set %s to the RouteLLM data directory)", err, DataDirEnv)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readCSV calls fn for each record with a lookup of its columns by name.
func readCSV(path string, fn func(col func(string) string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w (set %s to the RouteLLM data directory)", err, DataDirEnv)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	index := map[string]int{}
	for i, h := range header {
		index[h] = i
	}
	for _, need := range []string{"prompt", RouteLLMWeak, RouteLLMStrong} {
		if _, ok := index[need]; !ok {
			return fmt.Errorf("%s: no column %q", path, need)
		}
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		col := func(name string) string {
			if i, ok := index[name]; ok && i < len(rec) {
				return rec[i]
			}
			return ""
		}
		if err := fn(col); err != nil {
			line, _ := r.FieldPos(0)
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
}

func correctItem(col func(string) string) (Item, error) {
	it := Item{Prompt: col("prompt")}
	var err error
	if it.Cheap, err = pyBool(col(RouteLLMWeak)); err != nil {
		return it, err
	}
	if it.Strong, err = pyBool(col(RouteLLMStrong)); err != nil {
		return it, err
	}
	return it, nil
}

func pyBool(s string) (float64, error) {
	switch s {
	case "True":
		return 1, nil
	case "False":
		return 0, nil
	}
	return 0, fmt.Errorf("correctness %q is not True or False", s)
}
