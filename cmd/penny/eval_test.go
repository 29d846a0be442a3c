package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/eval"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/modeleval"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/sqlite"
)

const evalDataset = "../../internal/modeleval/testdata/eval10.jsonl"

// evalRoot is the CLI root with eval registered (main.go may register it
// already).
func evalRoot(stdout, stderr *bytes.Buffer) *cobra.Command {
	root := newRoot(stdout, stderr)
	for _, c := range root.Commands() {
		if c.Name() == "eval" {
			return root
		}
	}
	root.AddCommand(newEval())
	return root
}

// runEvalCLI runs `penny eval` on the simulator, instantly, with its
// ledger in dir.
func runEvalCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	return runEvalConfig(t, dir, "simulator: {time_scale: 0}\nlog: {level: error}\n", args...)
}

// runEvalConfig is runEvalCLI with the config file's text.
func runEvalConfig(t *testing.T, dir, config string, args ...string) (string, error) {
	t.Helper()
	cfg := filepath.Join(dir, "penny.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	root := evalRoot(&stdout, &stderr)
	root.SetArgs(append([]string{"eval", "--simulate", "--config", cfg, "--db", "sqlite://" + filepath.Join(dir, "penny.db"),
		"--dataset", evalDataset, "--rate", "0"}, args...))
	err := root.Execute()
	return stdout.String(), err
}

func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, m)
	}
	return rows
}

func TestEvalSimulated(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "results.jsonl")
	got, err := runEvalCLI(t, dir, "--models", "nova-micro,nova-lite,nova-pro", "--scorer", "contains",
		"--target", "0.9", "--concurrency", "4", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", got)
	for _, want := range []string{
		"10 items × 3 models (30 run now)",
		"model", "95% CI", "cost/1k req", "p50", "p95", "errors",
		"nova-micro   10   1.000   [0.722, 1.000]",
		"scorer contains; intervals: Wilson",
		"recommendation: nova-micro, the cheapest model scoring at least 0.900 (1.000; but its 95% lower bound 0.722 does not)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	rows := readJSONL(t, out)
	if len(rows) != 30 {
		t.Fatalf("%d result rows, want 30", len(rows))
	}
	for _, r := range rows {
		for _, k := range []string{"id", "model", "output", "score", "correct", "input_tokens", "output_tokens", "cost_usd", "latency_ms"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("row lacks %s: %v", k, r)
			}
		}
		if r["correct"] != true || r["cost_usd"].(float64) <= 0 || !strings.HasPrefix(r["output"].(string), "[simulated") {
			t.Errorf("row %v", r)
		}
	}

	// Every answer is in the ledger, priced as in the results.
	var sum int64
	for _, r := range rows {
		sum += int64(r["cost_nanos"].(float64))
	}
	db, err := sqlite.OpenURL("sqlite://" + filepath.Join(dir, "penny.db"))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := sqlite.NewLedgerStore(db).Summarize(context.Background(), ledger.SummaryQuery{By: "model", Tenant: "eval"})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var reqs int64
	var cost llm.Money
	for _, s := range sums {
		reqs, cost = reqs+s.Requests, cost+s.Cost
	}
	if reqs != 30 || int64(cost) != sum {
		t.Errorf("ledger: %d requests costing %s; want 30 costing %s", reqs, cost, llm.Money(sum))
	}

	// Resuming a complete run asks nothing again and prints the same table.
	again, err := runEvalCLI(t, dir, "--models", "nova-micro,nova-lite,nova-pro", "--scorer", "contains", "--out", out, "--resume")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(again, "(0 run now)") || !strings.Contains(again, "recommendation: nova-micro") {
		t.Errorf("resumed run:\n%s", again)
	}
	if n := len(readJSONL(t, out)); n != 30 {
		t.Errorf("resume appended rows: %d", n)
	}
	// Without --resume an existing results file is not touched.
	if _, err := runEvalCLI(t, dir, "--models", "nova-micro", "--scorer", "contains", "--out", out); err == nil ||
		!strings.Contains(err.Error(), "--resume") {
		t.Errorf("existing --out without --resume: %v", err)
	}
	// Adding a model on resume runs only that model.
	more, err := runEvalCLI(t, dir, "--models", "nova-micro,nova-lite,nova-pro,claude-3-haiku", "--scorer", "contains", "--out", out, "--resume")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(more, "(10 run now)") {
		t.Errorf("resumed with a new model:\n%s", more)
	}
}

func TestEvalBadPatternFailsUpFront(t *testing.T) {
	// The dataset's expected "[simulated" is an unclosed character class.
	dir := t.TempDir()
	out := filepath.Join(dir, "results.jsonl")
	_, err := runEvalCLI(t, dir, "--models", "nova-micro", "--scorer", "regex", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "item q01: expected pattern") {
		t.Errorf("bad pattern: %v", err)
	}
	if b, _ := os.ReadFile(out); len(b) != 0 {
		t.Errorf("results written before the pattern was checked: %s", b)
	}
}

