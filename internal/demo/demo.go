package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/route"
)

// Options configure a demo run.
type Options struct {
	// Requests per phase (default 300).
	Requests int
	// Concurrency of the simulated clients (default 24).
	Concurrency int
	Seed        uint64
	// TimeScale speeds up the simulator's Bedrock-like latencies
	// (default 0.05: twenty times faster than real time).
	TimeScale float64
	// DB is the ledger file; default a new temporary file.
	DB string
	// Out receives the report; Progress the progress bars (nil: none).
	Out, Progress io.Writer
}

// Phase is one way of running the workload.
type Phase struct {
	Title string
	Route string
	// Summary over the phase's requests; Models its requests per model.
	Summary ledger.Summary
	Models  map[string]int64
	Elapsed time.Duration
}

// Result is what the demo measured.
type Result struct {
	Phases    []Phase
	DB        string
	URL       string
	TimeScale float64
}

// Routes are the demo's two ways to serve the same chatbot.
func Routes() []route.Config {
	return []route.Config{
		{Name: "support-all-pro", Baseline: "nova-pro", Strategy: "fixed",
			Tiers: []route.Tier{{Name: "pro", Model: "nova-pro"}}},
		{Name: "support", Baseline: "nova-pro", Strategy: "rules",
			Tiers: []route.Tier{{Name: "simple", Model: "nova-micro"}, {Name: "complex", Model: "nova-lite"}},
			Rules: []route.Rule{
				{Tier: "complex", When: route.Match{Keywords: ComplexKeywords}},
				{Tier: "complex", When: route.Match{MinChars: 220}},
			},
			Default: "simple"},
	}
}

// Run starts Penny on the simulator, runs the support workload once all on
// Nova Pro and once tiered, and returns the ledger's figures for both.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Requests <= 0 {
		o.Requests = 300
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 24
	}
	if o.TimeScale == 0 {
		o.TimeScale = 0.05
	}
	if o.DB == "" {
		dir, err := os.MkdirTemp("", "penny-demo-")
		if err != nil {
			return nil, err
		}
		o.DB = filepath.Join(dir, "penny-demo.db")
	}
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.Simulate = true
	cfg.Database = "sqlite://" + o.DB
	cfg.Simulator.Seed = int64(o.Seed)
	cfg.Simulator.TimeScale = &o.TimeScale
	cfg.Routes = Routes()
	cfg.Log.Level = "error"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	if err := a.Listen(); err != nil {
		a.Shutdown(context.Background())
		return nil, err
	}
	go a.Serve()
	res := &Result{DB: o.DB, URL: a.URL(), TimeScale: o.TimeScale}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a.Shutdown(sctx)
	}()

	prompts := SupportWorkload(o.Requests, o.Seed)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	phases := []Phase{
		{Title: "All on Nova Pro", Route: "support-all-pro"},
		{Title: "Tiered: Micro / Lite", Route: "support"},
	}
	for i := range phases {
		p := &phases[i]
		start := time.Now()
		if err := drive(ctx, client, a.URL(), p, prompts, o); err != nil {
			return nil, err
		}
		p.Elapsed = time.Since(start)
	}
	if err := a.Ledger.Flush(ctx); err != nil {
		return nil, err
	}
	byRoute, err := a.Store.Summarize(ctx, ledger.SummaryQuery{By: ledger.ByRoute})
	if err != nil {
		return nil, err
	}
	recs, err := a.Store.Records(ctx, ledger.RecordQuery{})
	if err != nil {
		return nil, err
	}
	for i := range phases {
		p := &phases[i]
		p.Models = map[string]int64{}
		for _, s := range byRoute {
			if s.Key == p.Route {
				p.Summary = s
			}
		}
		for _, r := range recs {
			if r.Route == p.Route && r.Model != "" {
				p.Models[r.Model]++
			}
		}
	}
	res.Phases = phases
	return res, nil
}

