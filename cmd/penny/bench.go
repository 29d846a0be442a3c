package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/loadtest"
	"github.com/penny-gateway/penny/internal/provider/bedrock"
)

func newBench() *cobra.Command {
	var (
		requests, concurrency int
		rate                  float64
		api                   string
		stream                bool
		maxDuration           time.Duration
		cpuProfile            string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the latency Penny adds and its maximum throughput",
		Long: `Start a stub Bedrock upstream that answers at once and Penny in front of it (the
real Bedrock provider, the AWS SDK, the ledger on SQLite), then, in the same run:

  1. paced load at --rate straight to the stub, and the same through Penny:
     the difference in p50/p99 is the latency Penny adds;
  2. closed-loop load at --concurrency through Penny: maximum throughput.

Everything listens on 127.0.0.1; every run is bounded by --requests and --max-duration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return runBench(cmd.Context(), out, benchOpts{requests, concurrency, rate, api, stream, maxDuration})
		},
	}
	f := cmd.Flags()
	f.IntVar(&requests, "requests", 20000, "requests per measured run")
	f.IntVar(&concurrency, "concurrency", 50, "concurrent connections")
	f.Float64Var(&rate, "rate", 2000, "paced request rate for the added-latency runs (requests/s)")
	f.StringVar(&api, "api", "converse", "frontend to load: converse or openai")
	f.BoolVar(&stream, "stream", false, "streamed requests")
	f.DurationVar(&maxDuration, "max-duration", 60*time.Second, "longest a single run may take")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (stub, Penny and load) to this file")
	return cmd
}

type benchOpts struct {
	requests, concurrency int
	rate                  float64
	api                   string
	stream                bool
	maxDuration           time.Duration
}

func runBench(ctx context.Context, out io.Writer, o benchOpts) error {
	stub, err := loadtest.StartStub()
	if err != nil {
		return err
	}
	defer stub.Close()
	dir, err := os.MkdirTemp("", "penny-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = "sqlite://" + filepath.Join(dir, "bench.db")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg, app.Options{Logger: log, Bedrock: &bedrock.Options{
		Region: "us-east-1", BaseEndpoint: stub.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBENCH", "benchsecret", ""),
	}})
	if err != nil {
		return err
	}
	if err := a.Listen(); err != nil {
		return err
	}
	go a.Serve()
	defer a.Shutdown(context.Background())

	suffix := "converse"
	if o.stream {
		suffix = "converse-stream"
	}
	direct := loadtest.Load{URL: stub.URL() + "/model/amazon.nova-micro-v1%3A0/" + suffix, Body: []byte(benchConverseBody),
		Concurrency: o.concurrency, Requests: o.requests, Rate: o.rate, MaxDuration: o.maxDuration}
	through := direct
	through.URL = a.URL() + "/model/nova-micro/" + suffix
	switch o.api {
	case "converse":
	case "openai":
		through.URL = a.URL() + "/v1/chat/completions"
		through.Body = []byte(benchOpenAIBody(o.stream))
	default:
		return fmt.Errorf("--api %q is not converse or openai", o.api)
	}
	through.Headers = map[string][]string{"Content-Type": {"application/json"}}
	client := loadtest.NewClient(o.concurrency)

	fmt.Fprintf(out, "penny bench: api=%s stream=%v, %d requests per run, GOMAXPROCS=%d\n", o.api, o.stream, o.requests, runtimeProcs())
	d := loadtest.Run(ctx, client, direct)
	fmt.Fprintf(out, "  stub directly   @ %.0f/s: %s\n", o.rate, d)
	p := loadtest.Run(ctx, client, through)
	fmt.Fprintf(out, "  through Penny   @ %.0f/s: %s\n", o.rate, p)
	fmt.Fprintf(out, "  added latency: p50 %s, p99 %s\n", (p.P50 - d.P50).Round(time.Microsecond), (p.P99 - d.P99).Round(time.Microsecond))
	maxRun := through
	maxRun.Rate = 0
	m := loadtest.Run(ctx, client, maxRun)
	fmt.Fprintf(out, "  max throughput  (c=%d): %s\n", o.concurrency, m)
	a.Ledger.Flush(ctx)
	st := a.Ledger.Stats()
	fmt.Fprintf(out, "  ledger: %d records written, %d failed\n", st.Written, st.Failed)
	if d.Errors+p.Errors+m.Errors > 0 {
		return fmt.Errorf("bench saw errors: direct %d, penny %d, max %d (first: %s %s %s)", d.Errors, p.Errors, m.Errors, d.FirstError, p.FirstError, m.FirstError)
	}
	return nil
}

const benchConverseBody = `{"system":[{"text":"You are the support assistant of Acme Cloud. Answer briefly."}],` +
	`"messages":[{"role":"user","content":[{"text":"Where is my order 12345? It was due yesterday."}]}],` +
	`"inferenceConfig":{"maxTokens":256,"temperature":0.2}}`

func benchOpenAIBody(stream bool) string {
	s := `{"model":"nova-micro","messages":[{"role":"system","content":"You are the support assistant of Acme Cloud. Answer briefly."},` +
		`{"role":"user","content":"Where is my order 12345? It was due yesterday."}],"max_tokens":256,"temperature":0.2`
	if stream {
		s += `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return s + "}"
}
