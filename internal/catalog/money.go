package catalog

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// perMillion is the token count prices are quoted for.
const perMillion = 1_000_000

// Cost returns what u costs on m under mode. Provisioned Throughput is paid
// by the hour, not per token, so its per-request cost is zero; the hourly
// commitment is accounted elsewhere. Batch uses the batch rates; Bedrock
// batch jobs do not use the prompt cache, so cache tokens are charged at the
// batch input rate.
func (m *Model) Cost(u llm.Usage, mode llm.Mode) llm.Money {
	p := m.Prices
	switch mode {
	case llm.ModeProvisioned:
		return 0
	case llm.ModeBatch:
		in, out := p.BatchInput, p.BatchOutput
		if in == 0 && out == 0 {
			in, out = p.Input/2, p.Output/2
		}
		return tokens(u.TotalInput(), in) + tokens(u.OutputTokens, out)
	}
	return price(
		term{u.InputTokens, p.Input},
		term{u.OutputTokens, p.Output},
		term{u.CacheReadTokens, p.CacheRead},
		term{u.CacheWriteTokens, p.CacheWrite},
	)
}

// BaselineCost returns what u would have cost on m on demand with no cache
// of any kind: every prompt token at the input rate.
func (m *Model) BaselineCost(u llm.Usage) llm.Money {
	return price(term{u.TotalInput(), m.Prices.Input}, term{u.OutputTokens, m.Prices.Output})
}

type term struct {
	n    int
	rate Rate
}

// price sums n×rate over the terms and divides by one million once,
// rounding half up, so a request's cost is exact to the nano-dollar.
func price(terms ...term) llm.Money {
	var sum int64
	for _, t := range terms {
		sum += int64(t.n) * int64(t.rate)
	}
	return llm.Money((sum + perMillion/2) / perMillion)
}

func tokens(n int, r Rate) llm.Money { return price(term{n, r}) }

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
