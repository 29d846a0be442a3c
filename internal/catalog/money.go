package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// perMillion is the token count prices are quoted for.
const perMillion = 1_000_000

// Terms describe how a request is served, which decides its price.
// The zero value is on demand, default tier, base id or geographic profile.
type Terms struct {
	// Mode is the consumption mode ("" is on demand).
	Mode llm.Mode
	// Tier is the service tier that served the request ("" is default).
	Tier llm.ServiceTier
	// Global is true when the request went through a global. cross-region
	// inference profile.
	Global bool
	// LongContext asks for the long-context rates of a model that has
	// them. Cost sets it itself from the usage it prices (the prompt, input
	// plus cache read plus cache write tokens, above the model's
	// threshold); set it only to look the long-context rates up.
	LongContext bool
}

// Rates are the per-token rates, per 1M tokens, that apply under some
// Terms. A rate that is not published for those terms is Known false and
// holds the substitute Cost uses (see Model.Rates).
type Rates struct {
	Input, Output, CacheRead, CacheWrite, CacheWrite1h Price
}

// Exact reports whether every rate is published for the terms.
func (r Rates) Exact() bool {
	return r.Input.Known && r.Output.Known && r.CacheRead.Known && r.CacheWrite.Known && r.CacheWrite1h.Known
}

// Rates returns the rates that apply to m under t:
//
//   - Provisioned Throughput and the reserved tier are paid per model unit
//     or per tokens-per-minute, not per token: every rate is a known zero.
//   - Batch uses the batch rates (estimated, so not Known, when the catalog
//     marks them 50 % of on-demand or has none); Bedrock batch jobs do not
//     use the prompt cache, so cache tokens are at the batch input rate. A
//     long-context batch request is half the long-context rates, unknown.
//   - Otherwise the base rates, or the global profile's when t.Global and
//     the model has them, or their long-context rates when t.LongContext
//     and the model has them.
//   - Flex and priority replace input and output by the tier's prices; a
//     tier without a published price keeps the default tier's rates, every
//     one marked unknown.
//
// A long-context or global rate the catalog lacks is substituted by the
// standard one, a cache rate by the input rate, a 1-hour write by the
// 5-minute write rate, each marked unknown.
func (m *Model) Rates(t Terms) Rates {
	if t.Mode == llm.ModeProvisioned || t.Tier == llm.TierReserved {
		z := Known(0)
		return Rates{z, z, z, z, z}
	}
	p := &m.Prices
	set, lc := p.RateSet, p.LongContext != nil && t.LongContext
	if lc {
		set = p.LongContext.RateSet.over(p.RateSet)
	}
	if g := p.Global; t.Global && g != nil {
		switch {
		case !lc:
			set = g.RateSet.over(p.RateSet)
		case g.LongContext != nil:
			set = g.LongContext.over(set)
		default:
			set = unknownSet(set)
		}
	}
	r := Rates{Input: set.Input, Output: set.Output}
	r.CacheRead = set.CacheRead.or(r.Input)
	r.CacheWrite = set.CacheWrite.or(r.Input)
	r.CacheWrite1h = set.CacheWrite1h.or(r.CacheWrite)
	switch {
	case t.Mode == llm.ModeBatch:
		in, out := p.BatchInput.or(Price{Rate: p.Input.Rate / 2}), p.BatchOutput.or(Price{Rate: p.Output.Rate / 2})
		if p.BatchEstimated {
			in.Known, out.Known = false, false
		}
		if lc {
			in, out = Price{Rate: r.Input.Rate / 2}, Price{Rate: r.Output.Rate / 2}
		}
		return Rates{Input: in, Output: out, CacheRead: in, CacheWrite: in, CacheWrite1h: in}
	case t.Tier == "" || t.Tier == llm.TierDefault:
		return r
	}
	tp, ok := p.Tiers[t.Tier]
	if !ok || !tp.Input.Known || !tp.Output.Known || lc {
		return unknownRates(r)
	}
	r.Input, r.Output = tp.Input, tp.Output
	// A tier's cache prices are not in the data: the default tier's rates
	// stand in for them.
	r.CacheRead.Known, r.CacheWrite.Known, r.CacheWrite1h.Known = false, false, false
	return r
}

