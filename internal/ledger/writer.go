package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// ErrClosed is returned by Writer.Write after Close.
var ErrClosed = errors.New("ledger: writer closed")

// ErrLost is wrapped by the error of a Write whose record could be neither
// stored nor spooled. The Writer has logged and counted it.
var ErrLost = errors.New("ledger: record lost")

// ErrRefused is wrapped by the errors of Admit and Write under
// WriterOptions.Refuse: the request must not be served, because its
// record could not be kept. The error is an *llm.Error of kind
// llm.KindUnavailable, so frontends answer it as a 503.
var ErrRefused = errors.New("ledger: not taking records")

// WriterOptions configures a Writer. Zero fields take their defaults.
type WriterOptions struct {
	// QueueSize is how many records may wait to be written before Write
	// blocks. Default 10000.
	QueueSize int
	// BatchSize is the most records appended in one transaction. Default 256.
	BatchSize int
	// FlushInterval is the longest a queued record waits for its batch to
	// fill before the batch is written anyway. Default 200ms. Strict
	// Writers do not wait: a batch is whatever is queued when the store is
	// free.
	FlushInterval time.Duration
	// MaxWait bounds what a slow or stalled store can cost a request: how
	// long Write waits for room in a full queue (then the record is lost,
	// or refused under Refuse), and how long a batch may take to commit
	// before the store is deemed stalled and its records, and the ones
	// after them, go to the spool. Default 1s.
	MaxWait time.Duration
	// SpoolPath, if set, is the spool file: records the store cannot take
	// are appended to it, fsynced, and replayed in order (each request
	// once) when it takes records again, also when a later Writer starts
	// on the same file. Without a spool, a failing batch is tried again
	// MaxAttempts times, then given up.
	SpoolPath string
	// MaxAttempts is how many times a failing batch is tried before its
	// records are given up, without a spool. Default 5.
	MaxAttempts int
	// RetryBackoff is the wait after the first failed attempt; it doubles
	// after each further failure, up to 5s. With a spool it paces the
	// attempts to replay it. Default 100ms.
	RetryBackoff time.Duration
	// Strict makes Write return only once its record is durable:
	// committed by the store or fsynced to the spool.
	Strict bool
	// Refuse makes Admit refuse new requests while the store is failing,
	// and Write return an error wrapping ErrRefused for a record it could
	// not keep, so that nothing is served unrecorded.
	Refuse bool
	// LogEvery is how often a failing Writer logs a summary; the first
	// failure and the first lost record are logged at once. Default 30s.
	LogEvery time.Duration
	// OnCommit, if set, is called after each append to the store with the
	// number of records, how long it took and its error (from the
	// Writer's store goroutine).
	OnCommit func(records int, took time.Duration, err error)
	// Logger receives failures, losses and recoveries. Default: nowhere.
	Logger *slog.Logger
}

const maxRetryBackoff = 5 * time.Second

