package openai

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// Stream sends req with stream:true and stream_options.include_usage and
// returns the answer as events in ConverseStream order (see
// openaiwire.ChunkDecoder); the metadata event's Latency is the time from
// the call to the end of the stream. Errors before the answer starts are
// returned here, as by Invoke; later ones by Recv: an error object in the
// stream with its kind (see openaiwire.DecodeError), KindTimeout when no
// chunk comes for Timeout, KindUnavailable when the connection breaks or
// the stream ends before the answer is complete. An upstream that ignores
// stream:true and answers with one JSON object is handled too.
func (p *Provider) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	body, err := openaiwire.EncodeOptions{Stream: true, MaxCompletionTokens: p.maxComp}.Encode(req)
	if err != nil {
		return nil, err
	}
	s := &stream{p: p, parent: ctx, start: time.Now()}
	ctx, s.cancel = context.WithCancel(ctx)
	if p.timeout > 0 {
		s.timer = time.AfterFunc(p.timeout, s.expire)
	}
	resp, err := p.post(ctx, body, true)
	if err != nil {
		s.release()
		return nil, p.transportError(s.parent, err, s.expired.Load())
	}
	s.body = resp.Body
	if resp.StatusCode/100 != 2 {
		err := p.statusError(resp)
		s.release()
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		return s.whole()
	}
	s.lines = bufio.NewScanner(resp.Body)
	s.lines.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	s.touch()
	return s, nil
}

// stream is an llm.Stream over a server-sent-events body.
type stream struct {
	p      *Provider
	parent context.Context // the caller's context
	cancel context.CancelFunc
	start  time.Time
	body   io.ReadCloser
	lines  *bufio.Scanner
	dec    openaiwire.ChunkDecoder
	data   []byte // the data of the event being read

	queue []llm.Event
	done  bool  // no more events will be read
	err   error // returned by Recv once the queue is empty

	// The idle timer runs on its own goroutine; it only sets expired and
	// cancels the request, both safe to race with the reader.
	timer   *time.Timer
	expired atomic.Bool
	once    sync.Once
}

// whole reads an answer that came as one JSON object, not as events.
func (s *stream) whole() (llm.Stream, error) {
	defer s.release()
	data, err := io.ReadAll(io.LimitReader(s.body, maxAnswerBytes+1))
	if err != nil {
		return nil, s.p.transportError(s.parent, err, s.expired.Load())
	}
	if len(data) > maxAnswerBytes {
		return nil, llm.Errorf(llm.KindInternal, "upstream %s: answer is larger than %d bytes", s.p.name, maxAnswerBytes)
	}
	resp, err := openaiwire.DecodeResponse(data)
	if err != nil {
		return nil, err
	}
	s.queue, s.done = llm.EventsOf(resp), true
	return s, nil
}

// Recv returns the next event, io.EOF after the last, or the error that
// ended the stream (again on every later call).
func (s *stream) Recv() (llm.Event, error) {
	for len(s.queue) == 0 {
		if s.err != nil {
			return llm.Event{}, s.err
		}
		if s.done {
			return llm.Event{}, io.EOF
		}
		s.fill()
	}
	ev := s.queue[0]
	s.queue = s.queue[1:]
	if ev.Type == llm.EventMetadata {
		ev.Latency = time.Since(s.start)
	}
	return ev, nil
}

// fill reads the next server-sent event and queues what it decodes to.
func (s *stream) fill() {
	data, err := s.next()
	switch {
	case errors.Is(err, io.EOF):
		s.queue, s.err = s.dec.End(false)
		s.finish()
	case err != nil:
		s.err = s.p.transportError(s.parent, err, s.expired.Load())
		s.finish()
	case bytes.Equal(data, []byte("[DONE]")):
		s.queue, s.err = s.dec.End(true)
		s.finish()
	default:
		s.queue, s.err = s.dec.Decode(data)
		if s.err != nil {
			s.finish()
		}
	}
}

func (s *stream) finish() {
	s.done = true
	s.release()
}

// next returns the data of the next event: its "data:" lines joined by
// "\n". Comments (keep-alives) and other fields (event, id, retry) are
// skipped; an "event: error" carries its error object in its data.
func (s *stream) next() ([]byte, error) {
	s.data = s.data[:0]
	has := false
	for s.lines.Scan() {
		s.touch()
		line := s.lines.Bytes()
		if len(line) == 0 {
			if has {
				return s.data, nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if len(field) == 0 {
			continue // a comment
		}
		if string(field) != "data" {
			continue
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if has {
			s.data = append(s.data, '\n')
		}
		s.data = append(s.data, value...)
		has = true
	}
	if err := s.lines.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, llm.Errorf(llm.KindInternal, "upstream %s sent a stream line longer than %d bytes", s.p.name, maxLineBytes)
		}
		return nil, err
	}
	if has {
		// The last event lacked its blank line.
		return s.data, nil
	}
	return nil, io.EOF
}

// touch restarts the idle timer: something arrived.
func (s *stream) touch() {
	if s.timer != nil && !s.expired.Load() {
		s.timer.Reset(s.p.timeout)
	}
}

func (s *stream) expire() {
	s.expired.Store(true)
	s.cancel()
}

// release stops the timer, closes the body and cancels the request.
func (s *stream) release() {
	s.once.Do(func() {
		if s.timer != nil {
			s.timer.Stop()
		}
		if s.body != nil {
			s.body.Close()
		}
		s.cancel()
	})
}

// Close releases the stream. Recv after Close returns the error that ended
// the stream, io.EOF if it had ended, else KindCanceled.
func (s *stream) Close() error {
	if !s.done {
		s.done = true
		s.queue = nil
		if s.err == nil {
			s.err = llm.Errorf(llm.KindCanceled, "stream from upstream %s closed", s.p.name)
		}
	}
	s.release()
	return nil
}