func TestEvalRegexFails(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "regex.jsonl")
	var b strings.Builder
	for i := 0; i < 10; i++ {
		b.WriteString(`{"id":"r` + string(rune('0'+i)) + `","prompt":"What is 6 times 7?","expected":"^42$"}` + "\n")
	}
	if err := os.WriteFile(ds, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := runEvalCLI(t, dir, "--models", "nova-micro,nova-lite", "--scorer", "regex", "--dataset", ds)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nova-micro   10   0.000   [0.000, 0.278]", "recommendation: no model meets the target 0.900"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestEvalRouterData(t *testing.T) {
	dir := t.TempDir()
	rd := filepath.Join(dir, "router.jsonl")
	// Strong first on the command line: cheap is still the cheaper by price.
	got, err := runEvalCLI(t, dir, "--models", "nova-pro,nova-micro", "--scorer", "contains", "--router-data", rd)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "router data: 10 prompts (cheap nova-micro, strong nova-pro)") {
		t.Errorf("output:\n%s", got)
	}
	f, err := os.Open(rd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := eval.ReadJSONL(f) // what `penny router train` reads
	if err != nil || len(d.Items) != 10 {
		t.Fatalf("router train cannot read it: %v", err)
	}
	if d.Items[0].Prompt != "What is 2 + 2? Answer with the number only." || d.Items[0].Cheap != 1 || d.Items[0].Strong != 1 {
		t.Errorf("first row %+v", d.Items[0])
	}
	if _, err := runEvalCLI(t, dir, "--models", "nova-micro,nova-lite,nova-pro", "--scorer", "contains", "--router-data", rd); err == nil {
		t.Error("--router-data with three models accepted")
	}
}

func TestEvalFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scorer", "contains"}, "required"},
		{[]string{"--models", "nova-micro", "--scorer", "fuzzy"}, "unknown scorer"},
		{[]string{"--models", "no-such-model", "--scorer", "exact"}, "not in Penny's catalog"},
		{[]string{"--models", "nova-micro", "--scorer", "exact", "--target", "90"}, "--target"},
		{[]string{"--models", "nova-micro", "--scorer", "exact", "--resume"}, "--resume needs --out"},
	} {
		if _, err := runEvalCLI(t, dir, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestEvalJudge(t *testing.T) {
	// The simulator's judge marks its own answers (sim.Mark for the model
	// named in the answer's label): the score is the mean mark over 10, and
	// the judge's calls are charged.
	dir := t.TempDir()
	got, err := runEvalCLI(t, dir, "--models", "nova-micro", "--scorer", "judge", "--judge-model", "nova-lite", "--target", "0.5",
		"--out", filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(evalDataset)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	items, err := modeleval.ReadDataset(f)
	if err != nil {
		t.Fatal(err)
	}
	micro, err := catalog.MustBuiltin().Resolve("nova-micro")
	if err != nil {
		t.Fatal(err)
	}
	marks := map[string]int{}
	var sum int
	for _, it := range items {
		marks[it.ID] = sim.Mark(micro.Model, it.PromptText(), 0)
		sum += marks[it.ID]
	}
	want := fmt.Sprintf("nova-micro   10   %.3f", float64(sum)/10/float64(len(items)))
	for _, w := range []string{want, "0 verdicts unparseable", "intervals: normal approximation"} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
	for _, row := range readJSONL(t, filepath.Join(dir, "results.jsonl")) {
		id, _ := row["id"].(string)
		if score, _ := row["score"].(float64); score != float64(marks[id])/10 {
			t.Errorf("item %s scored %v, want mark %d / 10", id, row["score"], marks[id])
		}
		if correct, _ := row["correct"].(bool); correct != (marks[id] >= 7) {
			t.Errorf("item %s correct = %v with mark %d (pass 7)", id, correct, marks[id])
		}
	}
	t.Logf("\n%s", got)
	if strings.Contains(got, "judge: $0.000000 charged") {
		t.Errorf("the judge's cost is missing:\n%s", got)
	}
}

// Without a simulator time scale in the config, `penny eval --simulate`
// does not wait out the simulated latencies but reports them: Bedrock-like
// seconds, in a run that takes a fraction of that.
func TestEvalSimulatedLatency(t *testing.T) {
	dir := t.TempDir()
	out, err := runEvalConfig(t, dir, "log: {level: error}\n",
		"--models", "nova-pro", "--scorer", "contains", "--out", filepath.Join(dir, "r.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "SIMULATED: answers from Penny's simulator; latencies are the Bedrock-like ones") {
		t.Errorf("output does not say the latencies are simulated:\n%s", out)
	}
	for _, row := range readJSONL(t, filepath.Join(dir, "r.jsonl")) {
		if ms, _ := row["latency_ms"].(float64); ms < 100 {
			t.Errorf("item %v: latency %v ms, want Nova Pro's simulated time (hundreds of ms or more)", row["id"], ms)
		}
	}
}

// TestEvalNoBarOffTerminal: a standard error that is not a terminal gets no
// progress bar, and --quiet is accepted.
func TestEvalNoBarOffTerminal(t *testing.T) {
	dir := t.TempDir()
	for _, quiet := range []bool{false, true} {
		var stdout, stderr bytes.Buffer
		root := evalRoot(&stdout, &stderr)
		args := []string{"eval", "--simulate", "--db", "sqlite://" + filepath.Join(dir, "penny.db"), "--dataset", evalDataset,
			"--models", "nova-micro", "--scorer", "contains"}
		if quiet {
			args = append(args, "--quiet")
		}
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("eval (quiet %v): %v", quiet, err)
		}
		if strings.ContainsAny(stderr.String(), "\r%") {
			t.Errorf("eval (quiet %v) drew a progress bar on a buffer: %q", quiet, stderr.String())
		}
	}
}
