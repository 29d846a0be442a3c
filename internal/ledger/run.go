package ledger

import (
	"fmt"
	"time"
)

// job is one append to the store: a batch of new records, or a chunk of
// the spool being replayed. The store goroutine runs one at a time.
type job struct {
	items []item   // new records and their waiters; nil for a replay
	recs  []Record // what is appended: the store's own copy (it sets IDs)
	// replay: the spool offset after the chunk, and how many of its lines
	// could not be read as records.
	replay bool
	end    int64
	bad    int
	gen    int // the spool file it was read from

	started  time.Time
	attempts int
	// stalled is set once the append has taken longer than MaxWait;
	// spooled once its records went to the spool for it, so that its
	// result only tells whether the store is back.
	stalled, spooled bool

	err  error
	took time.Duration
}

// loop is the state of the Writer's goroutine, which alone decides where
// records go: to the store while it takes them, otherwise to the spool.
// Records are resolved (written, spooled or lost) in the order they were
// queued.
type loop struct {
	w *Writer

	batch   []item
	batchAt time.Time // when its first record was taken
	job     *job      // at the store; nil while the store is idle
	retry   *job      // without a spool: a failed batch to try again

	failing  bool
	since    time.Time // when the store started failing
	lastErr  string
	probeAt  time.Time // while failing: when to try the store again
	backoff  time.Duration
	spoolErr string
	// spoolBroken: the spool failed while the store was fine; new records
	// wait for the replay to end instead of going to the spool.
	spoolBroken bool

	flushes         []flushWait
	taken, resolved int64
	queueClosed     bool
	// lastTry is set once, after Close, the store has been tried with
	// the spool while it was failing: the loop may then leave the spool.
	lastTry bool
	nextLog time.Time
}

// flushWait is a Flush waiting for the first target records to resolve.
type flushWait struct {
	target     int64
	reply      chan int64
	lostBefore int64
}

// run is the Writer's goroutine. Each turn it does whatever can be done
// at once (step), then waits for a record, the store, a Flush, or the
// next deadline.
func (w *Writer) run() {
	defer close(w.done)
	defer close(w.jobs) // stops appendLoop once it is done with its job
	l := &loop{w: w, backoff: w.opts.RetryBackoff}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		l.step(now)
		if l.over() {
			l.abandon()
			return
		}
		queue := w.queue
		if l.queueClosed || len(l.batch) >= w.opts.BatchSize {
			queue = nil
		}
		timer.Reset(l.wake(now).Sub(now))
		select {
		case it, ok := <-queue:
			if !ok {
				l.queueClosed = true
				break
			}
			l.take(now, it)
			l.takeMore(now)
		case j := <-w.results:
			l.finished(time.Now(), j)
		case reply := <-w.flushes:
			l.flushes = append(l.flushes, flushWait{target: l.taken + int64(len(w.queue)), reply: reply,
				lostBefore: w.failedCount()})
		case <-timer.C:
		}
	}
}

func (l *loop) take(now time.Time, it item) {
	if len(l.batch) == 0 {
		l.batchAt = now
	}
	l.batch = append(l.batch, it)
	l.taken++
}

// takeMore takes what else is queued, up to a batch, so that records
// arriving together are committed or spooled together.
func (l *loop) takeMore(now time.Time) {
	for len(l.batch) < l.w.opts.BatchSize {
		select {
		case it, ok := <-l.w.queue:
			if !ok {
				l.queueClosed = true
				return
			}
			l.take(now, it)
		default:
			return
		}
	}
}

// step does what can be done now: notice a stalled store, spool what the
// store cannot take, start the store's next append, answer Flushes and
// log a due summary.
func (l *loop) step(now time.Time) {
	w := l.w
	// A batch of new records that has not committed within MaxWait: the
	// store is stalled. (A replay holds nothing up: its result decides.)
	if j := l.job; j != nil && !j.replay && !j.stalled && now.Sub(j.started) >= w.opts.MaxWait {
		j.stalled = true
		l.fail(now, fmt.Errorf("the database has not committed a batch within %s (ledger.max_wait)", w.opts.MaxWait))
		if w.spool != nil {
			// Its records may yet be committed; the replay then finds
			// them stored and skips them.
			j.spooled = true
			l.spoolItems(now, j.items)
			j.items = nil
		}
	}
	if len(l.batch) > 0 && l.toSpool(now) {
		if l.spoolItems(now, l.batch) {
			l.batch = make([]item, 0, w.opts.BatchSize)
		}
	}
	if what, at := l.plan(); what != nothing && !now.Before(at) {
		l.dispatch(now, what)
	}
	l.answerFlushes()
	l.nextLog = w.alarm.tick(now, w.inSpool.Load())
}

