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

	"github.com/penny-gateway/penny/internal/advise"
	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/gateway"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/progress"
	"github.com/penny-gateway/penny/internal/route"
	"github.com/penny-gateway/penny/internal/sqlite"
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
	// Out receives the report; Progress the progress bars (nil: none),
	// each erased when its phase ends.
	Out, Progress io.Writer
	// Command is how the person runs penny, for the commands Print
	// suggests: "penny" (the default), "./penny", "go run ./cmd/penny".
	Command string
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
	// Answered[i] is the model that answered Prompts[i] (from Penny's
	// X-Penny-Model header); Acceptable counts the answers the simulated
	// judge accepts (see sim.Mark).
	Answered   []string
	Acceptable int
	// Classified counts the requests of an agent route whose routing
	// agent's call was paid for (strategy routing_agent; the others reused
	// a classification from the response cache).
	Classified int64
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
	// Phases are, in order: the support workload all on Nova Pro, by
	// rules, by the learned router and by the routing agent; then the
	// recommendations without and with caching.
	Phases []Phase
	// Training is how the learned router of the third phase was trained.
	Training *Training
	// Moderation is the batch story: posts moderated on demand and in
	// one Bedrock batch job.
	Moderation *Moderation
	// Advice is the advisor's report on the run's traffic (Flex, batch
	// and Provisioned Throughput break-even), as if it ran all month.
	Advice *advise.Report
	// DB is the ledger file's path; URL is where Penny listened.
	DB  string
	URL string
	// Start is when the run began: the ledger's records of this run are
	// those since Start. Existed tells whether the ledger file was there
	// before the run, and so may hold records of other runs. Temporary
	// tells that the ledger was a temporary file, removed when Run
	// returned.
	Start     time.Time
	Existed   bool
	Temporary bool
	TimeScale float64
	// Command is Options.Command.
	Command string
}

// Routes are the demo's ways to serve its workloads: the chatbot all on
// Nova Pro, tiered by rules, by the learned router in the file router and
// by a routing agent, and the recommendations without and with caching.
// With router "" the learned route is left out.
func Routes(router string) []config.Route {
	routes := []config.Route{
		{Config: route.Config{Name: "reco-nocache", Baseline: "nova-lite", Strategy: "fixed", Tiers: []route.Tier{{Name: "lite", Model: "nova-lite"}}},
			Cache: &cache.Policy{Enabled: false}, PromptCache: &config.PromptCache{Enabled: false}},
		{Config: route.Config{Name: "reco", Baseline: "nova-lite", Strategy: "fixed", Tiers: []route.Tier{{Name: "lite", Model: "nova-lite"}}},
			Cache: &cache.Policy{Enabled: true}, PromptCache: &config.PromptCache{Enabled: true}},
		{Config: route.Config{Name: "support-all-pro", Baseline: "nova-pro", Strategy: "fixed",
			Tiers: []route.Tier{{Name: "pro", Model: "nova-pro"}}}},
		{Config: route.Config{Name: "support", Baseline: "nova-pro", Strategy: "rules",
			Tiers: []route.Tier{{Name: "simple", Model: "nova-micro"}, {Name: "complex", Model: "nova-lite"}},
			Rules: []route.Rule{
				{Tier: "complex", When: route.Match{Keywords: ComplexKeywords}},
				{Tier: "complex", When: route.Match{MinChars: 220}},
			},
			Default: "simple"}},
		{Config: route.Config{Name: "support-agent", Baseline: "nova-pro", Strategy: "agent",
			Tiers:   []route.Tier{{Name: "simple", Model: cheapModel}, {Name: "complex", Model: strongModel}},
			Agent:   &route.AgentConfig{Model: "nova-micro", Labels: map[string]string{"simple": "simple", "complex": "complex"}},
			Default: "simple"}},
		moderationRoute,
	}
	if router != "" {
		routes = append(routes, config.Route{Config: route.Config{Name: "support-learned", Baseline: "nova-pro", Strategy: "learned",
			Tiers:   []route.Tier{{Name: "cheap", Model: cheapModel}, {Name: "strong", Model: strongModel}},
			Learned: &route.LearnedConfig{Model: router, Strong: "strong"},
			Default: "cheap"}})
	}
	return routes
}

