package advise

import (
	"fmt"
	"slices"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/modeleval"
)

// evalSummaries summarizes eval results per model, in the order models
// first appear, with Wilson intervals when every score is 0 or 1.
func evalSummaries(results []modeleval.Result, cat *catalog.Catalog) []modeleval.Summary {
	var models []string
	binary := true
	for _, r := range results {
		id := r.Model
		if t, err := cat.Resolve(id); err == nil && t.Model != nil {
			id = t.Model.ID
		}
		if !slices.Contains(models, id) {
			models = append(models, id)
		}
		if r.Score != 0 && r.Score != 1 {
			binary = false
		}
	}
	canon := make([]modeleval.Result, len(results))
	for i, r := range results {
		if t, err := cat.Resolve(r.Model); err == nil && t.Model != nil {
			r.Model = t.Model.ID
		}
		canon[i] = r
	}
	return modeleval.Summarize(canon, models, binary)
}

// rightSize recommends, for traffic on a model that eval results cover,
// the cheapest model that met the quality target, where it is cheaper.
func (a *analysis) rightSize() error {
	if len(a.o.Eval) == 0 {
		a.note("model right-sizing needs eval results: run penny eval --dataset … --models … --out results.jsonl, then penny advise --eval results.jsonl")
		return nil
	}
	sums := evalSummaries(a.o.Eval, a.o.Catalog)
	rec := modeleval.Recommend(sums, a.o.Target, a.o.Catalog)
	if rec.Model == "" {
		a.note(fmt.Sprintf("no model in the eval results meets the target %.3f, so none is recommended", a.o.Target))
		return nil
	}
	cheap := a.model(rec.Model)
	score := map[string]modeleval.Summary{}
	for _, s := range sums {
		score[s.Model] = s
	}
	type acc struct {
		requests    int64
		cost, moved llm.Money
		exact       bool
	}
	subs := map[subject]*acc{}
	var order []subject
	for _, g := range a.groups {
		m := a.model(g.Model)
		if m == nil || cheap == nil || m.ID == cheap.ID {
			continue
		}
		if _, evaluated := score[m.ID]; !evaluated || catalog.Compare(cheap, m, catalog.Terms{}) != catalog.PriceCheaper {
			continue
		}
		k := subject{g.Route, g.Model, ""}
		s := subs[k]
		if s == nil {
			s = &acc{exact: true}
			subs[k] = s
			order = append(order, k)
		}
		terms := catalog.Terms{Mode: llm.Mode(g.Mode), LongContext: g.Long}
		if g.ServiceTier != "default" {
			terms.Tier = llm.ServiceTier(g.ServiceTier)
		}
		c, exact := cheap.CostSum(g.Usage(), terms)
		s.requests += g.Requests
		s.cost += g.Cost
		s.moved += c
		s.exact = s.exact && exact
	}
	for _, k := range order {
		s := subs[k]
		cur := score[k.model]
		lower := "its 95 % lower bound %.3f also meets the target"
		if !rec.LowerMeets {
			lower = "but its 95 % lower bound %.3f does not: more eval items would settle it"
		}
		a.add(Recommendation{Kind: KindRightSize, Route: k.route, Model: k.model,
			Action:        "route this traffic to " + rec.Model + ", the cheapest model that met the quality target",
			MonthlySaving: a.rep.monthly(s.cost - s.moved), Known: true, Estimated: !s.exact,
			Evidence: []Figure{
				{"eval score", fmt.Sprintf("%s %.3f (n %d) vs %s %.3f (n %d), target %.3f", rec.Model, rec.Summary.Score, rec.Summary.N,
					k.model, cur.Score, cur.N, a.o.Target)},
				{"traffic", fmt.Sprintf("%d requests, %s in window", s.requests, usd(s.cost))},
				{"on " + rec.Model, usd(s.moved) + " with the same token counts"},
			},
			Confidence: fmt.Sprintf("the eval set stands for this traffic only as far as its items resemble it; "+lower+
				"; token counts are kept though the tokenizer may differ by vendor", rec.Summary.Lo)})
	}
	return nil
}
