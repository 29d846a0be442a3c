package govern

import (
	"slices"
	"sync"
	"time"
)

// outputStats remembers the output tokens of recent answers per key, per
// route and per model, so that a request without max_tokens reserves what
// answers like it actually produce (a high percentile), not the model's
// maximum. It also keeps recent request durations, to say when requests
// in flight will have settled. Safe for concurrent use; bounded in memory.
type outputStats struct {
	mu        sync.Mutex
	rings     map[statKey]*ring
	durations ring
	max       int // rings kept at most
}

// statKey is one series: scope 'k' (key id), 'r' (route) or 'm' (model
// alone), each for one model.
type statKey struct {
	scope byte
	id    string
	model string
}

// ringSize is how many recent values a series keeps.
const ringSize = 128

type ring struct {
	v [ringSize]int64
	n int // values held, up to ringSize
	i int // next slot
}

func (r *ring) add(x int64) {
	r.v[r.i] = x
	r.i = (r.i + 1) % ringSize
	r.n = min(r.n+1, ringSize)
}

// quantile returns the q-quantile (0..1) of the values held, nearest rank.
func (r *ring) quantile(q float64) int64 {
	vals := slices.Clone(r.v[:r.n])
	slices.Sort(vals)
	k := int(q*float64(r.n)+0.999999) - 1
	return vals[min(max(k, 0), r.n-1)]
}

func newOutputStats(maxSeries int) *outputStats {
	return &outputStats{rings: map[statKey]*ring{}, max: maxSeries}
}

// observe records an answer's output tokens and the request's duration.
func (s *outputStats) observe(keyID, route, model string, out int, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.durations.add(int64(took))
	if model == "" {
		return
	}
	for _, k := range [...]statKey{{'k', keyID, model}, {'r', route, model}, {'m', "", model}} {
		if k.scope != 'm' && k.id == "" {
			continue
		}
		r := s.rings[k]
		if r == nil {
			if len(s.rings) >= s.max {
				// Forget everything but the per-model series: a handful of
				// requests relearns a key's or route's.
				for old := range s.rings {
					if old.scope != 'm' {
						delete(s.rings, old)
					}
				}
			}
			r = &ring{}
			s.rings[k] = r
		}
		r.add(int64(out))
	}
}

// outputEstimate is the q-quantile of recent output tokens of model for
// this key, else this route, else the model alone, from the first series
// with at least minSamples values; ok is false when none has.
func (s *outputStats) outputEstimate(keyID, route, model string, q float64, minSamples int) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range [...]statKey{{'k', keyID, model}, {'r', route, model}, {'m', "", model}} {
		if k.scope != 'm' && k.id == "" {
			continue
		}
		if r := s.rings[k]; r != nil && r.n >= minSamples {
			return int(r.quantile(q)), true
		}
	}
	return 0, false
}

// settleTime is how long requests now in flight will likely take to
// settle: the 90th percentile of recent durations, between 1 and 60 s.
func (s *outputStats) settleTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := time.Second
	if s.durations.n > 0 {
		d = time.Duration(s.durations.quantile(0.9))
	}
	return min(max(d, time.Second), time.Minute).Round(time.Second)
}
