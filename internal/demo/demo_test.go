package demo_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/demo"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/sqlite"
)

const requests = 40

func run(t *testing.T, db string) *demo.Result {
	t.Helper()
	res, err := demo.Run(context.Background(), demo.Options{Requests: requests, Concurrency: 4, Seed: 7, TimeScale: 0, DB: db})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// checkFigures asserts what every run must show: all requests answered and
// recorded, routed as each phase says, and tiering cheaper than Nova Pro.
func checkFigures(t *testing.T, res *demo.Result) {
	t.Helper()
	if len(res.Phases) != 6 {
		t.Fatalf("phases = %d, want 6", len(res.Phases))
	}
	pro, tiered := res.Phases[0], res.Phases[1]
	nocache, cached := res.Phases[4], res.Phases[5]
	checkRouting(t, res)
	if nocache.Hits != 0 || nocache.PromptCacheRead != 0 {
		t.Errorf("no-caching phase: %d hits, %d prompt-cache tokens", nocache.Hits, nocache.PromptCacheRead)
	}
	if cached.Hits == 0 || cached.PromptCacheRead == 0 || cached.SavedByResponseCache <= 0 || cached.SavedByPromptCache <= 0 {
		t.Errorf("caching phase: %d hits, %d prompt-cache tokens, saved %s + %s", cached.Hits, cached.PromptCacheRead,
			cached.SavedByResponseCache, cached.SavedByPromptCache)
	}
	if cached.Summary.Cost >= nocache.Summary.Cost {
		t.Errorf("caching cost %s, not below %s", cached.Summary.Cost, nocache.Summary.Cost)
	}
	for _, p := range res.Phases {
		if p.Summary.Requests != requests || p.Summary.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors; want %d, 0", p.Title, p.Summary.Requests, p.Summary.Errors, requests)
		}
		var n int64
		for _, c := range p.Models {
			n += c
		}
		if n != requests {
			t.Errorf("%s: per-model counts %v add up to %d, want %d", p.Title, p.Models, n, requests)
		}
		if p.Summary.Cost <= 0 || p.Summary.InputTokens <= 0 || p.Summary.OutputTokens <= 0 {
			t.Errorf("%s: summary %+v has no cost or tokens", p.Title, p.Summary)
		}
	}
	if pro.Models["nova-pro"] != requests {
		t.Errorf("all-pro phase used %v, want only nova-pro", pro.Models)
	}
	if tiered.Models["nova-pro"] != 0 || tiered.Models["nova-micro"] == 0 || tiered.Models["nova-lite"] == 0 {
		t.Errorf("tiered phase used %v, want nova-micro and nova-lite only", tiered.Models)
	}
	if tiered.Models["nova-micro"] <= tiered.Models["nova-lite"] {
		t.Errorf("tiered phase used %v, want mostly nova-micro (80 %% simple questions)", tiered.Models)
	}
	if tiered.Summary.Cost >= pro.Summary.Cost {
		t.Errorf("tiered cost %s is not below all-pro cost %s", tiered.Summary.Cost, pro.Summary.Cost)
	}
	if tiered.Summary.BaselineCost <= tiered.Summary.Cost || tiered.Summary.Savings != tiered.Summary.BaselineCost-tiered.Summary.Cost {
		t.Errorf("tiered baseline %s, savings %s for cost %s", tiered.Summary.BaselineCost, tiered.Summary.Savings, tiered.Summary.Cost)
	}
}

// checkRouting asserts the routing story: the learned router and the
// routing agent use only Micro and Pro, cost less than all on Pro, send
// troubleshooting up more often than simple questions, and (since the
// simulator's stronger model is never judged worse on a prompt) cannot
// beat all-Pro's simulated quality.
func checkRouting(t *testing.T, res *demo.Result) {
	t.Helper()
	pro := res.Phases[0]
	if pro.Acceptable == 0 || pro.Acceptable > requests {
		t.Errorf("all-pro: %d of %d answers acceptable", pro.Acceptable, requests)
	}
	tr := res.Training
	if tr == nil || tr.Examples < 600 || tr.StrongAcceptable < tr.CheapAcceptable || tr.Cost <= 0 {
		t.Fatalf("training = %+v, want at least 600 graded examples, Pro at least as good as Micro, a cost", tr)
	}
	// The router file was read when Penny started; its temporary folder
	// goes with the run.
	if _, err := os.Stat(filepath.Dir(tr.Path)); tr.Path == "" || err == nil {
		t.Errorf("router file %q: its temporary folder is still there", tr.Path)
	}
	for _, p := range res.Phases[1:4] {
		if p.Acceptable > pro.Acceptable {
			t.Errorf("%s: %d answers acceptable, more than all on Nova Pro (%d)", p.Title, p.Acceptable, pro.Acceptable)
		}
		if p.Summary.Cost >= pro.Summary.Cost {
			t.Errorf("%s: cost %s, not below all-pro %s", p.Title, p.Summary.Cost, pro.Summary.Cost)
		}
	}
	for _, p := range res.Phases[2:4] {
		if p.Models["nova-lite"] != 0 || p.Models["nova-micro"] == 0 || p.Models["nova-pro"] == 0 {
			t.Errorf("%s used %v, want nova-micro and nova-pro only", p.Title, p.Models)
		}
		var up, complex, upSimple, simple int
		for i, pr := range p.Prompts {
			if pr.Complex {
				complex++
				if p.Answered[i] == "nova-pro" {
					up++
				}
			} else {
				simple++
				if p.Answered[i] == "nova-pro" {
					upSimple++
				}
			}
		}
		if complex == 0 || simple == 0 || float64(up)/float64(complex) <= float64(upSimple)/float64(simple) {
			t.Errorf("%s sent %d of %d troubleshooting and %d of %d simple questions to Nova Pro", p.Title, up, complex, upSimple, simple)
		}
	}
	agent := res.Phases[3]
	if agent.Classified == 0 || agent.Classified > requests {
		t.Errorf("agent: %d classification calls charged for %d requests", agent.Classified, requests)
	}
}

