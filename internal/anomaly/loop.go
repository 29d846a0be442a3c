package anomaly

import (
	"fmt"
	"time"
)

// loopKey tracks, for one key, when each recent prompt hash was seen.
type loopKey struct {
	// hashes holds the observation times (Unix nanoseconds, oldest first)
	// of each hash seen within the loop window, at most LoopCount of them.
	hashes         map[string][]int64
	throttledUntil time.Time
}

// prune drops times before cutoff and hashes left with none.
func (lk *loopKey) prune(cutoff int64) {
	for h, ts := range lk.hashes {
		i := 0
		for i < len(ts) && ts[i] < cutoff {
			i++
		}
		if i == len(ts) {
			delete(lk.hashes, h)
		} else if i > 0 {
			lk.hashes[h] = append(ts[:0], ts[i:]...)
		}
	}
}

// checkLoop counts hash for sub and reports whether sub is in a runaway
// loop: LoopCount observations of hash within LoopWindow. A record with no
// key is tracked under its tenant.
func (d *Detector) checkLoop(alerts []Alert, sub subject, hash string, now time.Time) ([]Alert, bool) {
	lk := d.loops[sub]
	if lk == nil {
		lk = &loopKey{hashes: map[string][]int64{}}
		d.loops[sub] = lk
	}
	t := now.UnixNano()
	cutoff := now.Add(-d.cfg.LoopWindow).UnixNano()
	ts := lk.hashes[hash]
	i := 0
	for i < len(ts) && ts[i] <= cutoff {
		i++
	}
	ts = append(ts[i:], t)
	if len(ts) > d.cfg.LoopCount {
		ts = ts[len(ts)-d.cfg.LoopCount:]
	}
	lk.hashes[hash] = ts
	if len(ts) < d.cfg.LoopCount {
		return alerts, false
	}
	if d.admit(KindRunawayLoop, sub, now) {
		span := time.Duration(t - ts[0])
		a := Alert{Kind: KindRunawayLoop, Tenant: sub.tenant, KeyID: sub.key, Value: float64(len(ts)),
			Threshold: float64(d.cfg.LoopCount), Unit: UnitRequests, Window: d.cfg.LoopWindow, At: now, PromptHash: hash}
		a.Message = fmt.Sprintf("%s sent the same prompt %d times in %s (hash %s); likely a runaway loop",
			sub, len(ts), span.Round(time.Second), hash)
		alerts = append(alerts, a)
	}
	return alerts, true
}
