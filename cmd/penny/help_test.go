package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestHelpTexts reads every command's --help as a new user would and
// catches what has tripped one: a default printed twice, a placeholder
// that is a phrase rather than a name, a command without a summary.
func TestHelpTexts(t *testing.T) {
	twice := regexp.MustCompile(`\(default[^)]*\) \(default `)
	var walk func(path []string, c *cobra.Command)
	walk = func(path []string, c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		name := strings.Join(path, " ")
		if c.Short == "" {
			t.Errorf("%s has no one-line summary", name)
		}
		out := mustPenny(t, append(path[1:], "--help")...)
		if m := twice.FindString(out); m != "" {
			t.Errorf("%s --help prints a default twice: %q", name, m)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if v, _ := pflag.UnquoteUsage(f); strings.Contains(v, " ") {
				t.Errorf("%s --%s has the placeholder %q; a back-quoted word in a flag's usage becomes its placeholder", name, f.Name, v)
			}
		})
		for _, sub := range c.Commands() {
			walk(append(path, sub.Name()), sub)
		}
	}
	walk([]string{"penny"}, newRoot(nil, nil))
}