// ledgerCount counts the records in the ledger file, behind the demo's back.
func ledgerCount(t *testing.T, path string) int64 {
	t.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sums, err := sqlite.NewLedgerStore(db).Summarize(context.Background(), ledger.SummaryQuery{By: ledger.ByAll})
	if err != nil || len(sums) != 1 {
		t.Fatalf("Summarize = %v, %v", sums, err)
	}
	return sums[0].Requests
}

func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	res := run(t, path)
	checkFigures(t, res)
	if res.DB != path || res.Existed || res.Temporary || res.TimeScale != 0 {
		t.Errorf("result DB %q existed %v temporary %v time scale %g; want %q false false 0", res.DB, res.Existed, res.Temporary, res.TimeScale, path)
	}
	// Six phases, and the training labels: each prompt answered by two
	// models, each answer graded by the judge.
	want := int64(6*requests + 4*res.Training.Prompts + 2*requests) // and the moderation posts, on demand and batched
	if n := ledgerCount(t, path); n != want {
		t.Errorf("ledger holds %d records, want %d", n, want)
	}

	var out bytes.Buffer
	res.Print(&out)
	for _, want := range []string{
		"\nrequests   ", // labels start the line, left-aligned
		"\n  answered by nova-micro   ",
		"\nanswers accepted (simulated judge)   ",
		"Quality is SIMULATED too",
		"with no simulated latency",
		"penny report --db " + path + " --by tag:demo\n",
		"answered from the response cache",
		"saved by the prompt cache",
		"One Bedrock batch job",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Print output lacks %q:\n%s", want, out.String())
		}
	}
	// Figures are right-aligned: every table row is as long as the header.
	var widths []int
	routing, _, _ := strings.Cut(out.String(), "Product recommendations")
	for _, line := range strings.Split(routing, "\n") {
		if strings.Contains(line, "Nova Pro   Rules") || strings.HasPrefix(line, "requests") || strings.HasPrefix(line, "cost") {
			widths = append(widths, len([]rune(line)))
		}
	}
	for _, w := range widths {
		if w != widths[0] {
			t.Errorf("table rows have widths %v, want them equal (right-aligned)", widths)
			break
		}
	}
}

// A second run on the same ledger, named by a sqlite:// URL, counts its own
// requests only.
func TestRunExistingLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	first := run(t, path)
	second := run(t, "sqlite://"+path)
	checkFigures(t, second)
	if !second.Existed || second.DB != path {
		t.Errorf("second run: DB %q existed %v, want %q true", second.DB, second.Existed, path)
	}
	for i := range second.Phases[:4] { // caching depends on which identical requests overlap
		if a, b := first.Phases[i].Summary.Cost, second.Phases[i].Summary.Cost; a != b {
			t.Errorf("%s: cost %s on the second run, %s on the first; the same seed must cost the same", first.Phases[i].Title, b, a)
		}
	}
	if want := int64(12*requests + 8*second.Training.Prompts + 4*requests); ledgerCount(t, path) != want {
		t.Errorf("ledger holds %d records, want %d", ledgerCount(t, path), want)
	}
	var out bytes.Buffer
	second.Print(&out)
	if !strings.Contains(out.String(), " --since "+second.Start.UTC().Format("2006-01-02T15:04:05")) {
		t.Errorf("explore command does not select this run:\n%s", out.String())
	}
}

// Without a ledger named, the demo writes a temporary one, removes it with
// its folder, and says how to keep one, in the form the person ran penny.
func TestRunTemporaryLedger(t *testing.T) {
	res, err := demo.Run(context.Background(), demo.Options{Requests: 10, Concurrency: 4, Seed: 7, Command: "go run ./cmd/penny"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Temporary {
		t.Error("Temporary is false")
	}
	if _, err := os.Stat(filepath.Dir(res.DB)); err == nil {
		t.Errorf("the temporary folder %s is still there", filepath.Dir(res.DB))
	}
	var out bytes.Buffer
	res.Print(&out)
	for _, want := range []string{
		"The ledger was a temporary file and is removed",
		"\n  go run ./cmd/penny demo --db penny-demo.db\n  go run ./cmd/penny report --db penny-demo.db --by tag:demo\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Print output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), res.DB) {
		t.Errorf("Print names the removed ledger %s", res.DB)
	}
}

func TestRunInvalidOptions(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "demo.db")
	tests := []struct {
		name string
		o    demo.Options
		want string
	}{
		{"negative time scale", demo.Options{TimeScale: -1}, "time scale"},
		{"negative requests", demo.Options{Requests: -1}, "requests"},
		{"negative concurrency", demo.Options{Concurrency: -2}, "concurrency"},
		{"postgres ledger", demo.Options{DB: "postgres://localhost/penny"}, "PostgreSQL ledgers are not supported yet"},
		{"missing directory", demo.Options{DB: missing}, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := demo.Run(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Error("Run created the missing directory")
	}
}
