// Command penny is a cost-optimizing gateway for Amazon Bedrock.
//
// Run `penny --help` for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tuneGC()
	if err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "penny:", err)
		os.Exit(1)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "penny",
		Short: "Penny is a cost-optimizing gateway for Amazon Bedrock",
		Long: `Penny sits between your applications and Amazon Bedrock and applies every cost
lever it knows — the right model per request, caching, lean prompts, the right
consumption mode — and records what each request cost and what it would have
cost without Penny.

Try it with no AWS account:  penny demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuild().String(),
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServe(), newModels(), newReport(), newDemo(), newBench(), newKeys(), newRouter(), newPrompt(), newAlerts(), newEval(), newAdvise(), newWhatIf(), newBatch(), newVersion())
	return root
}

// loadConfig reads --config (if set) and the PENNY_* environment.
func loadConfig(path string) (config.Config, error) {
	return config.Load(path, os.Getenv)
}

// newLogger returns the logger of log.level and log.format. JSON logs give
// durations as float milliseconds under a key ending in "_ms" (see
// durationsInMillis); text logs keep Go's "1.5s".
func newLogger(w io.Writer, c config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		opts.ReplaceAttr = durationsInMillis
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationsInMillis turns a time.Duration attribute into float milliseconds
// with the unit in its key ("latency" becomes "latency_ms"): slog's JSON
// handler writes durations as integer nanoseconds under the bare key, which
// log pipelines then read as a plain number of unknown unit.
func durationsInMillis(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "_ms") {
		key += "_ms"
	}
	return slog.Float64(key, float64(a.Value.Duration())/float64(time.Millisecond))
}

// tuneGC raises the garbage collector's target to 400 % unless GOGC is
// set: a gateway keeps little live memory but allocates per request, and
// collecting less often cuts both CPU and tail latency (docs/benchmarks.md).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// gcPercent reports the current GC target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