// toSpool says whether the batch goes to the spool rather than the store:
// while the store fails (unless the batch is due to probe it, with nothing
// in the spool to probe with), and while the spool is being replayed, so
// that records reach the store in order.
func (l *loop) toSpool(now time.Time) bool {
	sp := l.w.spool
	if sp == nil {
		return false
	}
	if l.failing {
		probe := l.job == nil && sp.pending == 0 && !now.Before(l.probeAt)
		return !probe
	}
	return sp.pending > 0 && !l.spoolBroken
}

// What the store may do next.
const (
	nothing = iota
	retryBatch
	replayChunk
	newBatch
)

// plan says what the store should do next and from when (zero: now).
func (l *loop) plan() (what int, at time.Time) {
	if l.job != nil {
		return nothing, time.Time{}
	}
	var probe time.Time
	if l.failing && !(l.queueClosed && !l.lastTry) { // after Close, try once more at once
		probe = l.probeAt
	}
	switch {
	case l.retry != nil:
		return retryBatch, l.probeAt
	case l.w.spool != nil && l.w.spool.pending > 0:
		return replayChunk, probe
	case len(l.batch) > 0:
		ready := l.batchAt.Add(l.w.opts.FlushInterval)
		if l.w.opts.Strict || len(l.batch) >= l.w.opts.BatchSize || l.queueClosed || l.flushPending() {
			ready = time.Time{}
		}
		if ready.After(probe) {
			return newBatch, ready
		}
		return newBatch, probe
	}
	return nothing, time.Time{}
}

func (l *loop) flushPending() bool {
	for _, f := range l.flushes {
		if f.target > l.resolved {
			return true
		}
	}
	return false
}

// dispatch hands the store its next append.
func (l *loop) dispatch(now time.Time, what int) {
	w := l.w
	var j *job
	switch what {
	case retryBatch:
		j, l.retry = l.retry, nil
	case replayChunk:
		recs, end, bad, err := w.spool.next(w.opts.BatchSize)
		if err != nil {
			l.spoolErr = err.Error()
			l.fail(now, err) // try again at the next probe
			return
		}
		if len(recs) == 0 { // only unreadable lines were left
			l.advanceSpool(now, end, 0, bad)
			return
		}
		j = &job{recs: recs, replay: true, end: end, bad: bad, gen: w.spool.gen}
		l.lastTry = l.lastTry || l.queueClosed && l.failing
	case newBatch:
		j = &job{items: l.batch, recs: records(l.batch)}
		l.batch = make([]item, 0, w.opts.BatchSize)
	}
	j.started = now
	j.attempts++
	l.job = j
	w.jobs <- j
}

func records(items []item) []Record {
	recs := make([]Record, len(items))
	for i := range items {
		recs[i] = items[i].rec
	}
	return recs
}

// finished takes the store's result.
func (l *loop) finished(now time.Time, j *job) {
	w := l.w
	l.job = nil
	n := len(j.recs)
	switch {
	case j.spooled:
		// Its records went to the spool when it stalled; the result only
		// says whether the store is back.
		if j.err != nil {
			l.fail(now, j.err)
		} else {
			w.log.Info("ledger: a commit that outlasted ledger.max_wait finished; its records were also spooled, and the replay skips them",
				"records", n, "took", j.took.Round(time.Millisecond))
			l.recovered(now)
		}
	case j.err == nil && j.replay:
		if j.gen == w.spool.gen {
			w.replayed.Add(int64(n))
			l.advanceSpool(now, j.end, n, j.bad)
		} // else the spool file was replaced meanwhile, these records copied over: they are replayed again, and skipped
		l.recovered(now)
	case j.err == nil:
		w.written.Add(int64(n))
		l.resolve(j.items, nil)
		l.recovered(now)
	case j.replay:
		l.fail(now, j.err)
	case w.spool != nil:
		l.fail(now, j.err)
		if !l.spoolItems(now, j.items) {
			l.lose(now, j.items, j.err)
		}
	case j.attempts < w.opts.MaxAttempts:
		l.fail(now, j.err)
		w.retries.Add(1)
		w.log.Warn("ledger: append failed; retrying", "records", n, "attempt", j.attempts, "err", j.err)
		l.retry = j
	default:
		l.fail(now, j.err)
		l.lose(now, j.items, j.err)
	}
}

// advanceSpool moves the replay past a chunk of the spool: replayed
// records, and bad lines that could not be read as records, lost.
func (l *loop) advanceSpool(now time.Time, end int64, replayed, bad int) {
	w := l.w
	if bad > 0 {
		w.unreadable.Add(int64(bad))
		w.alarm.lostRecords(now, bad, fmt.Errorf("%d lines of the spool %s are not records", bad, w.opts.SpoolPath), "")
	}
	if err := w.spool.advance(end, replayed+bad); err != nil {
		w.log.Error("ledger: emptying the replayed spool failed; its records will be replayed again (and skipped)", "err", err)
	}
	w.inSpool.Store(w.spool.pending)
}

