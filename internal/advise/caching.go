package advise

import (
	"fmt"
	"slices"
	"time"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// cacheSums adds up, per route and model, what caching would have saved.
type cacheSums struct {
	// Prompt hashes sent without checkpoints: their prefix uncached and
	// with the 5-minute cache.
	candidates, candidateUses int64
	plain, with5m             llm.Money
	exact5m                   bool
	// Prompt hashes reused within 5 to 60 minutes on a model with the
	// 1-hour TTL: priced with 5-minute and with 1-hour checkpoints.
	ttlHashes, longGaps int64
	base5m, with1h      llm.Money
	exact1h             bool
	// Exact repeats within the response cache's TTL that it did not
	// answer; unproven are those of prompts never answered from the cache,
	// whose temperature (and so cacheability) the ledger does not know.
	hashes, repeats, unproven int64
	repeatCost                llm.Money
}

// responseTTL is the response cache's TTL for a route under the config.
func (a *analysis) responseTTL(route string) time.Duration {
	ttl := cache.DefaultTTL
	if c := a.o.Config; c != nil {
		if c.Cache.TTL > 0 {
			ttl = c.Cache.TTL
		}
		if r := a.route(route); r != nil && r.Cache != nil && r.Cache.TTL > 0 {
			ttl = r.Cache.TTL
		}
	}
	return ttl
}

// caching finds repeated prompts: prefixes sent without prompt-cache
// checkpoints, where the 1-hour TTL pays, and exact repeats the response
// cache would answer.
func (a *analysis) caching() error {
	ttl := a.responseTTL("")
	reuse, err := a.src.PromptReuse(a.ctx, ledger.ReuseQuery{ProfileQuery: a.q, ResponseTTL: ttl})
	if err != nil {
		return err
	}
	subs := map[subject]*cacheSums{}
	var order []subject
	for _, p := range reuse {
		m := a.model(p.Model)
		if m == nil {
			continue
		}
		k := subject{p.Route, p.Model, ""}
		s := subs[k]
		if s == nil {
			s = &cacheSums{exact5m: true, exact1h: true}
			subs[k] = s
			order = append(order, k)
		}
		s.hashes++
		if p.RepeatsWithinTTL > 0 {
			s.repeats += p.RepeatsWithinTTL
			s.repeatCost += p.RepeatCost
			if p.Hits == 0 {
				s.unproven += p.RepeatsWithinTTL
			}
		}
		pc := m.Capabilities.PromptCache
		if pc == nil || p.MinPromptTokens < int64(pc.MinTokens) {
			continue
		}
		// The hash covers the system prompt and the last message, so the
		// smallest prompt of the group is what a cache could hold for
		// every use; the first use and every gap over the TTL write it.
		prefix := p.MinPromptTokens
		reads5, reads1h := p.GapsWithin5m, p.GapsWithin5m+p.Gaps5to60m
		writes5, writes1h := p.Uses-reads5, p.Uses-reads1h
		c5, e5 := m.CostSum(llm.Usage{CacheReadTokens: int(reads5 * prefix), CacheWriteTokens: int(writes5 * prefix)}, catalog.Terms{})
		if p.CacheReadTokens+p.CacheWriteTokens == 0 {
			plain, _ := m.CostSum(llm.Usage{InputTokens: int(p.Uses * prefix)}, catalog.Terms{})
			s.candidates++
			s.candidateUses += p.Uses
			s.plain += plain
			s.with5m += c5
			s.exact5m = s.exact5m && e5
		}
		if slices.Contains(pc.TTLs, "1h") && p.Gaps5to60m > 0 {
			w := int(writes1h * prefix)
			c1, e1 := m.CostSum(llm.Usage{CacheReadTokens: int(reads1h * prefix), CacheWriteTokens: w, CacheWrite1hTokens: w}, catalog.Terms{})
			if c1 < c5 {
				s.ttlHashes++
				s.longGaps += p.Gaps5to60m
				s.base5m += c5
				s.with1h += c1
				s.exact1h = s.exact1h && e1 && e5
			}
		}
	}
	for _, k := range order {
		a.cacheRecs(k, subs[k], ttl)
	}
	return nil
}

// cacheRecs adds the caching recommendations of one route and model.
func (a *analysis) cacheRecs(k subject, s *cacheSums, ttl time.Duration) {
	if s.candidates > 0 && s.plain > s.with5m {
		a.add(Recommendation{Kind: KindPromptCache, Route: k.route, Model: k.model,
			Action:        "let Penny insert prompt-cache checkpoints on this route (prompt_cache: true), or place cachePoint blocks after the shared prefix",
			MonthlySaving: a.rep.monthly(s.plain - s.with5m), Known: true, Estimated: !s.exact5m,
			Evidence: []Figure{
				{"repeated prompts without checkpoints", fmt.Sprintf("%d prompt hashes, %d uses", s.candidates, s.candidateUses)},
				{"their prefix uncached", usd(s.plain)},
				{"with 5-minute checkpoints", usd(s.with5m)},
			},
			Confidence: "the prefix is taken as the smallest prompt among a hash's uses (the hash covers the system prompt and the last message, not the turns between); reads are the uses within 5 minutes of the previous one"})
	}
	if s.ttlHashes > 0 {
		a.add(Recommendation{Kind: KindCacheTTL1h, Route: k.route, Model: k.model,
			Action:        "use the 1-hour TTL on this route (prompt_cache: {ttl: 1h})",
			MonthlySaving: a.rep.monthly(s.base5m - s.with1h), Known: true, Estimated: !s.exact1h,
			Evidence: []Figure{
				{"prompts reused after 5 to 60 minutes", fmt.Sprintf("%d prompt hashes, %d such gaps", s.ttlHashes, s.longGaps)},
				{"with 5-minute writes", usd(s.base5m)},
				{"with 1-hour writes", usd(s.with1h)},
			},
			Confidence: "gaps are between consecutive uses of a prompt hash; a 1-hour write costs more than a 5-minute one, so it pays only where gaps of 5 to 60 minutes would rewrite the prefix"})
	}
	if s.repeats > 0 && s.repeatCost > 0 {
		conf := "a prompt hash covers the model asked for, the system prompt and the last message, not the turns between, so some repeats may be different conversations"
		if s.unproven > 0 {
			conf += fmt.Sprintf("; %d of the repeats are of prompts the cache never answered, and the ledger records no temperature: they are hits only at temperature 0 (or with allow_nonzero_temperature)", s.unproven)
		}
		a.add(Recommendation{Kind: KindResponseCache, Route: k.route, Model: k.model,
			Action:        fmt.Sprintf("answer exact repeats from the response cache (cache: {enabled: true, ttl: %s}), with temperature 0", duration(ttl)),
			MonthlySaving: a.rep.monthly(s.repeatCost), Known: true,
			Evidence: []Figure{
				{"repeats within " + duration(ttl) + " not answered by the cache", fmt.Sprintf("%d (over %d repeated prompt hashes)", s.repeats, s.hashes)},
				{"what they cost", usd(s.repeatCost)},
			},
			Confidence: conf})
	}
}
