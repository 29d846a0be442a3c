package llm

import (
	"strconv"
	"strings"
)

// Money is an amount of US dollars counted in nano-dollars (1e-9 USD), so
// that sums never drift. Only package catalog turns tokens into Money.
type Money int64

// Nano is one nano-dollar; Dollar is one US dollar.
const (
	Nano   Money = 1
	Dollar Money = 1_000_000_000
)

// Dollars returns m as a float for display and charts only; never compute
// with it.
func (m Money) Dollars() float64 { return float64(m) / float64(Dollar) }

// String formats m as dollars with up to nine decimals and no trailing
// zeros beyond the sixth, e.g. "0.000123", "12.500000".
func (m Money) String() string {
	neg := m < 0
	if neg {
		m = -m
	}
	whole := int64(m / Dollar)
	frac := int64(m % Dollar)
	f := strconv.FormatInt(frac, 10)
	f = strings.Repeat("0", 9-len(f)) + f
	f = strings.TrimRight(f, "0")
	for len(f) < 6 {
		f += "0"
	}
	s := strconv.FormatInt(whole, 10) + "." + f
	if neg {
		s = "-" + s
	}
	return s
}

// Exact formats m as dollars with exactly nine decimals, e.g.
// "0.000123000": every amount has the same form, as in headers.
func (m Money) Exact() string {
	neg := m < 0
	if neg {
		m = -m
	}
	f := strconv.FormatInt(int64(m%Dollar), 10)
	s := strconv.FormatInt(int64(m/Dollar), 10) + "." + strings.Repeat("0", 9-len(f)) + f
	if neg {
		s = "-" + s
	}
	return s
}
