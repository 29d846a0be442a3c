package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/modeleval"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/route/learned"
)

// The routing story's models: the cheap and strong tiers of the learned
// and agent routes, and the judge that grades the training answers.
const (
	cheapModel  = "nova-micro"
	strongModel = "nova-pro"
	judgeModel  = "nova-pro"
	// passMark is the lowest judge mark counted as acceptable
	// (modeleval.Judge's default).
	passMark = 7
)

// Training is how the demo's learned router was trained.
type Training struct {
	// Prompts is how many earlier support requests were answered by both
	// tiers and graded, Distinct how many different texts they had (support
	// questions repeat); Examples how many of them trained the router.
	Prompts, Distinct, Examples int
	// CheapAcceptable and StrongAcceptable count the graded answers each
	// tier got accepted.
	CheapAcceptable, StrongAcceptable int
	// Cost is what collecting the labels cost: both tiers' answers and the
	// judge's marks.
	Cost llm.Money
	// Info is the trainer's own account (threshold, held-out figures).
	Info      learned.TrainInfo
	Threshold float64
	// Path is the router file, in the run's temporary folder: removed when
	// Run returns.
	Path string
}

// trainRouter collects quality labels for the support workload with
// `penny eval`'s runner and judge — earlier support requests (another seed
// than the demo's) answered by the cheap and the strong tier through Penny
// and graded by a judge model, all on the simulator — and trains a learned
// router on the judge's pass/fail verdicts for 95 % of the strong tier's
// accepted answers. The router file is written in dir.
func trainRouter(ctx context.Context, a *app.App, dir string, o Options) (*Training, error) {
	// Twice the demo's requests, and enough for a held-out split even on
	// a tiny run.
	prompts := SupportWorkload(max(2*o.Requests, 600), o.Seed+1)
	items := make([]modeleval.Item, len(prompts))
	for i, p := range prompts {
		items[i] = modeleval.Item{ID: fmt.Sprint(i), System: SupportSystem, Prompt: p.Text, MaxTokens: 600}
	}
	inv := demoInvoker{a.Gateway.Recorded()}
	judge := &modeleval.Judge{Invoker: inv, Model: judgeModel, Pass: passMark}
	scorer, err := modeleval.NewScorer("judge", judge)
	if err != nil {
		return nil, err
	}
	bar := newBar(o, "Router training labels", 2*len(items))
	results, err := modeleval.Run(ctx, items, modeleval.Options{
		Invoker: inv, Models: []string{cheapModel, strongModel}, Scorer: scorer,
		Concurrency: 2 * o.Concurrency,
		OnResult:    func(modeleval.Result) { bar.Add(1) },
	})
	bar.Done()
	if err != nil {
		return nil, err
	}
	t := &Training{Prompts: len(items)}
	by := map[modeleval.Key]modeleval.Result{}
	for _, r := range results {
		by[r.Key()] = r
		t.Cost += r.Cost() + r.JudgeCost()
		if r.Error != "" {
			return nil, fmt.Errorf("demo: collecting router labels: %s on %s: %s", r.ID, r.Model, r.Error)
		}
	}
	examples := make([]learned.Example, 0, len(items))
	distinct := map[string]bool{}
	for _, it := range items {
		c, s := by[modeleval.Key{ID: it.ID, Model: cheapModel}], by[modeleval.Key{ID: it.ID, Model: strongModel}]
		if c.Correct {
			t.CheapAcceptable++
		}
		if s.Correct {
			t.StrongAcceptable++
		}
		// The judge's verdicts (mark 7 or more passes), the quality the
		// demo reports; the marks themselves would make the router aim at
		// 95 % of the mean mark instead, a more lenient measure.
		examples = append(examples, learned.Correct(it.Prompt, c.Correct, s.Correct))
		distinct[it.Prompt] = true
	}
	t.Distinct = len(distinct)
	m, err := learned.Train(examples, learned.TrainOptions{TargetQuality: 0.95, Seed: o.Seed})
	if err != nil {
		return nil, fmt.Errorf("demo: training the router: %w", err)
	}
	t.Examples, t.Info, t.Threshold = len(examples), m.Info, m.Threshold
	t.Path = filepath.Join(dir, "support-router.json")
	f, err := os.Create(t.Path)
	if err != nil {
		return nil, err
	}
	if err := m.Save(f); err != nil {
		f.Close()
		return nil, err
	}
	return t, f.Close()
}

// demoInvoker marks the label-collecting calls in the ledger as the
// demo's evaluation traffic: tags demo=router-training for the answers and
// demo=router-judge for the judge's marks.
type demoInvoker struct{ next llm.Invoker }

func (d demoInvoker) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	req.Meta.Tenant = "acme"
	req.Meta.API = "eval"
	what := "router-training"
	if req.Meta.Tags["penny-eval"] == "judge" {
		what = "router-judge"
	}
	req.Meta.Tags = map[string]string{"app": "chatbot", "demo": what}
	return d.next.Invoke(ctx, req)
}

func (d demoInvoker) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return d.next.Stream(ctx, req)
}

// grade counts the answers of a phase that the simulated judge accepts:
// the mark the simulator gives the model that answered each prompt.
func grade(cat *catalog.Catalog, p *Phase, seed int64) error {
	p.Acceptable = 0
	for i, model := range p.Answered {
		t, err := cat.Resolve(model)
		if err != nil || t.Model == nil {
			return fmt.Errorf("demo: %s: answer %d came from %q, which is not in the catalog", p.Title, i, model)
		}
		if sim.Mark(t.Model, p.Prompts[i].Text, seed) >= passMark {
			p.Acceptable++
		}
	}
	return nil
}