func (o WriterOptions) withDefaults() WriterOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.MaxWait <= 0 {
		o.MaxWait = time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 100 * time.Millisecond
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WriterStats counts what a Writer did with records. At rest (Queued 0),
// Accepted = Written + Spooled + the accepted records among Failed.
type WriterStats struct {
	// Accepted records were taken by Write.
	Accepted int64
	// Written records were appended to the store directly.
	Written int64
	// Spooled records were kept in the spool because the store could not
	// take them; Replayed ones were appended to the store from the spool
	// since (records left by an earlier run included), InSpool still wait.
	Spooled  int64
	Replayed int64
	InSpool  int64
	// Failed records are lost: given up without a spool after
	// MaxAttempts, not taken by the spool either, or refused by Write
	// after MaxWait on a full queue.
	Failed int64
	// Queued records are accepted but not yet written, spooled or lost.
	Queued int64
	// Retries counts failed appends tried again (without a spool).
	Retries int64
}

// Health is whether the store takes records, for readiness and metrics.
type Health struct {
	// OK is false while the store is failing: its last append failed, or
	// has not returned within MaxWait.
	OK bool
	// Since is when it started failing, and Err why (zero when OK).
	Since time.Time
	Err   string
	// InSpool records wait in the spool at SpoolPath ("" without one).
	InSpool   int64
	SpoolPath string
	// SpoolErr is the spool's last error while it fails too: records are
	// then being lost.
	SpoolErr string
	// Failed counts the records lost so far.
	Failed int64
}

// Writer queues records and appends them to a Store in batches from a
// background goroutine, so that recording usage costs the request path
// one channel send (or, Strict, the wait for a group commit). It keeps
// every record it accepts: when the store fails or stalls past MaxWait,
// records go to the spool and are replayed once the store is back; Close
// writes or spools everything queued. Only when the spool fails too (or
// there is none) are records lost, and then loudly: logged, counted in
// Stats and Health.
//
// A Writer is safe for concurrent use. Close stops its goroutines; it does
// not close the Store.
type Writer struct {
	store Store
	opts  WriterOptions
	log   *slog.Logger
	alarm *alarm
	spool *spool // nil without SpoolPath

	queue   chan item
	flushes chan chan int64 // Flush requests; the reply is the count of records lost meanwhile
	closing chan struct{}   // closed when Close starts; wakes blocked writers
	done    chan struct{}   // closed when the goroutine has returned
	jobs    chan *job       // to the store goroutine
	results chan *job       // from it

	// mu guards closed and the closing of queue: Write holds it shared
	// while sending, so Close, holding it exclusively, knows no send is in
	// flight when it closes queue.
	mu        sync.RWMutex
	closed    bool
	closeOnce sync.Once

	accepted atomic.Int64
	written  atomic.Int64
	spooled  atomic.Int64
	replayed atomic.Int64
	inSpool  atomic.Int64
	lost     atomic.Int64 // accepted records lost
	dropped  atomic.Int64 // records Write could not queue
	// unreadable counts spool lines that could not be read back.
	unreadable atomic.Int64
	retries    atomic.Int64
	health     atomic.Pointer[Health] // OK, Since, Err, SpoolErr
}

// item is a queued record and, Strict, where to say it is durable.
type item struct {
	rec  Record
	done chan error // nil unless Strict; buffered
}

// NewWriter starts a Writer in front of store, for options without a
// SpoolPath; it panics if a spool cannot be opened. Use OpenWriter with a
// spool.
func NewWriter(store Store, opts WriterOptions) *Writer {
	w, err := OpenWriter(store, opts)
	if err != nil {
		panic(err)
	}
	return w
}

// OpenWriter starts a Writer in front of store. With a spool left by an
// earlier run, the Writer replays it first, before it writes new records.
// It fails only when the spool exists and cannot be read.
func OpenWriter(store Store, opts WriterOptions) (*Writer, error) {
	opts = opts.withDefaults()
	w := &Writer{
		store:   store,
		opts:    opts,
		log:     opts.Logger,
		alarm:   &alarm{log: opts.Logger, every: opts.LogEvery, spoolPath: opts.SpoolPath},
		queue:   make(chan item, opts.QueueSize),
		flushes: make(chan chan int64),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		jobs:    make(chan *job),
		results: make(chan *job, 1),
	}
	w.health.Store(&Health{OK: true})
	if opts.SpoolPath != "" {
		sp, dropped, err := openSpool(opts.SpoolPath)
		if err != nil {
			return nil, err
		}
		if dropped > 0 {
			w.log.Warn("ledger: the spool ended with a record cut short (the process was killed while writing it); dropped",
				"spool", opts.SpoolPath, "bytes", dropped)
		}
		if sp.pending > 0 {
			w.log.Info("ledger: replaying the spool left by an earlier run", "spool", opts.SpoolPath, "records", sp.pending)
		}
		w.spool = sp
		w.inSpool.Store(sp.pending)
	}
	go w.appendLoop()
	go w.run()
	return w, nil
}

// Write queues r to be appended. It waits while the queue is full, up to
// MaxWait; Strict, it then waits until r is durable. Only a nil return
// means r was accepted (Strict: kept, in the store or the spool).
//
// Errors: ErrClosed after Close; ctx.Err() if ctx ends first (Strict, r
// may still be written); an error wrapping ErrLost when r could not be
// kept, or, under Refuse, one wrapping ErrRefused (an *llm.Error of kind
// unavailable), meaning the request must not be served.
//
// Write records even when ctx is already done if the queue has room; to
// record a request whose client went away, pass context.WithoutCancel(ctx).
func (w *Writer) Write(ctx context.Context, r Record) error {
	it := item{rec: r}
	if w.opts.Strict {
		it.done = make(chan error, 1)
	}
	if err := w.enqueue(ctx, it); err != nil {
		return err
	}
	if it.done == nil {
		return nil
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) enqueue(ctx context.Context, it item) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	// Counted first, so that Queued never goes negative.
	w.accepted.Add(1)
	select {
	case w.queue <- it:
		return nil
	default:
	}
	t := time.NewTimer(w.opts.MaxWait)
	defer t.Stop()
	select {
	case w.queue <- it:
		return nil
	case <-w.closing:
		w.accepted.Add(-1)
		return ErrClosed
	case <-ctx.Done():
		w.accepted.Add(-1)
		return ctx.Err()
	case <-t.C:
		w.accepted.Add(-1)
		w.dropped.Add(1)
		err := fmt.Errorf("the ledger queue stayed full for %s (ledger.max_wait)", w.opts.MaxWait)
		w.alarm.lostRecords(time.Now(), 1, err, it.rec.RequestID)
		return w.lostErr(err)
	}
}

// lostErr is the error for a record that could not be kept.
func (w *Writer) lostErr(cause error) error {
	if w.opts.Refuse {
		return refusal(fmt.Errorf("%w: %w: %w", ErrRefused, ErrLost, cause))
	}
	return fmt.Errorf("%w: %w", ErrLost, cause)
}

// refusal is the error a request refused for the ledger's sake is
// answered with.
func refusal(err error) *llm.Error {
	return &llm.Error{Kind: llm.KindUnavailable, Code: "ledger_unavailable", RetryAfter: time.Second, Err: err,
		Message: "Penny cannot record requests in its ledger right now, so it does not serve them (ledger.on_failure: refuse); retry later"}
}

// Admit reports whether a new request may be served: under Refuse, an
// error wrapping ErrRefused (an *llm.Error of kind unavailable) while the
// store is failing; otherwise nil.
func (w *Writer) Admit() error {
	if !w.opts.Refuse {
		return nil
	}
	if h := w.health.Load(); !h.OK {
		return refusal(fmt.Errorf("%w: %s", ErrRefused, h.Err))
	}
	return nil
}

// Ready returns nil while the store takes records, and otherwise an error
// saying why and where the records go.
func (w *Writer) Ready() error {
	h := w.Health()
	if h.OK {
		return nil
	}
	msg := fmt.Sprintf("ledger: the database has not been taking records since %s: %s", h.Since.Format(time.RFC3339), h.Err)
	switch {
	case h.SpoolPath == "":
		msg += fmt.Sprintf("; %d records lost so far", h.Failed)
	case h.SpoolErr != "":
		msg += fmt.Sprintf("; the spool fails too (%s): %d records lost so far", h.SpoolErr, h.Failed)
	default:
		msg += fmt.Sprintf("; %d records kept in the spool %s, replayed when it is back", h.InSpool, h.SpoolPath)
	}
	return errors.New(msg)
}

// Health returns the store's health.
func (w *Writer) Health() Health {
	h := *w.health.Load()
	h.InSpool = w.inSpool.Load()
	h.SpoolPath = w.opts.SpoolPath
	h.Failed = w.failedCount()
	return h
}

// failedCount is Stats().Failed.
func (w *Writer) failedCount() int64 {
	return w.lost.Load() + w.dropped.Load() + w.unreadable.Load()
}

// Flush returns once every record accepted before the call is in the
// store or given up: written, or spooled and then replayed. It returns an
// error if records were lost meanwhile, or, if ctx is done first (the
// store failing, say), one wrapping ctx.Err() that counts the records
// waiting in the spool. Flush on a closed Writer returns nil once Close
// has drained the queue.
func (w *Writer) Flush(ctx context.Context) error {
	reply := make(chan int64, 1)
	select {
	case w.flushes <- reply:
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case lost := <-reply:
		if lost > 0 {
			return fmt.Errorf("ledger: flush: %d records could not be written", lost)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ledger: flush: %d records in the spool, waiting for the database: %w", w.inSpool.Load(), ctx.Err())
	}
}

// Close stops accepting records, so that later Writes return ErrClosed,
// and waits until every accepted record has been written, spooled or
// given up, and the spool replayed if the store takes records. It returns
// an error if records were lost while draining, or ctx.Err() if ctx is
// done first; the queue then keeps draining in the background. Close may
// be called more than once.
func (w *Writer) Close(ctx context.Context) error {
	lostBefore := w.lost.Load()
	w.closeOnce.Do(func() {
		close(w.closing) // release Writes blocked on a full queue
		w.mu.Lock()
		w.closed = true
		close(w.queue) // no send is in flight: they all hold mu shared
		w.mu.Unlock()
	})
	select {
	case <-w.done:
	case <-ctx.Done():
		return fmt.Errorf("ledger: close: %d records still queued: %w", w.Stats().Queued, ctx.Err())
	}
	if n := w.lost.Load() - lostBefore; n > 0 {
		return fmt.Errorf("ledger: close: %d records could not be written", n)
	}
	return nil
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	// Read the outcomes before accepted, so that a record resolved in
	// between is not counted as both queued and resolved.
	written, spooled, lost := w.written.Load(), w.spooled.Load(), w.lost.Load()
	return WriterStats{
		Accepted: w.accepted.Load(),
		Written:  written,
		Spooled:  spooled,
		Replayed: w.replayed.Load(),
		InSpool:  w.inSpool.Load(),
		Failed:   lost + w.dropped.Load() + w.unreadable.Load(),
		Queued:   max(0, w.accepted.Load()-written-spooled-lost),
		Retries:  w.retries.Load(),
	}
}

// appendLoop is the store goroutine: it appends one job at a time, so
// that the Writer's goroutine can stop waiting for a stalled store.
func (w *Writer) appendLoop() {
	for j := range w.jobs {
		start := time.Now()
		j.err = w.store.Append(context.Background(), j.recs)
		j.took = time.Since(start)
		if w.opts.OnCommit != nil {
			w.opts.OnCommit(len(j.recs), j.took, j.err)
		}
		w.results <- j
	}
}
