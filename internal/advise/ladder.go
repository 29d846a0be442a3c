package advise

import (
	"fmt"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// LadderOptions configure the customization ladder. Zero values are taken
// from the ledger (model, volume, tokens per request) or are unknown
// (training data, corpus).
type LadderOptions struct {
	// Model is the base model (default: the one with the most spend).
	Model string
	// Volume is requests per month (default: the window's, extrapolated).
	Volume int64
	// InputTokens and OutputTokens per request (default: the model's
	// averages in the window).
	InputTokens, OutputTokens int64
	// RAGTokens are the retrieved tokens added to each prompt (default
	// 2,000, an assumption the output names).
	RAGTokens int64
	// CorpusTokens are the documents to index for RAG and to continue
	// pre-training on; TrainTokens the fine-tuning dataset; Epochs the
	// passes over it (default 1).
	CorpusTokens, TrainTokens, Epochs int64
	// ModelUnits serve a custom model on Provisioned Throughput (default 1).
	ModelUnits int64
}

// DefaultRAGTokens is the retrieved context assumed per request.
const DefaultRAGTokens = 2000

// embeddingModel prices the RAG corpus and queries.
const embeddingModel = "titan-embed-text-v2"

// Ladder is the customization ladder priced at a volume.
type Ladder struct {
	Model          string `json:"model"`
	VolumePerMonth int64  `json:"volume_per_month"`
	VolumeObserved bool   `json:"volume_observed"`
	InputTokens    int64  `json:"input_tokens_per_request"`
	OutputTokens   int64  `json:"output_tokens_per_request"`
	Rungs          []Rung `json:"rungs"`
}

// Rung is one step of the ladder: what it costs once and every month.
// Score is left for quality scoring (penny eval on each rung), which this
// package does not run.
type Rung struct {
	Name string `json:"name"`
	// Offered is "yes", "no" or "unknown" for this model on Bedrock.
	Offered string         `json:"offered"`
	OneTime catalog.Amount `json:"-"`
	Monthly catalog.Amount `json:"-"`
	Basis   []Figure       `json:"basis"`
	Score   *float64       `json:"score"`
}

// ladder prices prompt engineering, RAG, fine-tuning and continued
// pre-training for one model at the user's volume.
func (a *analysis) ladder() error {
	o := a.o.Ladder
	id, reqs, in, out := o.Model, int64(0), int64(0), int64(0)
	if id == "" {
		var top llm.Money
		spend := map[string]llm.Money{}
		for _, g := range a.groups {
			spend[g.Model] += g.Cost
			if spend[g.Model] > top && a.model(g.Model) != nil {
				id, top = g.Model, spend[g.Model]
			}
		}
	}
	m := a.model(id)
	if m == nil {
		if id != "" {
			return fmt.Errorf("advise: ladder model %q is not in the catalog", id)
		}
		return nil
	}
	for _, g := range a.groups {
		if g.Model == m.ID {
			reqs += g.Requests
			in += g.InputTokens + g.CacheReadTokens + g.CacheWriteTokens
			out += g.OutputTokens
		}
	}
	l := &Ladder{Model: m.ID, VolumePerMonth: o.Volume, InputTokens: o.InputTokens, OutputTokens: o.OutputTokens}
	if l.VolumePerMonth == 0 {
		l.VolumePerMonth, l.VolumeObserved = int64(float64(reqs)*a.rep.Scale), true
	}
	if l.InputTokens == 0 && reqs > 0 {
		l.InputTokens = in / reqs
	}
	if l.OutputTokens == 0 && reqs > 0 {
		l.OutputTokens = out / reqs
	}
	rag := o.RAGTokens
	if rag == 0 {
		rag = DefaultRAGTokens
	}
	epochs, units := max(o.Epochs, 1), max(o.ModelUnits, 1)
	v := l.VolumePerMonth
	onDemand := func(inTok int64) (catalog.Amount, Figure) {
		c, exact := m.CostSum(llm.Usage{InputTokens: int(v * inTok), OutputTokens: int(v * l.OutputTokens)}, catalog.Terms{})
		f := Figure{"inference", fmt.Sprintf("%d requests × (%d in + %d out tokens) on demand = %s", v, inTok, l.OutputTokens, usd(c))}
		if !exact {
			f.Value += " (estimated price)"
		}
		return catalog.Amount{Money: c, Known: true}, f
	}
	known0 := catalog.Amount{Known: true}

	pe, peFig := onDemand(l.InputTokens)
	l.Rungs = append(l.Rungs, Rung{Name: "prompt engineering", Offered: "yes", OneTime: known0, Monthly: pe,
		Basis: []Figure{peFig, {"one-time", "none: penny prompt lint and managed templates"}}})

	ragRung := Rung{Name: "RAG", Offered: "yes", Basis: []Figure{{"retrieved context", fmt.Sprintf("%d tokens per request", rag)}}}
	if o.RAGTokens == 0 {
		ragRung.Basis[0].Value += " (assumed; --rag-tokens sets it)"
	}
	ragRung.Monthly, peFig = onDemand(l.InputTokens + rag)
	ragRung.Basis = append(ragRung.Basis, peFig, Figure{"vector store", "not priced: Knowledge Bases bill the store you choose (OpenSearch Serverless, Aurora, S3 Vectors …)"})
	if e := a.model(embeddingModel); e != nil && o.CorpusTokens > 0 {
		c, _ := e.CostSum(llm.Usage{InputTokens: int(o.CorpusTokens)}, catalog.Terms{})
		ragRung.OneTime = catalog.Amount{Money: c, Known: true}
		ragRung.Basis = append(ragRung.Basis, Figure{"indexing", fmt.Sprintf("%d corpus tokens embedded with %s = %s", o.CorpusTokens, e.ID, usd(c))})
	} else {
		ragRung.Basis = append(ragRung.Basis, Figure{"indexing", "unknown: give the corpus size with --corpus-tokens"})
	}
	l.Rungs = append(l.Rungs, ragRung)

	var cust catalog.Customization
	ok := false
	if a.o.Customizations != nil {
		cust, ok = a.o.Customizations.Lookup(m.ID)
	}
	for _, step := range []struct {
		name   string
		offer  func(catalog.Customization) catalog.Offer
		tokens int64
		flag   string
	}{
		{"fine-tuning", func(c catalog.Customization) catalog.Offer { return c.FineTuning }, o.TrainTokens * epochs, "--train-tokens"},
		{"continued pre-training", func(c catalog.Customization) catalog.Offer { return c.ContinuedPretraining }, o.CorpusTokens * epochs, "--corpus-tokens"},
	} {
		r := Rung{Name: step.name, Offered: "unknown"}
		if !ok {
			r.Basis = []Figure{{"prices", "unknown: Penny has no customization data for " + m.ID}}
			l.Rungs = append(l.Rungs, r)
			continue
		}
		offer := step.offer(cust)
		switch {
		case !offer.Offered:
			r.Offered = "no"
			r.Basis = []Figure{{"on Bedrock", "not offered for " + m.ID}}
			l.Rungs = append(l.Rungs, r)
			continue
		case !offer.Unknown:
			r.Offered = "yes"
		}
		r.Basis = append(r.Basis, Figure{"training price", offer.TrainPer1K.String() + " per 1,000 tokens"})
		switch c, priced := offer.TrainingCost(step.tokens); {
		case step.tokens == 0:
			r.Basis = append(r.Basis, Figure{"training", "unknown: give the training tokens with " + step.flag})
		case priced:
			r.OneTime = catalog.Amount{Money: c, Known: true}
			r.Basis = append(r.Basis, Figure{"training", fmt.Sprintf("%d tokens (× %d epochs) = %s", step.tokens, epochs, usd(c))})
		default:
			r.Basis = append(r.Basis, Figure{"training", "unknown: the training price is not published where Penny could read it"})
		}
		r.Monthly, r.Basis = a.customServing(m, cust, units, onDemand, l.InputTokens, r.Basis)
		l.Rungs = append(l.Rungs, r)
	}
	a.rep.Ladder = l
	return nil
}

// customServing is a custom model's monthly cost: storage plus serving on
// demand at the base rates, or model units of Provisioned Throughput for
// every hour of the month.
func (a *analysis) customServing(m *catalog.Model, c catalog.Customization, units int64,
	onDemand func(int64) (catalog.Amount, Figure), in int64, basis []Figure) (catalog.Amount, []Figure) {
	total := catalog.Amount{Known: c.StorageMonth.Known, Money: c.StorageMonth.Money}
	basis = append(basis, Figure{"storage", c.StorageMonth.String() + " per month"})
	if c.Serving == catalog.ServeOnDemand {
		od, f := onDemand(in)
		f.Value += " (a custom model is served on demand at the base model's rates)"
		total.Money += od.Money
		return total, append(basis, f)
	}
	hourly, from := c.Provisioned.NoCommit, "no-commitment price"
	if q, ok := a.o.PTHourly[m.ID]; ok {
		hourly, from = catalog.Amount{Money: q, Known: true}, "your quote (--pt-hourly)"
	}
	if !hourly.Known {
		total.Known = false
		return total, append(basis, Figure{"serving", fmt.Sprintf("%d model units of Provisioned Throughput × unknown hourly price × 730 h: give it with --pt-hourly %s=USD", units, m.ID)})
	}
	pt := catalog.ProvisionedCost(units, catalog.HoursPerMonth, hourly.Money)
	total.Money += pt
	return total, append(basis, Figure{"serving", fmt.Sprintf("%d model units × %s per hour (%s) × 730 h = %s, whatever the volume",
		units, usd(hourly.Money), from, usd(pt))})
}