// over returns s with each price it lacks taken from base, marked unknown.
func (s RateSet) over(base RateSet) RateSet {
	return RateSet{Input: s.Input.or(base.Input), Output: s.Output.or(base.Output), CacheRead: s.CacheRead.or(base.CacheRead),
		CacheWrite: s.CacheWrite.or(base.CacheWrite), CacheWrite1h: s.CacheWrite1h.or(base.CacheWrite1h)}
}

func unknownSet(s RateSet) RateSet {
	r := unknownRates(Rates(s))
	return RateSet(r)
}

func unknownRates(r Rates) Rates {
	r.Input.Known, r.Output.Known, r.CacheRead.Known, r.CacheWrite.Known, r.CacheWrite1h.Known = false, false, false, false, false
	return r
}

// longContext reports whether u's prompt exceeds m's long-context threshold.
func (m *Model) longContext(u llm.Usage) bool {
	lc := m.Prices.LongContext
	return lc != nil && u.TotalInput() > lc.Above
}

// Cost returns what u costs on m under t, exact to the nano-dollar, and
// whether every rate it used is published for t. When it is not (a tier or
// batch price AWS does not list, a cache price the catalog lacks) the cost
// is an estimate made with the substitutes Model.Rates describes, never a
// silent zero: record it as estimated. Tokens written with the 1-hour TTL
// (Usage.CacheWrite1hTokens, part of CacheWriteTokens) are priced at the
// 1-hour rate, the rest at the 5-minute rate. A prompt above the model's
// long-context threshold bills the whole request at the long-context rates.
func (m *Model) Cost(u llm.Usage, t Terms) (cost llm.Money, exact bool) {
	t.LongContext = m.longContext(u)
	return m.CostSum(u, t)
}

// CostSum is Cost for u summed over many requests: it prices u at the rates
// of t as given, t.LongContext included, instead of deriving long context
// from u's total (which a sum of short prompts would exceed). Group the
// requests by whether each was above the long-context threshold, and price
// each group with its flag. The sum is rounded once, so it may differ from
// the sum of the requests' own costs by under a nano-dollar per request.
func (m *Model) CostSum(u llm.Usage, t Terms) (cost llm.Money, exact bool) {
	r := m.Rates(t)
	w1h := min(max(u.CacheWrite1hTokens, 0), u.CacheWriteTokens)
	terms := []term{
		{u.InputTokens, r.Input},
		{u.OutputTokens, r.Output},
		{u.CacheReadTokens, r.CacheRead},
		{u.CacheWriteTokens - w1h, r.CacheWrite},
		{w1h, r.CacheWrite1h},
	}
	exact = true
	for _, x := range terms {
		if x.n != 0 && !x.p.Known {
			exact = false
		}
	}
	return price(terms...), exact
}

// LongContextAbove returns the prompt size above which m bills a request
// at its long-context rates, and false when it has none.
func (m *Model) LongContextAbove() (int, bool) {
	if lc := m.Prices.LongContext; lc != nil {
		return lc.Above, true
	}
	return 0, false
}

// BaselineCost returns what u would have cost on m with no Penny at all: on
// demand, default tier, through the base id or a geographic profile, no
// cache of any kind (every prompt token at the input rate), long-context
// rates when the prompt is long. Those rates are always published, so the
// baseline is exact.
func (m *Model) BaselineCost(u llm.Usage) llm.Money {
	r := m.Rates(Terms{LongContext: m.longContext(u)})
	return price(term{u.TotalInput(), r.Input}, term{u.OutputTokens, r.Output})
}

type term struct {
	n int
	p Price
}

