package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Product recommendations: a long, stable catalog in the system prompt and
// questions that repeat, as shoppers ask the same things. It shows the two
// caches: identical questions are answered from Penny's response cache,
// and the catalog prefix is read from Bedrock's prompt cache.

var (
	categories = []string{"headphones", "running shoes", "coffee grinder", "backpack", "desk lamp", "water bottle",
		"rain jacket", "mechanical keyboard", "yoga mat", "blender", "camping tent", "smart watch"}
	adjectives = []string{"lightweight", "durable", "budget", "premium", "compact", "eco-friendly", "waterproof", "quiet"}
	needs      = []string{"for travel", "for a small apartment", "for a beginner", "as a gift", "for daily commuting",
		"for long hikes", "for a home office", "under $100"}
)

// CatalogSystem is the recommendation assistant's system prompt: its
// instructions and a product catalog of about 2,000 tokens, the same for
// every request.
func CatalogSystem() string {
	r := rand.New(rand.NewPCG(42, 7))
	var b strings.Builder
	b.WriteString("You are the shopping assistant of Acme Store. Recommend at most three products from the catalog " +
		"below, with one sentence each on why they fit. Only recommend products that are in the catalog.\n\nCATALOG\n")
	for i := 0; i < 72; i++ {
		c := categories[i%len(categories)]
		a := adjectives[r.IntN(len(adjectives))]
		fmt.Fprintf(&b, "- SKU-%04d: %s %s, $%d. Rated %.1f/5 by %d buyers; ships in %d days; %s.\n",
			1000+i, a, c, 19+r.IntN(280), 3.5+r.Float64()*1.5, 20+r.IntN(2000), 1+r.IntN(6), a+" design, one-year warranty")
	}
	return b.String()
}

// RecommendationWorkload returns n shopper questions drawn with a skew, so
// that popular questions repeat, in a deterministic order for seed.
func RecommendationWorkload(n int, seed uint64) []Prompt {
	r := rand.New(rand.NewPCG(seed, seed^0xcace))
	pool := make([]string, 0, len(categories)*len(needs))
	for _, c := range categories {
		for _, nd := range needs {
			pool = append(pool, fmt.Sprintf("Which %s do you recommend %s?", c, nd))
		}
	}
	out := make([]Prompt, n)
	for i := range out {
		// A skew: popular questions are asked again and again.
		k := int(float64(len(pool)) * r.Float64() * r.Float64())
		out[i] = Prompt{Text: pool[k]}
	}
	return out
}
