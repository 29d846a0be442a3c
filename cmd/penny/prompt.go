package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/lint"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// promptOpts are the flags lint and compare share.
type promptOpts struct {
	model  string
	calls  int
	format string
}

func (o *promptOpts) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.model, "model", "nova-pro", "catalog model whose input price is used")
	cmd.Flags().IntVar(&o.calls, "calls", 1_000_000, "number of calls to price")
	cmd.Flags().StringVar(&o.format, "format", "text", "text or json")
}

// setup resolves the model and loads the tokenizer.
func (o *promptOpts) setup() (*catalog.Model, *lint.Linter, error) {
	if o.format != "text" && o.format != "json" {
		return nil, nil, fmt.Errorf("--format %q is not text or json", o.format)
	}
	if o.calls < 1 {
		return nil, nil, fmt.Errorf("--calls must be at least 1")
	}
	cat, err := catalog.Builtin()
	if err != nil {
		return nil, nil, err
	}
	t, err := cat.Resolve(o.model)
	if err != nil {
		return nil, nil, err
	}
	if t.Model == nil {
		return nil, nil, fmt.Errorf("--model %q has no price (a prompt router)", o.model)
	}
	c, err := tokens.New()
	if err != nil {
		return nil, nil, err
	}
	return t.Model, lint.New(c), nil
}

func newPrompt() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prompt",
		Short: "Measure and trim the input tokens of a prompt",
		Long: `Count a prompt's tokens (cl100k_base, an estimate of Bedrock's count), price them
per N calls on a catalog model, and find the tokens it pays for without need.`,
	}
	cmd.AddCommand(newPromptLint(), newPromptCompare())
	return cmd
}

func newPromptLint() *cobra.Command {
	var o promptOpts
	cmd := &cobra.Command{
		Use:   "lint FILE|-",
		Short: "Find filler, repeats, prose formats and missing bounds; suggest a leaner prompt",
		Long: `Lint a prompt (a file, or - for standard input): its tokens and input cost per
--calls calls on --model; findings with line:col spans and the tokens each
costs — filler and politeness, repeated instructions, output shapes described
in long prose, no output format, no length bound; and a leaner version that
keeps every content word, with its saving in tokens, percent and dollars (or
none, when there is nothing to cut). The leaner version adds a format line
only where the prompt describes its answer's parts in prose; a prompt that
asks for prose (an essay, a letter, a story) is left to be answered in prose.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, l, err := o.setup()
			if err != nil {
				return err
			}
			text, err := readPrompt(cmd, args[0])
			if err != nil {
				return err
			}
			rep := l.Lint(text)
			cost, err := lint.Cost(m, rep.Tokens, o.calls)
			if err != nil {
				return err
			}
			lean, err := lint.Cost(m, rep.SuggestionTokens, o.calls)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.format == "json" {
				return writeJSON(out, lintJSON{File: args[0], Model: m.ID, Calls: o.calls, Report: rep,
					Cost: cost.String(), SuggestionCost: lean.String(),
					SavedTokens: rep.Saved(), SavedPercent: lint.FormatPercent(lint.Percent(rep.Saved(), rep.Tokens)),
					SavedCost: (cost - lean).String()})
			}
			fmt.Fprintf(out, "%s: %d tokens; on %s ($%s/1M input) $%s per %s calls\n",
				args[0], rep.Tokens, m.ID, m.Rates(catalog.Terms{}).Input.String(), cost, groupInt(o.calls))
			if len(rep.Findings) == 0 {
				fmt.Fprintln(out, "\nNo findings.")
			} else {
				fmt.Fprintf(out, "\n%d findings:\n", len(rep.Findings))
				for _, f := range rep.Findings {
					loc, tok := f.Span.String(), fmt.Sprintf("%d tok", f.Tokens)
					if f.Text == "" {
						loc, tok = "(whole)", "-"
					}
					fmt.Fprintf(out, "  %-11s  %-20s  %6s  %s\n", loc, f.Kind, tok, f.Message)
					if f.Text != "" {
						fmt.Fprintf(out, "  %-11s  %q\n", "", excerpt(f.Text, 70))
					}
				}
			}
			if rep.Unchanged {
				fmt.Fprintln(out, "\nNo leaner version: there is nothing to cut.")
				return nil
			}
			fmt.Fprintf(out, "\nSuggested (%d tokens: %s):\n%s\n", rep.SuggestionTokens,
				savingText(rep.Saved(), rep.Tokens, cost-lean, o.calls), indent(rep.Suggestion))
			return nil
		},
	}
	o.bind(cmd)
	return cmd
}

func newPromptCompare() *cobra.Command {
	var o promptOpts
	cmd := &cobra.Command{
		Use:   "compare A B",
		Short: "Compare two prompts' tokens and input cost",
		Long: `Compare two prompts (files, or - for one of them on standard input): tokens and
input cost per --calls calls on --model of each, and B's difference from A.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, l, err := o.setup()
			if err != nil {
				return err
			}
			if args[0] == "-" && args[1] == "-" {
				return fmt.Errorf("only one prompt can come from standard input")
			}
			var n [2]int
			var cost [2]llm.Money
			for i, a := range args {
				text, err := readPrompt(cmd, a)
				if err != nil {
					return err
				}
				n[i] = l.Count(text)
				if cost[i], err = lint.Cost(m, n[i], o.calls); err != nil {
					return err
				}
			}
			diff := n[1] - n[0]
			pct := lint.FormatPercent(lint.Percent(diff, n[0]))
			out := cmd.OutOrStdout()
			if o.format == "json" {
				return writeJSON(out, compareJSON{Model: m.ID, Calls: o.calls,
					A:          side{File: args[0], Tokens: n[0], Cost: cost[0].String()},
					B:          side{File: args[1], Tokens: n[1], Cost: cost[1].String()},
					DiffTokens: diff, DiffPercent: pct, DiffCost: (cost[1] - cost[0]).String()})
			}
			fmt.Fprintf(out, "On %s ($%s/1M input), per %s calls:\n", m.ID, m.Rates(catalog.Terms{}).Input.String(), groupInt(o.calls))
			w := max(len(args[0]), len(args[1]), len("B - A"))
			fmt.Fprintf(out, "  %-*s  %7s  %14s\n", w, "PROMPT", "TOKENS", "COST $")
			fmt.Fprintf(out, "  %-*s  %7d  %14s\n", w, args[0], n[0], cost[0])
			fmt.Fprintf(out, "  %-*s  %7d  %14s\n", w, args[1], n[1], cost[1])
			fmt.Fprintf(out, "  %-*s  %7s  %14s  (%s %%)\n", w, "B - A", signed(diff), signedMoney(cost[1]-cost[0]), pct)
			return nil
		},
	}
	o.bind(cmd)
	return cmd
}

