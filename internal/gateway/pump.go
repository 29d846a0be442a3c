package gateway

import (
	"context"
	"errors"
	"io"

	"github.com/penny-gateway/penny/internal/llm"
)

// pumpDepth is how many events the pump may read ahead of the writer.
const pumpDepth = 32

type pumped struct {
	ev  llm.Event
	err error
}

// eventPump reads a stream ahead in its own goroutine so that the writer
// can tell whether another event is already waiting. The frontends flush
// a written event to the client only when none is: on a fast upstream
// several events share one write, and no event is ever held back while
// Penny waits for the next. It owns the stream from start to stop.
type eventPump struct {
	st     llm.Stream
	ch     chan pumped
	cancel context.CancelFunc
	done   chan struct{}
	// held is an item read ahead by next, returned by the next call.
	held *pumped
	// beforeEnd, if set, is called once by next before it returns the
	// stream's last event or its end (openStream sets the call's commit).
	beforeEnd func() error
	stopped   bool
}

// startPump starts reading st. ctx bounds the reads; stop cancels it.
func startPump(ctx context.Context, st llm.Stream) *eventPump {
	ctx, cancel := context.WithCancel(ctx)
	p := &eventPump{st: st, ch: make(chan pumped, pumpDepth), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer close(p.ch)
		defer func() {
			// A panic in a stage's Recv must not take the process down:
			// it ends this stream with an internal error instead.
			if v := recover(); v != nil {
				select {
				case p.ch <- pumped{err: llm.Errorf(llm.KindInternal, "internal error in the stream: %v", v)}:
				case <-ctx.Done():
				}
			}
		}()
		for {
			ev, err := st.Recv()
			select {
			case p.ch <- pumped{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

// next returns the next event, blocking until there is one. Before it
// returns the stream's last event or its clean end, it stops the pump
// (which settles the request's bill) and calls beforeEnd, returning
// beforeEnd's error instead, if any, to end the stream with. The last
// event is the metadata (usage) event when the stream is seen to end right
// after it, so next reads one item ahead there: every frontend's final
// bytes (Converse's metadata frame, OpenAI's [DONE], …) come after.
func (p *eventPump) next() (llm.Event, error) {
	it := p.take()
	last := errors.Is(it.err, io.EOF) || it.err == nil && it.ev.Type == llm.EventMetadata
	if p.beforeEnd == nil || !last {
		return it.ev, it.err
	}
	if it.err == nil {
		after := p.take()
		p.held = &after
		if !errors.Is(after.err, io.EOF) {
			return it.ev, nil
		}
	}
	end := p.beforeEnd
	p.beforeEnd = nil
	p.stop()
	if err := end(); err != nil {
		return llm.Event{}, err
	}
	return it.ev, it.err
}

// take returns the held item, or the next from the reader.
func (p *eventPump) take() pumped {
	if it := p.held; it != nil {
		p.held = nil
		return *it
	}
	it, ok := <-p.ch
	if !ok {
		return pumped{err: context.Canceled}
	}
	return it
}

// idle reports whether no event is waiting: the time to flush.
func (p *eventPump) idle() bool { return p.held == nil && len(p.ch) == 0 }

// stop ends the reads and closes the stream once the reader has let go
// of it (a Stream is used by one goroutine at a time). It may be called
// more than once.
func (p *eventPump) stop() {
	if p.stopped {
		return
	}
	p.stopped = true
	p.cancel()
	<-p.done
	p.st.Close()
}

// openStream starts the request's stream and waits for its first event,
// so that a failure before any event can still be answered with an
// ordinary error response. On success the caller owns the pump.
func (c *call) openStream(ctx context.Context) (*eventPump, llm.Event, error) {
	st, err := c.s.chain.Stream(ctx, c.req)
	if err != nil {
		return nil, llm.Event{}, err
	}
	p := startPump(ctx, st)
	first, err := p.next()
	if err != nil {
		p.stop()
		if errors.Is(err, io.EOF) {
			err = llm.Errorf(llm.KindInternal, "upstream stream ended before any event")
		}
		return nil, llm.Event{}, err
	}
	// From here on the answer is the stream's: its record is written
	// before its end is sent.
	p.beforeEnd = c.commit
	return p, first, nil
}
