package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Writer.Write after Close.
var ErrClosed = errors.New("ledger: writer closed")

// WriterOptions configures a Writer. Zero fields take their defaults.
type WriterOptions struct {
	// QueueSize is how many records may wait to be written before Write
	// blocks. Default 10000.
	QueueSize int
	// BatchSize is the most records appended in one transaction. Default 256.
	BatchSize int
	// FlushInterval is the longest a queued record waits for its batch to
	// fill before the batch is written anyway. Default 200ms.
	FlushInterval time.Duration
	// MaxAttempts is how many times a failing batch is tried before its
	// records are given up. Default 5.
	MaxAttempts int
	// RetryBackoff is the wait after the first failed attempt; it doubles
	// after each further failure, up to 5s. Default 100ms.
	RetryBackoff time.Duration
	// Logger receives retries (warn) and given-up records (error).
	// Default: nowhere.
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
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WriterStats counts what a Writer did with the records it accepted.
type WriterStats struct {
	// Written records were appended to the store.
	Written int64
	// Failed records were given up after MaxAttempts failed appends.
	Failed int64
	// Queued records are accepted but neither written nor given up yet.
	Queued int64
	// Retries counts failed append attempts that were tried again.
	Retries int64
}

// Writer queues records and appends them to a Store in batches from a
// single background goroutine, so that recording usage costs the request
// path one channel send. It never drops a record: when the queue is full,
// Write blocks until there is room, and Close writes everything queued.
//
// A Writer is safe for concurrent use. Close stops its goroutine; it does
// not close the Store.
type Writer struct {
	store Store
	opts  WriterOptions
	log   *slog.Logger

	queue   chan Record
	flushes chan chan int64 // Flush requests; the reply is the count of records given up
	closing chan struct{}   // closed when Close starts; wakes blocked writers
	done    chan struct{}   // closed when the drain goroutine has returned

	// mu guards closed and the closing of queue: Write holds it shared
	// while sending, so Close, holding it exclusively, knows no send is in
	// flight when it closes queue.
	mu        sync.RWMutex
	closed    bool
	closeOnce sync.Once

	written atomic.Int64
	failed  atomic.Int64
	retries atomic.Int64
	pending atomic.Int64 // records taken off queue, not yet written or failed
}

// NewWriter starts a Writer in front of store.
func NewWriter(store Store, opts WriterOptions) *Writer {
	opts = opts.withDefaults()
	w := &Writer{
		store:   store,
		opts:    opts,
		log:     opts.Logger,
		queue:   make(chan Record, opts.QueueSize),
		flushes: make(chan chan int64),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go w.run()
	return w
}

// Write queues r to be appended. It blocks while the queue is full, until
// there is room (nil), ctx is done (ctx.Err()) or the Writer is closed
// (ErrClosed); only a nil return means r was accepted, and an accepted
// record is written or, after repeated store failures, counted as Failed.
//
// Write records even when ctx is already done if the queue has room; to
// record a request whose client went away under backpressure, pass
// context.WithoutCancel(ctx).
func (w *Writer) Write(ctx context.Context, r Record) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	select {
	case w.queue <- r:
		return nil
	default:
	}
	select {
	case w.queue <- r:
		return nil
	case <-w.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush returns once every record accepted before the call has been
// written or given up. It returns an error if some were given up, or
// ctx.Err() if ctx is done first. Flush on a closed Writer returns nil once
// Close has drained the queue.
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
	case failed := <-reply:
		if failed > 0 {
			return fmt.Errorf("ledger: flush: %d records could not be written", failed)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting records, so that later Writes return ErrClosed,
// and waits until every accepted record has been written or given up. It
// returns an error if records were given up while draining, or ctx.Err()
// if ctx is done first; the queue then keeps draining in the background.
// Close may be called more than once.
func (w *Writer) Close(ctx context.Context) error {
	failedBefore := w.failed.Load()
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
	if n := w.failed.Load() - failedBefore; n > 0 {
		return fmt.Errorf("ledger: close: %d records could not be written", n)
	}
	return nil
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Written: w.written.Load(),
		Failed:  w.failed.Load(),
		Queued:  int64(len(w.queue)) + w.pending.Load(),
		Retries: w.retries.Load(),
	}
}

// run is the single goroutine that drains the queue. A batch is written
// when it is full, when FlushInterval has passed since its first record, on
// Flush, and when the queue is closed and empty.
func (w *Writer) run() {
	defer close(w.done)
	batch := make([]Record, 0, w.opts.BatchSize)
	timer := time.NewTimer(w.opts.FlushInterval)
	timer.Stop()
	defer timer.Stop()

	// add appends r to the batch and writes the batch when full; it
	// returns how many records were given up.
	add := func(r Record) int64 {
		batch = append(batch, r)
		w.pending.Add(1)
		if len(batch) < w.opts.BatchSize {
			return 0
		}
		timer.Stop()
		return w.write(&batch)
	}

	for {
		select {
		case r, ok := <-w.queue:
			if !ok {
				w.write(&batch)
				return
			}
			if len(batch) == 0 {
				timer.Reset(w.opts.FlushInterval)
			}
			add(r)
		case <-timer.C:
			w.write(&batch)
		case reply := <-w.flushes:
			// Everything accepted before Flush was called is in the batch
			// or among the first len(queue) records of the queue.
			var failed int64
			for n := len(w.queue); n > 0; n-- {
				r, ok := <-w.queue
				if !ok {
					break
				}
				failed += add(r)
			}
			timer.Stop()
			failed += w.write(&batch)
			reply <- failed
		}
	}
}

// write appends the batch, retrying with backoff, empties it and returns
// how many records were given up.
func (w *Writer) write(batch *[]Record) int64 {
	recs := *batch
	if len(recs) == 0 {
		return 0
	}
	defer func() {
		clear(recs) // drop references to tags and strings
		*batch = recs[:0]
		w.pending.Add(-int64(len(recs)))
	}()

	backoff := w.opts.RetryBackoff
	var err error
	for attempt := 1; ; attempt++ {
		err = w.store.Append(context.Background(), recs)
		if err == nil {
			w.written.Add(int64(len(recs)))
			return 0
		}
		if attempt >= w.opts.MaxAttempts {
			break
		}
		w.retries.Add(1)
		w.log.Warn("ledger: append failed; retrying",
			"records", len(recs), "attempt", attempt, "backoff", backoff, "err", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, maxRetryBackoff)
	}
	w.failed.Add(int64(len(recs)))
	w.log.Error("ledger: USAGE RECORDS LOST: append failed repeatedly; giving up",
		"records", len(recs), "attempts", w.opts.MaxAttempts, "err", err,
		"first_request_id", recs[0].RequestID, "last_request_id", recs[len(recs)-1].RequestID,
		"failed_total", w.failed.Load())
	return int64(len(recs))
}
