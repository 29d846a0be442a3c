package anomaly

import (
	"math"
	"slices"

	"github.com/penny-gateway/penny/internal/llm"
)

// bucket is one minute of one subject.
type bucket struct {
	minute int64
	cost   llm.Money
	count  int64
	// sumSq is the sum of each request's cost squared (nano-dollars²).
	sumSq float64
	// largest is the minute's most expensive request.
	largest llm.Money
}

type stats struct{ median, mad float64 }

type baseline struct {
	spend, rate stats
	// spendNoise is the per-minute standard deviation of spend that the
	// baseline's own requests imply if they arrive at random (a compound
	// Poisson process): sqrt of the mean per-minute sum of squared request
	// costs. It keeps a subject with few, unevenly priced requests (whose
	// per-minute spend is heavy-tailed and whose MAD is small) from
	// alerting on one large but ordinary request.
	spendNoise float64
	// spendMax is the baseline's largest minute of spend: a minute must
	// beat it too, so a heavy-tailed but ordinary minute does not alert.
	spendMax float64
}

// series is a subject's per-minute history: a ring of Baseline+1 buckets
// indexed by minute, where a slot holding another minute counts as an idle
// minute (zero).
type series struct {
	first, last int64
	ring        []bucket
	// base caches the baseline of minute baseFor: it changes only when the
	// minute does.
	baseFor int64
	base    *baseline
	scratch []float64
}

func newSeries(n int, m int64) *series {
	s := &series{first: m, last: m, ring: make([]bucket, n+1), baseFor: m - 1, scratch: make([]float64, 0, n)}
	for i := range s.ring {
		s.ring[i].minute = -1 << 62
	}
	return s
}

func (s *series) slot(m int64) *bucket {
	n := int64(len(s.ring))
	return &s.ring[((m%n)+n)%n]
}

// add counts one request costing cost in minute m and returns the minute
// so far.
func (s *series) add(m int64, cost llm.Money) *bucket {
	b := s.slot(m)
	if b.minute != m {
		*b = bucket{minute: m}
	}
	b.cost += cost
	b.count++
	b.sumSq += float64(cost) * float64(cost)
	b.largest = max(b.largest, cost)
	s.last = m
	return b
}

// baseline returns the statistics of the minutes before m, or nil when the
// series has fewer than minHistory of them.
func (s *series) baseline(m int64, minHistory int) *baseline {
	if s.baseFor == m {
		return s.base
	}
	s.baseFor, s.base = m, nil
	n := int64(len(s.ring) - 1)
	from := max(m-n, s.first)
	if m-from < int64(minHistory) {
		return nil
	}
	costs := s.scratch[:0]
	counts := make([]float64, 0, m-from)
	var sumSq float64
	for i := from; i < m; i++ {
		b := s.slot(i)
		if b.minute == i {
			costs = append(costs, float64(b.cost))
			counts = append(counts, float64(b.count))
			sumSq += b.sumSq
		} else {
			costs = append(costs, 0)
			counts = append(counts, 0)
		}
	}
	s.base = &baseline{spendNoise: math.Sqrt(sumSq / float64(m-from))}
	s.base.spendMax = slices.Max(costs)
	s.base.spend, s.base.rate = robust(costs), robust(counts)
	return s.base
}

// robust returns the median and the median absolute deviation of v,
// reordering v.
func robust(v []float64) stats {
	slices.Sort(v)
	med := median(v)
	for i := range v {
		v[i] = abs(v[i] - med)
	}
	slices.Sort(v)
	return stats{median: med, mad: median(v)}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
