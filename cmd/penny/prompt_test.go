package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// promptCLI runs `penny prompt args...` through a root of its own.
func promptCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var stdout bytes.Buffer
	root := &cobra.Command{Use: "penny", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(&stdout)
	root.SetErr(&stdout)
	root.SetIn(strings.NewReader(stdin))
	root.AddCommand(newPrompt())
	root.SetArgs(append([]string{"prompt"}, args...))
	err := root.Execute()
	return stdout.String(), err
}

const (
	verbose = "../../internal/lint/testdata/verbose.txt"
	concise = "../../internal/lint/testdata/concise.txt"
)

func TestPromptLintText(t *testing.T) {
	out, err := promptCLI(t, "", "lint", verbose)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out)
	for _, want := range []string{
		"122 tokens; on nova-pro ($0.8/1M input) $97.600000 per 1,000,000 calls",
		"1:1-1:7      filler",
		"1:517-1:576  repeated-instruction",
		"long-prose",
		"(whole)      no-output-format",
		"(whole)      no-length-bound",
		"Respond in JSON only.",
		"Suggested (84 tokens: 38 fewer, 31.1 % less, saving $30.400000 per 1,000,000 calls):",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestPromptLintSavings: a prompt with nothing to cut gets no copy of
// itself as a suggestion, a prose request gets no format line, and a
// suggestion that costs more says so without a minus sign.
func TestPromptLintSavings(t *testing.T) {
	for _, tc := range []struct {
		prompt     string
		want, lack []string
	}{
		{"Write a 500-word essay on the history of the printing press.\n",
			[]string{"No findings.", "No leaner version: there is nothing to cut."}, []string{"Suggested", "JSON"}},
		{"Please write an essay on the printing press.",
			[]string{"Suggested (", " fewer, ", " % less, saving $", "\n  Write an essay on the printing press.\n"}, []string{"JSON"}},
		{"Write a bio. It should start with the name. Then mention the role. Include two hobbies.",
			[]string{"5 more for the format line, $4.000000 more input per 1,000,000 calls", "Respond in JSON only."}, nil},
	} {
		out, err := promptCLI(t, tc.prompt, "lint", "-")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("lint %q: output lacks %q:\n%s", tc.prompt, w, out)
			}
		}
		for _, w := range tc.lack {
			if strings.Contains(out, w) {
				t.Errorf("lint %q: output has %q:\n%s", tc.prompt, w, out)
			}
		}
		if regexp.MustCompile(`\$-|saves -|\(-\d|: -\d|-\d+(\.\d+)? %`).MatchString(out) {
			t.Errorf("lint %q states a saving with a minus sign:\n%s", tc.prompt, out)
		}
	}
}

func TestPromptLintJSONStdin(t *testing.T) {
	out, err := promptCLI(t, "Please list three colours. Thank you!", "lint", "-", "--format", "json", "--calls", "1000", "--model", "nova-micro")
	if err != nil {
		t.Fatal(err)
	}
	var got lintJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Report.Suggestion != "List three colours." {
		t.Errorf("suggestion = %q", got.Report.Suggestion)
	}
	if got.Model != "nova-micro" || got.Calls != 1000 || got.Report.Tokens == 0 || got.SavedTokens <= 0 {
		t.Errorf("report = %+v", got)
	}
}

func TestPromptCompare(t *testing.T) {
	out, err := promptCLI(t, "", "compare", verbose, concise)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out)
	// nova-pro input is $0.80/1M: 122 and 38 tokens per call over 1M calls.
	for _, want := range []string{"122", "97.600000", "38", "30.400000", "-84", "-67.200000", "(-68.9 %)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	out, err = promptCLI(t, "", "compare", verbose, concise, "--format", "json", "--calls", "1")
	if err != nil {
		t.Fatal(err)
	}
	var got compareJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	// One call: 122 × 0.8e9 / 1e6 = 97,600 nano-dollars; 38 tokens → 30,400.
	if got.A.Cost != "0.0000976" || got.B.Cost != "0.0000304" || got.DiffCost != "-0.0000672" || got.DiffPercent != "-68.9" {
		t.Errorf("compare = %+v", got)
	}
}

func TestPromptErrors(t *testing.T) {
	for _, args := range [][]string{
		{"lint", verbose, "--model", "no-such-model"},
		{"lint", verbose, "--format", "yaml"},
		{"lint", verbose, "--calls", "0"},
		{"lint", "/no/such/file"},
		{"compare", "-", "-"},
	} {
		if _, err := promptCLI(t, "", args...); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
}
