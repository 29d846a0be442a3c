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

// next returns the next event, blocking until there is one.
func (p *eventPump) next() (llm.Event, error) {
	it, ok := <-p.ch
	if !ok {
		return llm.Event{}, context.Canceled
	}
	return it.ev, it.err
}

// idle reports whether no event is waiting: the time to flush.
func (p *eventPump) idle() bool { return len(p.ch) == 0 }

// stop ends the reads and closes the stream once the reader has let go
// of it (a Stream is used by one goroutine at a time).
func (p *eventPump) stop() {
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
	return p, first, nil
}
