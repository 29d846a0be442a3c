package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/demo"
)

func newDemo() *cobra.Command {
	var o demo.Options
	var quiet bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "See what Penny saves in one minute, with no AWS account",
		Long: `Start Penny in-process on its built-in Bedrock simulator, drive a customer-support
chatbot workload (80 % simple questions, 20 % troubleshooting) through the real
HTTP API — once all on Nova Pro, once tiered (simple → Nova Micro, complex →
Nova Lite, chosen by a keyword and length rule) — and print the costs side by
side from Penny's ledger.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if !quiet {
				o.Progress = cmd.ErrOrStderr()
			}
			fmt.Fprintf(out, "Penny demo: %d requests per run on the built-in Bedrock SIMULATOR (no AWS account needed)\n\n", o.Requests)
			start := time.Now()
			res, err := demo.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			res.Print(out)
			fmt.Fprintf(out, "\nDone in %s.\n", time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Requests, "requests", 300, "requests per run")
	f.IntVar(&o.Concurrency, "concurrency", 24, "concurrent simulated clients")
	f.Uint64Var(&o.Seed, "seed", 7, "workload and simulator seed")
	f.Float64Var(&o.TimeScale, "time-scale", 0.05, "simulated latency as a fraction of Bedrock's real latency")
	f.StringVar(&o.DB, "db", "", "ledger file to write (default: a new temporary file)")
	f.BoolVar(&quiet, "quiet", false, "no progress bars")
	return cmd
}
