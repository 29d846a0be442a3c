package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/demo"
	"github.com/penny-gateway/penny/internal/progress"
)

func newDemo() *cobra.Command {
	var o demo.Options
	var quiet bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "See what Penny saves in one minute, with no AWS account",
		Long: `Start Penny in-process on its built-in Bedrock simulator and drive two workloads
through the real HTTP API, printing what each way of running them cost, from
Penny's ledger:

  - a customer-support chatbot (80 % simple questions, 20 % troubleshooting):
    all on Nova Pro; tiered by a keyword and length rule (Nova Micro / Lite);
    by a learned router (Nova Micro / Pro) trained first on earlier requests
    graded by a judge model, as penny eval and penny router train do; and by
    a routing agent (Nova Micro classifies each request). Each run shows its
    cost and its SIMULATED quality: the share of answers the simulator's judge
    accepts.
  - product recommendations with a long catalog prompt and repeated questions:
    without and with the response cache and Bedrock prompt caching.

Without --db the ledger is a temporary file, removed at the end; with --db
naming an existing ledger the runs are added to it, and the figures count
this run's requests only. Progress bars are drawn on standard error when it
is a terminal (not with --quiet).
`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case o.Requests < 1:
				return fmt.Errorf("--requests %d: want at least 1", o.Requests)
			case o.Concurrency < 1:
				return fmt.Errorf("--concurrency %d: want at least 1", o.Concurrency)
			case o.TimeScale < 0:
				return fmt.Errorf("--time-scale %g: want 0 (instant) or more", o.TimeScale)
			}
			out := cmd.OutOrStdout()
			if !quiet {
				o.Progress = progress.Terminal(cmd.ErrOrStderr())
			}
			o.Command = invocation(os.Args[0], executable(), fileExists(filepath.Join("cmd", "penny", "main.go")))
			fmt.Fprintf(out, "Penny demo: %d requests per run on the built-in Bedrock SIMULATOR (no AWS account needed)\n\n", o.Requests)
			start := time.Now()
			res, err := demo.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			res.Print(out)
			fmt.Fprintf(out, "\nDone in %s.\n", time.Since(start).Round(10*time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Requests, "requests", 300, "requests per run")
	f.IntVar(&o.Concurrency, "concurrency", 24, "concurrent simulated clients")
	f.Uint64Var(&o.Seed, "seed", 7, "workload and simulator seed")
	f.Float64Var(&o.TimeScale, "time-scale", 0.05, "simulated latency as a fraction of Bedrock's real latency (0: instant)")
	f.StringVar(&o.DB, "db", "", "ledger to write or add to: a file path or sqlite:// URL (default: a temporary file, removed at the end)")
	f.BoolVar(&quiet, "quiet", false, "no progress bars (they are drawn only when standard error is a terminal)")
	return cmd
}

// invocation is how the person ran penny, for the commands the demo
// suggests: under `go run` (a binary in go's build cache folder) "go run
// ./cmd/penny" from the repository's root (inRepo) or "go run" and the
// package path elsewhere; a binary run by a path ("./penny") that path;
// otherwise "penny", found on PATH.
func invocation(arg0, exe string, inRepo bool) string {
	if goRunBinary(exe) {
		if inRepo {
			return "go run ./cmd/penny"
		}
		pkg := "github.com/penny-gateway/penny/cmd/penny"
		if v := readBuild().Version; v != "dev" {
			pkg += "@" + v
		}
		return "go run " + pkg
	}
	if strings.ContainsRune(arg0, filepath.Separator) {
		return arg0
	}
	return "penny"
}

// goRunBinary reports whether exe is where `go run` puts the binary it
// builds: $GOTMPDIR/go-build…/b001/exe/NAME, or, for a binary it reuses,
// $GOCACHE/xx/HASH-d/NAME (HASH 64 hex digits).
func goRunBinary(exe string) bool {
	dir := filepath.Dir(exe)
	if filepath.Base(dir) == "exe" && strings.HasPrefix(filepath.Base(filepath.Dir(filepath.Dir(dir))), "go-build") {
		return true
	}
	hash, ok := strings.CutSuffix(filepath.Base(dir), "-d")
	return ok && len(hash) == 64 && strings.Trim(hash, "0123456789abcdef") == ""
}

func executable() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return exe
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