// spoolItems keeps items in the spool and resolves them. It reports false
// if the spool failed while the store is fine, leaving the items to the
// caller; while the store fails, they are lost.
func (l *loop) spoolItems(now time.Time, items []item) bool {
	w := l.w
	if len(items) == 0 {
		return true
	}
	if err := w.spool.append(records(items)); err != nil {
		l.spoolErr = err.Error()
		l.publish()
		if !l.failing {
			l.spoolBroken = true
			w.log.Error("ledger: the spool failed; records wait for the database instead", "err", err)
			return false
		}
		l.lose(now, items, err)
		return true
	}
	if l.spoolErr != "" || l.spoolBroken {
		l.spoolErr, l.spoolBroken = "", false
		l.publish()
	}
	w.spooled.Add(int64(len(items)))
	w.inSpool.Store(w.spool.pending)
	w.alarm.spooledRecords(len(items))
	l.resolve(items, nil)
	return true
}

// lose gives items up: counted, logged (rate-limited) and their waiters
// told.
func (l *loop) lose(now time.Time, items []item, err error) {
	w := l.w
	w.lost.Add(int64(len(items)))
	w.alarm.lostRecords(now, len(items), err, items[0].rec.RequestID)
	l.resolve(items, w.lostErr(err))
}

func (l *loop) resolve(items []item, err error) {
	for _, it := range items {
		if it.done != nil {
			it.done <- err
		}
	}
	l.resolved += int64(len(items))
}

// fail notes a failure of the store and when to try it again.
func (l *loop) fail(now time.Time, err error) {
	if !l.failing {
		l.failing, l.since, l.backoff = true, now, l.w.opts.RetryBackoff
	}
	l.lastErr = err.Error()
	l.w.alarm.failed(now, err)
	l.probeAt = now.Add(l.backoff)
	l.backoff = min(2*l.backoff, maxRetryBackoff)
	l.publish()
}

// recovered notes that the store took records.
func (l *loop) recovered(now time.Time) {
	if !l.failing {
		return
	}
	l.failing, l.lastErr, l.backoff = false, "", l.w.opts.RetryBackoff
	l.w.alarm.recovered(now, l.w.inSpool.Load())
	l.publish()
}

func (l *loop) publish() {
	h := &Health{OK: !l.failing, SpoolErr: l.spoolErr}
	if l.failing {
		h.Since, h.Err = l.since, l.lastErr
	}
	l.w.health.Store(h)
}

// answerFlushes answers the Flushes whose records are resolved, once the
// spool is replayed.
func (l *loop) answerFlushes() {
	if sp := l.w.spool; sp != nil && sp.pending > 0 {
		return
	}
	kept := l.flushes[:0]
	for _, f := range l.flushes {
		if f.target > l.resolved {
			kept = append(kept, f)
			continue
		}
		f.reply <- l.w.failedCount() - f.lostBefore
	}
	l.flushes = kept
}

// wake is when the loop must next look, though nothing arrives: the next
// batch, retry or replay falling due, a commit reaching MaxWait, a log
// summary.
func (l *loop) wake(now time.Time) time.Time {
	t := now.Add(time.Hour)
	earlier := func(u time.Time) {
		if !u.IsZero() && u.Before(t) {
			t = u
		}
	}
	if what, at := l.plan(); what != nothing {
		earlier(at)
		if at.IsZero() {
			t = now
		}
	}
	if j := l.job; j != nil && !j.replay && !j.stalled {
		earlier(j.started.Add(l.w.opts.MaxWait))
	}
	earlier(l.nextLog)
	return t
}

// over says the loop is done after Close: nothing queued or batched, no
// append whose records wait for it, and the spool replayed, or, while the
// store fails, tried once more (a store that was only slow gets its
// records; a broken one does not hold the shutdown up).
func (l *loop) over() bool {
	if !l.queueClosed || len(l.batch) > 0 || l.retry != nil {
		return false
	}
	// An append whose records went to the spool when it stalled need not
	// be waited for.
	if j := l.job; j != nil && !(j.stalled && len(j.items) == 0) {
		return false
	}
	sp := l.w.spool
	if sp == nil || sp.pending == 0 || l.spoolBroken {
		return true
	}
	return l.failing && l.lastTry
}

// abandon ends the loop: it closes the spool and answers what waits.
func (l *loop) abandon() {
	if l.w.spool != nil {
		l.w.spool.close()
	}
	for _, f := range l.flushes {
		f.reply <- l.w.failedCount() - f.lostBefore
	}
}