// price sums n×rate over the terms and divides by one million once,
// rounding half up, so a request's cost is exact to the nano-dollar. Whole
// millions of tokens are priced apart from the rest, so that the token
// counts of a month of traffic (CostSum) cannot overflow the product.
func price(terms ...term) llm.Money {
	var whole, rest int64
	for _, t := range terms {
		n, r := int64(t.n), int64(t.p.Rate)
		whole += n / perMillion * r
		rest += n % perMillion * r
	}
	return llm.Money(whole + (rest+perMillion/2)/perMillion)
}

// PriceOrder is how two models' prices compare: see Compare.
type PriceOrder int

const (
	// PriceUnknown: a model is nil (not in the catalog, a prompt router).
	PriceUnknown PriceOrder = iota
	// PriceCheaper: dearer on neither input nor output, cheaper on at
	// least one.
	PriceCheaper
	// PriceSame: the same input and output rates.
	PriceSame
	// PriceDearer: cheaper on neither, dearer on at least one.
	PriceDearer
	// PriceMixed: cheaper on one, dearer on the other; which costs less
	// depends on the request.
	PriceMixed
)

// NotDearer reports whether the order is PriceCheaper or PriceSame.
func (o PriceOrder) NotDearer() bool { return o == PriceCheaper || o == PriceSame }

// Compare is Penny's one rule for "is model a cheaper than model b": it
// compares their input and output rates under t (Model.Rates, so batch
// compares batch rates and a tier compares that tier's rates, estimates
// included, as Cost would use them). Provisioned Throughput and the reserved
// tier have no per-token price, so under them the on-demand default-tier
// rates are compared: what either model costs per token without the
// commitment. Cache rates are not compared; they follow the input rate.
func Compare(a, b *Model, t Terms) PriceOrder {
	if a == nil || b == nil {
		return PriceUnknown
	}
	if t.Mode == llm.ModeProvisioned || t.Tier == llm.TierReserved {
		t.Mode, t.Tier = llm.ModeOnDemand, llm.TierDefault
	}
	ra, rb := a.Rates(t), b.Rates(t)
	in, out := cmp(ra.Input.Rate, rb.Input.Rate), cmp(ra.Output.Rate, rb.Output.Rate)
	switch {
	case in == 0 && out == 0:
		return PriceSame
	case in <= 0 && out <= 0:
		return PriceCheaper
	case in >= 0 && out >= 0:
		return PriceDearer
	}
	return PriceMixed
}

func cmp(a, b Rate) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ParseDollars parses a decimal dollar amount such as "0.035" or "12" into
// nano-dollars exactly. More than nine decimals, exponents and signs other
// than a leading '-' are errors.
func ParseDollars(s string) (llm.Money, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty price")
	}
	neg := strings.HasPrefix(s, "-")
	t := strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" {
		whole = "0"
	}
	if len(frac) > 9 {
		return 0, fmt.Errorf("price %q has more than nine decimals", s)
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("price %q is not a decimal number", s)
			}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 9_000_000 {
		return 0, fmt.Errorf("price %q is out of range", s)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	m := llm.Money(w)*llm.Dollar + llm.Money(f)
	if neg {
		m = -m
	}
	return m, nil
}

// TermsOf returns the terms an answered request was served on, for pricing
// it: req.Meta.Mode, the tier the upstream reported serving ("" is the
// default tier, as llm.Response.ServiceTier documents), and whether
// req.Meta.UpstreamModel, the id the dispatcher called, is a global profile.
func TermsOf(req *llm.Request, served llm.ServiceTier) Terms {
	return Terms{Mode: req.Meta.Mode, Tier: served, Global: IsGlobalProfile(req.Meta.UpstreamModel)}
}

// Amortised is what units model units of Provisioned Throughput at hourly
// (per unit per hour) cost over d, to the nano-dollar (rounded half up).
func Amortised(hourly llm.Money, units int, d time.Duration) llm.Money {
	if d <= 0 || units <= 0 {
		return 0
	}
	// hourly × units × seconds / 3600, in 128-bit-safe steps: hourly is at
	// most a few thousand dollars (1e12 nano) and d a few months (1e7 s).
	secs := int64(d / time.Second)
	total := int64(hourly) * int64(units)
	return llm.Money((total*secs + 1800) / 3600)
}