type lintJSON struct {
	File           string      `json:"file"`
	Model          string      `json:"model"`
	Calls          int         `json:"calls"`
	Report         lint.Report `json:"report"`
	Cost           string      `json:"cost_usd"`
	SuggestionCost string      `json:"suggestion_cost_usd"`
	SavedTokens    int         `json:"saved_tokens"`
	SavedPercent   string      `json:"saved_percent"`
	SavedCost      string      `json:"saved_usd"`
}

type side struct {
	File   string `json:"file"`
	Tokens int    `json:"tokens"`
	Cost   string `json:"cost_usd"`
}

type compareJSON struct {
	Model       string `json:"model"`
	Calls       int    `json:"calls"`
	A           side   `json:"a"`
	B           side   `json:"b"`
	DiffTokens  int    `json:"diff_tokens"`
	DiffPercent string `json:"diff_percent"`
	DiffCost    string `json:"diff_usd"`
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// readPrompt reads a file, or standard input for "-".
func readPrompt(cmd *cobra.Command, name string) (string, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return "", fmt.Errorf("read prompt: %w", err)
	}
	return string(data), nil
}

// savingText says what a suggestion saves, as a saving: "12 fewer, 9.8 %
// less, saving $9.60 per 1,000,000 calls", or what it adds when its format
// line outweighs the cuts (that line shortens the answers, which costs no
// input tokens and so is not counted here).
func savingText(saved, tokens int, money llm.Money, calls int) string {
	switch {
	case saved > 0:
		return fmt.Sprintf("%d fewer, %s %% less, saving $%s per %s calls", saved,
			lint.FormatPercent(lint.Percent(saved, tokens)), money, groupInt(calls))
	case saved < 0:
		return fmt.Sprintf("%d more for the format line, $%s more input per %s calls; it saves output tokens, which are not counted here",
			-saved, -money, groupInt(calls))
	}
	return "as many as now"
}

func excerpt(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n/2]) + " … " + string(r[len(r)-n/2:])
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

func groupInt(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func signed(n int) string {
	if n > 0 {
		return "+" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func signedMoney(m llm.Money) string {
	if m > 0 {
		return "+" + m.String()
	}
	return m.String()
}
