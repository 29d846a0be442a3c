package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// Defaults of the body limits (see Options).
const (
	DefaultMaxBodyBytes             = 10 << 20
	DefaultReadTimeout              = 60 * time.Second
	DefaultLargeBodyBytes           = 1 << 20
	DefaultMaxConcurrentLargeBodies = 16
	DefaultLargeBodyWait            = 5 * time.Second
)

// readBody reads the request body within limits.max_body_bytes and by
// limits.read_timeout, so that a client trickling its body cannot hold the
// connection. A body larger than limits.large_body_bytes (by its
// Content-Length, or once that much has arrived when it has none) first
// takes a large-body slot (takeSlot), held until the request ends: the
// body, and the request decoded from it, take memory in proportion. A body
// of known length is read into a buffer of its size, never regrown.
func (c *call) readBody(ctx context.Context, w http.ResponseWriter, r *http.Request) (*bytes.Buffer, error) {
	o := &c.s.opts
	rc := http.NewResponseController(w)
	setDeadline := func() {
		// Not every ResponseWriter has a connection (tests); the server's
		// ReadHeaderTimeout still holds then.
		_ = rc.SetReadDeadline(time.Now().Add(o.ReadTimeout))
	}
	body := http.MaxBytesReader(w, r.Body, o.MaxBodyBytes)
	n := r.ContentLength
	var buf *bytes.Buffer
	switch {
	case n > o.LargeBodyBytes:
		if err := c.takeSlot(ctx); err != nil {
			noDrain(w)
			return nil, err
		}
		// MinRead spare, or ReadFrom would grow it for its last read.
		buf = bytes.NewBuffer(make([]byte, 0, min(n, o.MaxBodyBytes)+bytes.MinRead))
	default:
		buf = c.s.bufs.Get().(*bytes.Buffer)
		buf.Reset()
		if n > 0 {
			buf.Grow(int(n) + bytes.MinRead)
		}
	}
	setDeadline()
	var err error
	if n < 0 {
		// No length: read up to the large-body size, and take a slot
		// before reading more.
		_, err = buf.ReadFrom(io.LimitReader(body, o.LargeBodyBytes+1))
		if err == nil && int64(buf.Len()) > o.LargeBodyBytes {
			if err = c.takeSlot(ctx); err == nil {
				setDeadline()
				_, err = buf.ReadFrom(body)
			}
		}
	} else {
		_, err = buf.ReadFrom(body)
	}
	if err != nil {
		got := buf.Len()
		c.releaseBody(buf)
		var mbe *http.MaxBytesError
		var le *llm.Error
		switch {
		case errors.As(err, &le): // no large-body slot
			noDrain(w)
			return nil, err
		case errors.As(err, &mbe):
			return nil, llm.Errorf(llm.KindTooLarge, "request body exceeds the limit of %d bytes (limits.max_body_bytes)", mbe.Limit)
		case errors.Is(err, os.ErrDeadlineExceeded):
			noDrain(w)
			return nil, llm.Errorf(llm.KindSlowClient, "the request body did not arrive within %v (limits.read_timeout): %d of %s bytes were read",
				o.ReadTimeout, got, lengthText(n))
		}
		return nil, llm.Errorf(llm.KindValidation, "reading request body: %v", err)
	}
	// Cleared once the body is in: it bounds reading the request, not the
	// answer. Left as it is on failure: after the answer the server
	// drains an unread body, and a slow client must not hold the
	// connection through that either.
	_ = rc.SetReadDeadline(time.Time{})
	return buf, nil
}

// noDrain closes the connection after the answer instead of letting the
// server read what is left of a body that will not be used: the caller
// may be sending it slowly, or may not be allowed to send it at all. The
// server still reads for up to drainGrace (and 256 KiB) after the answer,
// so that a client busy sending reads the answer rather than a reset.
func noDrain(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(drainGrace))
}

// drainGrace bounds how long a refused request's connection stays open.
const drainGrace = time.Second

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func lengthText(n int64) string {
	if n < 0 {
		return "an unknown number of"
	}
	return itoa(n)
}

func (c *call) releaseBody(b *bytes.Buffer) {
	if b != nil && b.Cap() <= 1<<20 {
		c.s.bufs.Put(b)
	}
}

// takeSlot takes one of the limits.max_concurrent_large_bodies slots for
// the call, waiting up to limits.large_body_wait, and fails with a
// KindUnavailable error (503, Retry-After) when none frees up in time.
// releaseSlot gives it back.
func (c *call) takeSlot(ctx context.Context) error {
	o := &c.s.opts
	select {
	case c.s.largeSlots <- struct{}{}:
		c.slot = true
		return nil
	default:
	}
	t := time.NewTimer(o.LargeBodyWait)
	defer t.Stop()
	select {
	case c.s.largeSlots <- struct{}{}:
		c.slot = true
		return nil
	case <-t.C:
		return &llm.Error{Kind: llm.KindUnavailable, RetryAfter: time.Second, Message: "Penny is reading as many large requests " +
			"(over limits.large_body_bytes, " + itoa(o.LargeBodyBytes) + " bytes) as it takes at once (limits.max_concurrent_large_bodies, " +
			itoa(int64(o.MaxConcurrentLargeBodies)) + "); retry in a moment"}
	case <-ctx.Done():
		return llm.Errorf(llm.KindOf(ctx.Err()), "waiting to read a large request body: %w", ctx.Err())
	}
}

// releaseSlot gives back the call's large-body slot, if it holds one.
func (c *call) releaseSlot() {
	if c.slot {
		c.slot = false
		<-c.s.largeSlots
	}
}
