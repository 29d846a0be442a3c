package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/ledger/sqlite"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/route"
	"github.com/penny-gateway/penny/internal/texttable"
)

// Options configure a demo run.
type Options struct {
	// Requests per phase (0: 300).
	Requests int
	// Concurrency of the simulated clients (0: 24).
	Concurrency int
	Seed        uint64
	// TimeScale scales the simulator's Bedrock-like latencies: 1 is real
	// time, 0.05 twenty times faster, 0 instant. `penny demo` defaults to
	// 0.05. Negative is an error.
	TimeScale float64
	// DB is the ledger: a file path or a sqlite:// URL; default a new
	// temporary file. An existing ledger is added to, and the figures count
	// this run's requests only.
	DB string
	// Out receives the report; Progress the progress bars (nil: none).
	Out, Progress io.Writer
}

// Phase is one way of running a workload.
type Phase struct {
	Title string
	Route string
	// System, Prompts, Temperature and Tags make its requests.
	System      string
	Prompts     []Prompt
	Temperature *float64
	Tags        string
	// Summary over the phase's requests; Models its requests per model.
	Summary ledger.Summary
	Models  map[string]int64
	Elapsed time.Duration
	// Caching figures: answers from the response cache (coalesced ones
	// included), input tokens read from the prompt cache, and the savings
	// each cache made (baseline minus cost of the records it served).
	Hits, Coalesced      int64
	PromptCacheRead      int64
	SavedByResponseCache llm.Money
	SavedByPromptCache   llm.Money
}

// Result is what the demo measured.
type Result struct {
	Phases []Phase
	// DB is the ledger file's path; URL is where Penny listened.
	DB  string
	URL string
	// Start is when the run began: the ledger's records of this run are
	// those since Start. Existed tells whether the ledger file was there
	// before the run, and so may hold records of other runs.
	Start     time.Time
	Existed   bool
	TimeScale float64
}

// Routes are the demo's ways to serve its workloads: the chatbot all on
// Nova Pro or tiered, and the recommendations without and with caching.
func Routes() []route.Config {
	off, on := false, true
	return []route.Config{
		{Name: "reco-nocache", Baseline: "nova-lite", Strategy: "fixed", Tiers: []route.Tier{{Name: "lite", Model: "nova-lite"}},
			Cache: &cache.Policy{Enabled: false}, PromptCache: &off},
		{Name: "reco", Baseline: "nova-lite", Strategy: "fixed", Tiers: []route.Tier{{Name: "lite", Model: "nova-lite"}},
			Cache: &cache.Policy{Enabled: true}, PromptCache: &on},
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
	switch {
	case o.Requests < 0:
		return nil, fmt.Errorf("demo: requests %d is negative", o.Requests)
	case o.Concurrency < 0:
		return nil, fmt.Errorf("demo: concurrency %d is negative", o.Concurrency)
	case !(o.TimeScale >= 0) || math.IsInf(o.TimeScale, 1):
		return nil, fmt.Errorf("demo: time scale %g is not a number from 0 (instant) up", o.TimeScale)
	}
	if o.Requests == 0 {
		o.Requests = 300
	}
	if o.Concurrency == 0 {
		o.Concurrency = 24
	}
	path, existed, err := ledgerPath(o.DB)
	if err != nil {
		return nil, err
	}
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.Simulate = true
	cfg.Database = "sqlite://" + path
	if strings.ContainsAny(path, "?#") {
		cfg.Database = path // a plain path keeps these characters; a URL may not
	}
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
	// Records are stamped when Penny receives them, so every record of
	// this run is at or after start; whatever was in the ledger is before.
	start := time.Now()
	res := &Result{DB: path, URL: a.URL(), Start: start, Existed: existed, TimeScale: o.TimeScale}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a.Shutdown(sctx)
	}()

	support := SupportWorkload(o.Requests, o.Seed)
	reco := RecommendationWorkload(o.Requests, o.Seed)
	catalogPrompt := CatalogSystem()
	zero := 0.0
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	defer client.CloseIdleConnections()
	phases := []Phase{
		{Title: "All on Nova Pro", Route: "support-all-pro", System: SupportSystem, Prompts: support, Tags: "app=chatbot,demo=support"},
		{Title: "Tiered: Micro / Lite", Route: "support", System: SupportSystem, Prompts: support, Tags: "app=chatbot,demo=support"},
		{Title: "No caching", Route: "reco-nocache", System: catalogPrompt, Prompts: reco, Temperature: &zero, Tags: "app=shop,demo=caching"},
		{Title: "Response + prompt cache", Route: "reco", System: catalogPrompt, Prompts: reco, Temperature: &zero, Tags: "app=shop,demo=caching"},
	}
	for i := range phases {
		p := &phases[i]
		pstart := time.Now()
		if err := drive(ctx, client, a.URL(), p, o); err != nil {
			return nil, err
		}
		p.Elapsed = time.Since(pstart)
	}
	if err := a.Ledger.Flush(ctx); err != nil {
		return nil, err
	}
	byRoute, err := a.Store.Summarize(ctx, ledger.SummaryQuery{Since: start, By: ledger.ByRoute})
	if err != nil {
		return nil, err
	}
	recs, err := a.Store.Records(ctx, ledger.RecordQuery{Since: start})
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
			if r.Route != p.Route {
				continue
			}
			if r.Model != "" {
				p.Models[r.Model]++
			}
			switch {
			case r.Cache == string(llm.CacheHit):
				p.Hits++
				if strings.Contains(r.Strategy, "coalesced") {
					p.Coalesced++
				}
				p.SavedByResponseCache += r.Savings()
			case r.CacheReadTokens > 0:
				// Only answers Bedrock gave: a hit repeats its original's usage.
				p.PromptCacheRead += int64(r.CacheReadTokens)
				p.SavedByPromptCache += r.Savings()
			}
		}
	}
	res.Phases = phases
	return res, nil
}