// Run starts Penny on the simulator, trains the learned router on graded
// earlier requests, runs the support workload all on Nova Pro and routed
// three ways and the recommendations without and with caching, and returns
// the ledger's figures and the simulated quality of each run.
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
	if o.Command == "" {
		o.Command = "penny"
	}
	// The router file, and the ledger unless o.DB names one, go in a
	// temporary folder that is removed when the run ends, after Penny
	// closed the ledger.
	dir, err := os.MkdirTemp("", "penny-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path, existed, err := ledgerPath(o.DB, dir)
	if err != nil {
		return nil, err
	}
	// Records are stamped when Penny receives them, so every record of
	// this run is at or after start; whatever was in the ledger is before.
	start := time.Now()
	res := &Result{DB: path, Start: start, Existed: existed, Temporary: o.DB == "", TimeScale: o.TimeScale, Command: o.Command}

	// First the learned router's training data, through a Penny of its
	// own: the route that uses the router needs the file at start-up.
	a, err := startPenny(ctx, path, o, nil)
	if err != nil {
		return nil, err
	}
	res.Training, err = trainRouter(ctx, a, dir, o)
	if err2 := stopPenny(a); err == nil {
		err = err2
	}
	if err != nil {
		return nil, err
	}

	a, err = startPenny(ctx, path, o, Routes(res.Training.Path))
	if err != nil {
		return nil, err
	}
	res.URL = a.URL()
	defer stopPenny(a)

	support := SupportWorkload(o.Requests, o.Seed)
	reco := RecommendationWorkload(o.Requests, o.Seed)
	catalogPrompt := CatalogSystem()
	zero := 0.0
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	defer client.CloseIdleConnections()
	chat := "app=chatbot,demo=support"
	phases := []Phase{
		{Title: "All on Nova Pro", Route: "support-all-pro", System: SupportSystem, Prompts: support, Tags: chat},
		{Title: "Rules: Micro / Lite", Route: "support", System: SupportSystem, Prompts: support, Tags: chat},
		{Title: "Learned: Micro / Pro", Route: "support-learned", System: SupportSystem, Prompts: support, Tags: chat},
		{Title: "Agent: Micro / Pro", Route: "support-agent", System: SupportSystem, Prompts: support, Tags: chat},
		{Title: "No caching", Route: "reco-nocache", System: catalogPrompt, Prompts: reco, Temperature: &zero, Tags: "app=shop,demo=caching"},
		{Title: "Response + prompt cache", Route: "reco", System: catalogPrompt, Prompts: reco, Temperature: &zero, Tags: "app=shop,demo=caching"},
	}
	for i := range phases {
		p := &phases[i]
		p.Answered = make([]string, len(p.Prompts))
		pstart := time.Now()
		if err := drive(ctx, client, a.URL(), p, o); err != nil {
			return nil, err
		}
		p.Elapsed = time.Since(pstart)
		if p.System == SupportSystem {
			if err := grade(a.Catalog, p, int64(o.Seed)); err != nil {
				return nil, err
			}
		}
	}
	mod, err := runModeration(ctx, client, a, o, ModerationWorkload(o.Requests, o.Seed))
	if err != nil {
		return nil, err
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
			if strings.Contains(r.Strategy, "routing_agent") {
				p.Classified++
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
	mod.summarize(recs)
	res.Moderation = mod
	if res.Advice, err = adviseOn(ctx, a, start); err != nil {
		return nil, err
	}
	return res, nil
}

// startPenny starts Penny on the simulator with the demo's ledger and
// routes, listening on a free port of 127.0.0.1.
func startPenny(ctx context.Context, path string, o Options, routes []config.Route) (*app.App, error) {
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "off"
	cfg.Simulate = true
	cfg.Database = "sqlite://" + path
	if strings.ContainsAny(path, "?#") {
		cfg.Database = path // a plain path keeps these characters; a URL may not
	}
	cfg.Simulator.Seed = int64(o.Seed)
	cfg.Simulator.TimeScale = &o.TimeScale
	cfg.Routes = routes
	cfg.Log.Level = "error"
	// The moderation batch is one job: Bedrock's minimum of 100 records,
	// or all the posts of a smaller run; polled often, the simulated job
	// being quick.
	cfg.Batch.MinRecords = min(100, o.Requests)
	cfg.Batch.PollInterval, cfg.Batch.PollMax = config.Duration(20*time.Millisecond), config.Duration(100*time.Millisecond)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg, app.Options{Logger: log, BatchTick: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	if err := a.Listen(); err != nil {
		a.Shutdown(context.Background())
		return nil, err
	}
	go a.Serve()
	return a, nil
}

func stopPenny(a *app.App) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.Shutdown(ctx)
}

// ledgerPath returns the ledger file for db (a path or a sqlite:// URL; ""
// for a new file in the temporary folder tmp) and whether it already
// exists.
func ledgerPath(db, tmp string) (path string, existed bool, err error) {
	if db == "" {
		return filepath.Join(tmp, "penny-demo.db"), false, nil
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

// newBar returns a progress bar of n steps on o.Progress, or nil.
func newBar(o Options, title string, n int) *progress.Bar {
	return progress.New(o.Progress, title, 24, n)
}

func drive(ctx context.Context, client *http.Client, url string, p *Phase, o Options) error {
	prompts := p.Prompts
	bar := newBar(o, p.Title, len(prompts))
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
				if err := ask(ctx, client, url, p, i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				bar.Add(1)
			}
		}()
	}
	wg.Wait()
	bar.Done()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// ask sends the phase's prompt i and notes the model that answered it.
func ask(ctx context.Context, client *http.Client, url string, ph *Phase, i int) error {
	p := ph.Prompts[i]
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
	ph.Answered[i] = resp.Header.Get(gateway.HeaderModel)
	return nil
}

// Print writes the side-by-side reports.
func (r *Result) Print(w io.Writer) {
	if len(r.Phases) != 6 {
		return
	}
	r.printRouting(w)
	r.printCaching(w)
	r.printModeration(w)
	r.printAdvice(w)
	pace := fmt.Sprintf("run at %g× Bedrock's latency", r.TimeScale)
	if r.TimeScale <= 0 {
		pace = "with no simulated latency"
	}
	fmt.Fprintf(w, "\nAnswers came from Penny's built-in simulator, %s; prices are Bedrock's on-demand list prices.\n", pace)
	fmt.Fprintln(w, "Quality is SIMULATED too: the simulator gives each prompt a difficulty and each model a skill, and its")
	fmt.Fprintln(w, "judge accepts an answer (mark 7 or more out of 10) with a probability that grows with skill minus difficulty.")
	penny := r.Command
	if penny == "" {
		penny = "penny"
	}
	switch {
	case r.Temporary:
		fmt.Fprintln(w, "The ledger was a temporary file and is removed. To keep one and explore it:")
		fmt.Fprintf(w, "  %s demo --db penny-demo.db\n  %s report --db penny-demo.db --by tag:demo\n", penny, penny)
	case r.DB != sqlite.MemoryPath:
		cmd := penny + " report --db " + shellQuote(r.DB) + " --by tag:demo"
		if r.Existed {
			// The ledger has earlier records: show this run's only.
			cmd += " --since " + r.Start.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(w, "Explore the ledger:  %s\n", cmd)
	}
}

// printRouting writes the routing story: the support workload all on Nova
// Pro and routed three ways, with cost and simulated quality.
func (r *Result) printRouting(w io.Writer) {
	ph := r.Phases[:4]
	base := ph[0]
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Customer-support chatbot: 80 % simple questions, 20 % troubleshooting (SIMULATED Bedrock)")
	fmt.Fprintln(w)
	rows := [][]string{{""}}
	for _, p := range ph {
		rows[0] = append(rows[0], p.Title)
	}
	row := func(label string, f func(p Phase) string) {
		cells := []string{label}
		for _, p := range ph {
			cells = append(cells, f(p))
		}
		rows = append(rows, cells)
	}
	row("requests", func(p Phase) string { return fmt.Sprint(p.Summary.Requests) })
	for _, m := range []string{"nova-pro", "nova-lite", "nova-micro"} {
		row("  answered by "+m, func(p Phase) string {
			if p.Models[m] == 0 {
				return "—"
			}
			return fmt.Sprint(p.Models[m])
		})
	}
	row("  routing-agent calls (Nova Micro)", func(p Phase) string {
		if p.Route != "support-agent" {
			return "—"
		}
		return fmt.Sprint(p.Classified)
	})
	row("errors", func(p Phase) string { return fmt.Sprint(p.Summary.Errors) })
	row("input / output tokens", func(p Phase) string {
		return fmt.Sprintf("%d / %d", p.Summary.InputTokens, p.Summary.OutputTokens)
	})
	row("avg latency (real-time equivalent)", func(p Phase) string {
		if r.TimeScale <= 0 {
			return "—" // the simulator did not wait: there is nothing to scale back
		}
		return (time.Duration(float64(p.Summary.AvgLatency) / r.TimeScale)).Round(10 * time.Millisecond).String()
	})
	row("cost", func(p Phase) string { return usd(p.Summary.Cost) })
	row("cost per 1M requests", func(p Phase) string { return perMillion(p.Summary) })
	row("saved vs all on Nova Pro", func(p Phase) string { return pct(base.Summary.Cost-p.Summary.Cost, base.Summary.Cost) })
	row("answers accepted (simulated judge)", func(p Phase) string {
		return fmt.Sprintf("%s (%d)", ratio(p.Acceptable, len(p.Prompts)), p.Acceptable)
	})
	row("quality vs all on Nova Pro", func(p Phase) string { return ratio(p.Acceptable, base.Acceptable) })
	texttable.Write(w, rows, 3)

	rules, lrn, agent := ph[1], ph[2], ph[3]
	fmt.Fprintf(w, "\nRules save %s and keep %s of the quality", pct(base.Summary.Cost-rules.Summary.Cost, base.Summary.Cost),
		ratio(rules.Acceptable, base.Acceptable))
	if rules.Acceptable < base.Acceptable {
		fmt.Fprint(w, ": Nova Lite answers troubleshooting less well than Nova Pro")
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintf(w, "The learned router saves %s and keeps %s of the quality; the routing agent saves %s and keeps %s\n",
		pct(base.Summary.Cost-lrn.Summary.Cost, base.Summary.Cost), ratio(lrn.Acceptable, base.Acceptable),
		pct(base.Summary.Cost-agent.Summary.Cost, base.Summary.Cost), ratio(agent.Acceptable, base.Acceptable))
	fmt.Fprintln(w, "(its own Nova Micro calls are in its cost).")
	if t := r.Training; t != nil {
		fmt.Fprintf(w, "The learned router was trained first, on %d earlier support requests (%d different questions: they repeat)\n",
			t.Examples, t.Distinct)
		fmt.Fprintf(w, "answered by Nova Micro (%d accepted) and Nova Pro (%d accepted) and graded by a Nova Pro judge with\n",
			t.CheapAcceptable, t.StrongAcceptable)
		fmt.Fprintf(w, "`penny eval`'s runner, for %s. Its threshold (%.3f) was chosen for 95 %% of Nova Pro's accepted answers on\n",
			usd(t.Cost), t.Threshold)
		fmt.Fprintf(w, "those requests, each scored by a model trained without it (%d folds); there it sent %.1f %% to Nova Pro.\n",
			t.Info.ThresholdFolds, 100*t.Info.CVStrongShare)
	}
}

// pct formats part/whole as a percentage.
func pct(part, whole llm.Money) string {
	if whole == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", float64(part)*100/float64(whole))
}

// ratio formats a/b as a percentage.
func ratio(a, b int) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", float64(a)*100/float64(b))
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
	a, b := r.Phases[4], r.Phases[5]
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