func drive(ctx context.Context, client *http.Client, url string, p *Phase, prompts []Prompt, o Options) error {
	var bar *progressbar.ProgressBar
	if o.Progress != nil {
		bar = progressbar.NewOptions(len(prompts),
			progressbar.OptionSetWriter(o.Progress),
			progressbar.OptionSetDescription(fmt.Sprintf("%-22s", p.Title)),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.Progress) }),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(prompts) || ctx.Err() != nil {
					return
				}
				if err := ask(ctx, client, url, p.Route, prompts[i]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				if bar != nil {
					bar.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bar != nil {
		bar.Finish()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

func ask(ctx context.Context, client *http.Client, url, model string, p Prompt) error {
	body, _ := json.Marshal(map[string]any{
		"model": model,
		"messages": []map[string]string{
			{"role": "system", "content": SupportSystem},
			{"role": "user", "content": p.Text},
		},
		"max_tokens": 600,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Penny-Tenant", "acme-support")
	req.Header.Set("X-Penny-Tags", "app=chatbot,demo=support")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("demo request failed: %s: %s", resp.Status, b)
	}
	return nil
}

// Print writes the side-by-side report.
func (r *Result) Print(w io.Writer) {
	if len(r.Phases) != 2 {
		return
	}
	a, b := r.Phases[0], r.Phases[1]
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Customer-support chatbot: 80 % simple questions, 20 % troubleshooting (SIMULATED Bedrock)")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t%s\t%s\t\n", a.Title, b.Title)
	row := func(label string, f func(p Phase) string) { fmt.Fprintf(tw, "%s\t%s\t%s\t\n", label, f(a), f(b)) }
	row("requests", func(p Phase) string { return fmt.Sprint(p.Summary.Requests) })
	for _, m := range []string{"nova-pro", "nova-lite", "nova-micro"} {
		row("  on "+m, func(p Phase) string {
			if p.Models[m] == 0 {
				return "—"
			}
			return fmt.Sprint(p.Models[m])
		})
	}
	row("errors", func(p Phase) string { return fmt.Sprint(p.Summary.Errors) })
	row("input tokens", func(p Phase) string { return fmt.Sprint(p.Summary.InputTokens) })
	row("output tokens", func(p Phase) string { return fmt.Sprint(p.Summary.OutputTokens) })
	row("avg latency (real-time equivalent)", func(p Phase) string {
		return (time.Duration(float64(p.Summary.AvgLatency) / r.TimeScale)).Round(10 * time.Millisecond).String()
	})
	row("cost", func(p Phase) string { return usd(p.Summary.Cost) })
	row("cost per 1M requests", func(p Phase) string { return perMillion(p.Summary) })
	tw.Flush()
	saved := a.Summary.Cost - b.Summary.Cost
	pctSaved := 0.0
	if a.Summary.Cost > 0 {
		pctSaved = float64(saved) * 100 / float64(a.Summary.Cost)
	}
	fmt.Fprintf(w, "\nTiered routing saves %s on %d requests: %.1f %% less than sending everything to Nova Pro.\n",
		usd(saved), b.Summary.Requests, pctSaved)
	fmt.Fprintf(w, "The ledger's own baseline for the tiered run (the same requests priced on Nova Pro) is %s: savings %s.\n",
		usd(b.Summary.BaselineCost), usd(b.Summary.Savings))
	fmt.Fprintf(w, "\nAnswers came from Penny's built-in simulator, run at %g× Bedrock's latency; prices are Bedrock's on-demand list prices.\n", r.TimeScale)
	fmt.Fprintf(w, "Explore the ledger:  penny report --db sqlite://%s --by model\n", r.DB)
}

// usd formats money for people, to a hundredth of a cent.
func usd(m llm.Money) string { return fmt.Sprintf("$%.4f", m.Dollars()) }

func perMillion(s ledger.Summary) string {
	if s.Requests == 0 {
		return "—"
	}
	per := float64(s.Cost) / float64(s.Requests) * 1e6 / 1e9
	return fmt.Sprintf("$%.2f", per)
}
