package ledger

import (
	"log/slog"
	"sync"
	"time"
)

// alarm logs the Writer's failures loudly but boundedly: the first failure
// of the store, and the first lost record, at once; then, while the store
// keeps failing or records keep being lost, one summary with counts every
// interval; and the recovery. It is safe for concurrent use: records are
// lost in Write as well as in the Writer's goroutine.
type alarm struct {
	log       *slog.Logger
	every     time.Duration
	spoolPath string // "" without a spool

	mu sync.Mutex
	// down is set while the store fails; since is when it started.
	down  bool
	since time.Time
	err   error // the store's last error
	// Counts since the last line logged, and over the whole failure.
	spooled, lost         int64
	spooledDown, lostDown int64
	lostErr               error
	// lostLogged says the first loss since the last summary was logged.
	lostLogged bool
	next       time.Time // when the next summary is due
}

// failed notes that the store failed to take records; the first failure
// of an episode is logged at once.
func (a *alarm) failed(now time.Time, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
	if a.down {
		return
	}
	a.down, a.since, a.next = true, now, now.Add(a.every)
	a.spooledDown, a.lostDown = 0, 0
	if a.spoolPath != "" {
		a.log.Error("ledger: the database is not taking records; keeping them in the spool, to be replayed when it does",
			"err", err, "spool", a.spoolPath)
		return
	}
	a.log.Error("ledger: the database is not taking records; retrying", "err", err)
}

// spooledRecords counts records kept in the spool.
func (a *alarm) spooledRecords(n int) {
	a.mu.Lock()
	a.spooled += int64(n)
	a.spooledDown += int64(n)
	a.mu.Unlock()
}

// lostRecords counts records that are neither stored nor spooled: the
// first since the last summary is logged at once.
func (a *alarm) lostRecords(now time.Time, n int, err error, firstID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lostDown += int64(n)
	a.lostErr = err
	if a.lostLogged {
		a.lost += int64(n) // for the next summary
		return
	}
	a.lostLogged = true
	if a.next.IsZero() {
		a.next = now.Add(a.every)
	}
	a.log.Error("ledger: USAGE RECORDS LOST: neither the database nor the spool took them",
		"records", n, "err", err, "request_id", firstID)
}

// recovered notes that the store takes records again.
func (a *alarm) recovered(now time.Time, inSpool int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.down {
		return
	}
	a.down = false
	a.log.Warn("ledger: the database is taking records again",
		"down_for", now.Sub(a.since).Round(time.Millisecond), "spooled", a.spooledDown, "lost", a.lostDown,
		"to_replay", inSpool)
}

// tick logs the summary when one is due; it returns when the next is.
func (a *alarm) tick(now time.Time, inSpool int64) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next.IsZero() || now.Before(a.next) {
		return a.next
	}
	switch {
	case a.down:
		a.log.Error("ledger: the database is still not taking records",
			"down_for", now.Sub(a.since).Round(time.Second), "err", a.err,
			"spooled", a.spooled, "lost", a.lost, "in_spool", inSpool, "in_last", a.every)
	case a.lost > 0:
		a.log.Error("ledger: USAGE RECORDS LOST", "lost", a.lost, "err", a.lostErr, "in_last", a.every)
	}
	a.spooled, a.lost, a.lostLogged = 0, 0, false
	if a.down {
		a.next = now.Add(a.every)
	} else {
		a.next = time.Time{}
	}
	return a.next
}