// ledgerPath returns the ledger file for db (a path or a sqlite:// URL; ""
// for a new temporary file) and whether it already exists.
func ledgerPath(db string) (path string, existed bool, err error) {
	if db == "" {
		dir, err := os.MkdirTemp("", "penny-demo-")
		if err != nil {
			return "", false, err
		}
		return filepath.Join(dir, "penny-demo.db"), false, nil
	}
	path, err = sqlite.ParsePath(db)
	if err != nil {
		return "", false, err
	}
	if path == sqlite.MemoryPath {
		return path, false, nil
	}
	if _, err := os.Stat(path); err == nil {
		existed = true
	}
	return path, existed, nil
}

func drive(ctx context.Context, client *http.Client, url string, p *Phase, o Options) error {
	prompts := p.Prompts
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
				if err := ask(ctx, client, url, p, prompts[i]); err != nil {
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

func ask(ctx context.Context, client *http.Client, url string, ph *Phase, p Prompt) error {
	req := map[string]any{
		"model": ph.Route,
		"messages": []map[string]string{
			{"role": "system", "content": ph.System},
			{"role": "user", "content": p.Text},
		},
		"max_tokens": 600,
	}
	if ph.Temperature != nil {
		req["temperature"] = *ph.Temperature
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("X-Penny-Tenant", "acme")
	hreq.Header.Set("X-Penny-Tags", ph.Tags)
	resp, err := client.Do(hreq)
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

// Print writes the side-by-side reports.
func (r *Result) Print(w io.Writer) {
	if len(r.Phases) != 4 {
		return
	}
	a, b := r.Phases[0], r.Phases[1]
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Customer-support chatbot: 80 % simple questions, 20 % troubleshooting (SIMULATED Bedrock)")
	fmt.Fprintln(w)
	rows := [][]string{{"", a.Title, b.Title}}
	row := func(label string, f func(p Phase) string) { rows = append(rows, []string{label, f(a), f(b)}) }
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
		if r.TimeScale <= 0 {
			return "—" // the simulator did not wait: there is nothing to scale back
		}
		return (time.Duration(float64(p.Summary.AvgLatency) / r.TimeScale)).Round(10 * time.Millisecond).String()
	})
	row("cost", func(p Phase) string { return usd(p.Summary.Cost) })
	row("cost per 1M requests", func(p Phase) string { return perMillion(p.Summary) })
	texttable.Write(w, rows, 3)
	saved := a.Summary.Cost - b.Summary.Cost
	pctSaved := 0.0
	if a.Summary.Cost > 0 {
		pctSaved = float64(saved) * 100 / float64(a.Summary.Cost)
	}
	fmt.Fprintf(w, "\nTiered routing saves %s on %d requests: %.1f %% less than sending everything to Nova Pro.\n",
		usd(saved), b.Summary.Requests, pctSaved)
	fmt.Fprintf(w, "The ledger's own baseline for the tiered run (the same requests priced on Nova Pro) is %s: savings %s.\n",
		usd(b.Summary.BaselineCost), usd(b.Summary.Savings))
	r.printCaching(w)
	pace := fmt.Sprintf("run at %g× Bedrock's latency", r.TimeScale)
	if r.TimeScale <= 0 {
		pace = "with no simulated latency"
	}
	fmt.Fprintf(w, "\nAnswers came from Penny's built-in simulator, %s; prices are Bedrock's on-demand list prices.\n", pace)
	if r.DB != sqlite.MemoryPath {
		cmd := "penny report --db " + shellQuote(r.DB) + " --by model"
		if r.Existed {
			// The ledger has earlier records: show this run's only.
			cmd += " --since " + r.Start.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(w, "Explore the ledger:  %s\n", cmd)
	}
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe
// characters, so the printed command can be pasted as it is.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:=@,", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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

// printCaching writes the caching story: the recommendation workload
// without and with Penny's response cache and Bedrock prompt caching.
func (r *Result) printCaching(w io.Writer) {
	a, b := r.Phases[2], r.Phases[3]
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Product recommendations: a 2,000-token catalog prompt, shoppers' questions repeat (SIMULATED, Nova Lite)")
	fmt.Fprintln(w)
	rows := [][]string{{"", a.Title, b.Title}}
	row := func(label string, f func(p Phase) string) { rows = append(rows, []string{label, f(a), f(b)}) }
	row("requests", func(p Phase) string { return fmt.Sprint(p.Summary.Requests) })
	row("answered from the response cache", func(p Phase) string { return fmt.Sprintf("%d (%d coalesced)", p.Hits, p.Coalesced) })
	row("input tokens read from Bedrock's prompt cache", func(p Phase) string { return fmt.Sprint(p.PromptCacheRead) })
	row("cost", func(p Phase) string { return usd(p.Summary.Cost) })
	row("  saved by the response cache", func(p Phase) string { return usd(p.SavedByResponseCache) })
	row("  saved by the prompt cache", func(p Phase) string { return usd(p.SavedByPromptCache) })
	texttable.Write(w, rows, 3)
	saved := a.Summary.Cost - b.Summary.Cost
	pct := 0.0
	if a.Summary.Cost > 0 {
		pct = float64(saved) * 100 / float64(a.Summary.Cost)
	}
	fmt.Fprintf(w, "\nBoth caches together save %s on %d requests: %.1f %% less than without caching.\n", usd(saved), b.Summary.Requests, pct)
}
