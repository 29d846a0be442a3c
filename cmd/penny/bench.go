package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
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
		upstream              string
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
			return runBench(cmd.Context(), out, benchOpts{requests, concurrency, rate, api, upstream, stream, maxDuration})
		},
	}
	f := cmd.Flags()
	f.IntVar(&requests, "requests", 20000, "requests per measured run")
	f.IntVar(&concurrency, "concurrency", 50, "concurrent connections")
	f.Float64Var(&rate, "rate", 2000, "paced request rate for the added-latency runs (requests/s)")
	f.StringVar(&api, "api", "converse", "frontend to load: "+strings.Join(benchAPIs, ", "))
	f.StringVar(&upstream, "upstream", "bedrock", "upstream Penny calls: bedrock (the AWS SDK) or openai (an OpenAI-compatible server)")
	f.BoolVar(&stream, "stream", false, "streamed requests")
	f.DurationVar(&maxDuration, "max-duration", 60*time.Second, "longest a single run may take")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (stub, Penny and load) to this file")
	return cmd
}

type benchOpts struct {
	requests, concurrency int
	rate                  float64
	api, upstream         string
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
	cfg.AdminListen = "off"
	cfg.Database = "sqlite://" + filepath.Join(dir, "bench.db")
	cfg.Auth = "off" // the load generator has no key; auth has its own benchmarks
	model := "nova-micro"
	if o.api == "invoke" || o.api == "messages" {
		// Anthropic's body shapes: a Claude model, answered by the stub's
		// Converse like the other frontends' requests.
		model = "claude-haiku-4-5"
	}
	switch o.upstream {
	case "bedrock":
	case "openai":
		// A catalog model served by the stub as an OpenAI-compatible upstream.
		model = "stub-micro"
		cfg.Catalog = filepath.Join(dir, "catalog.yaml")
		if err := os.WriteFile(cfg.Catalog, []byte(stubCatalog), 0o600); err != nil {
			return err
		}
		cfg.Upstreams = []config.Upstream{{Name: "stub", Type: "openai", BaseURL: stub.URL() + "/v1"}}
	default:
		return fmt.Errorf("--upstream %q is not bedrock or openai", o.upstream)
	}
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
	// direct calls the stub with its own API; through calls Penny.
	direct := loadtest.Load{URL: stub.URL() + "/model/amazon.nova-micro-v1%3A0/" + suffix, Body: []byte(benchConverseBody),
		Concurrency: o.concurrency, Requests: o.requests, Rate: o.rate, MaxDuration: o.maxDuration}
	if o.upstream == "openai" {
		direct.URL, direct.Body = stub.URL()+"/v1/chat/completions", []byte(benchOpenAIBody("stub-micro", o.stream))
	}
	through := direct
	path, body, err := benchRequest(o.api, model, o.stream, o.upstream)
	if err != nil {
		return err
	}
	through.URL, through.Body = a.URL()+path, []byte(body)
	through.Headers = map[string][]string{"Content-Type": {"application/json"}}
	client := loadtest.NewClient(o.concurrency)

	fmt.Fprintf(out, "penny bench: api=%s upstream=%s stream=%v, %d requests per run, GOMAXPROCS=%d, GC percent %d\n",
		o.api, o.upstream, o.stream, o.requests, runtime.GOMAXPROCS(0), gcPercent())
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

const stubCatalog = `models:
  - id: stub-micro
    name: Stub model on an OpenAI-compatible upstream
    provider: stub
    bedrock_id: stub-micro
    tier: economy
    context_window: 128000
    max_output_tokens: 10000
    capabilities: {chat: true, streaming: true}
    prices: {input: "0.035", output: "0.14"}
`

// benchAPIs are the frontends penny bench loads.
var benchAPIs = []string{"converse", "openai", "responses", "messages", "invoke"}

// benchRequest is the path and body of one request to frontend api, asking
// the same of the model as the other frontends do (a system prompt, one
// user question, 256 tokens at most, temperature 0.2).
func benchRequest(api, model string, stream bool, upstream string) (path, body string, err error) {
	const system, question = "You are the support assistant of Acme Cloud. Answer briefly.", "Where is my order 12345? It was due yesterday."
	streamField := ""
	if stream {
		streamField = `,"stream":true`
	}
	switch api {
	case "converse":
		suffix := "converse"
		if stream {
			suffix = "converse-stream"
		}
		return "/model/" + model + "/" + suffix, benchConverseBody, nil
	case "openai":
		return "/v1/chat/completions", benchOpenAIBody(model, stream), nil
	case "responses":
		// store: false, so the figure is the frontend's, not the response store's.
		return "/v1/responses", `{"model":"` + model + `","instructions":"` + system + `","input":"` + question +
			`","max_output_tokens":256,"temperature":0.2,"store":false` + streamField + `}`, nil
	case "messages":
		return "/v1/messages", `{"model":"` + model + `","system":"` + system + `","max_tokens":256,"temperature":0.2,` +
			`"messages":[{"role":"user","content":"` + question + `"}]` + streamField + `}`, nil
	case "invoke":
		if upstream != "bedrock" {
			return "", "", fmt.Errorf("--api invoke needs --upstream bedrock: its Anthropic body is for a Bedrock model")
		}
		suffix := "invoke"
		if stream {
			suffix = "invoke-with-response-stream"
		}
		return "/model/" + model + "/" + suffix, `{"anthropic_version":"bedrock-2023-05-31","system":"` + system + `","max_tokens":256,` +
			`"temperature":0.2,"messages":[{"role":"user","content":"` + question + `"}]}`, nil
	}
	return "", "", fmt.Errorf("--api %q is not one of %s", api, strings.Join(benchAPIs, ", "))
}

func benchOpenAIBody(model string, stream bool) string {
	s := `{"model":"` + model + `","messages":[{"role":"system","content":"You are the support assistant of Acme Cloud. Answer briefly."},` +
		`{"role":"user","content":"Where is my order 12345? It was due yesterday."}],"max_tokens":256,"temperature":0.2`
	if stream {
		s += `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return s + "}"
}
