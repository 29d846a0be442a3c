package sim

import (
	"context"
	"io"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// Streamed text arrives in deltas of about this many tokens, tool input in
// fragments of about toolChunkTokens.
const (
	textChunkTokens = 3
	toolChunkTokens = 4
)

// timedEvent is an event and when, in unscaled time after the request, the
// model would send it.
type timedEvent struct {
	at time.Duration
	ev llm.Event
}

// stream replays a prepared answer as ConverseStream events, sleeping in
// Recv until each event is due. It has no goroutine; Close only marks it
// done.
type stream struct {
	p      *Provider
	ctx    context.Context
	start  time.Time
	events []timedEvent
	next   int
	failAt int // index of the event replaced by a mid-stream error; -1 for none
	err    error
	closed bool
}

func (p *Provider) newStream(ctx context.Context, c *call) *stream {
	s := &stream{p: p, ctx: ctx, start: time.Now(), events: timeline(p, c), failAt: -1}
	if c.midStop >= 0 {
		// After messageStart and at least one delta, before metadata.
		s.failAt = 2 + int(c.midStop*float64(len(s.events)-3))
	}
	return s
}

// timeline lays out the events of c's answer: messageStart at the time to
// first token, content deltas paced by the output speed, then messageStop
// and metadata when the answer is complete.
func timeline(p *Provider, c *call) []timedEvent {
	r := c.resp
	at := c.ttft
	emitted := 0
	advance := func(text string) {
		at = c.ttft + time.Duration(float64(emitted)/c.speed*float64(time.Second))
		emitted += p.counter.Count(text)
	}
	evs := []timedEvent{{at, llm.Event{Type: llm.EventMessageStart, Role: llm.RoleAssistant}}}
	for i, b := range r.Message.Content {
		switch b.Type {
		case llm.BlockText:
			for _, chunk := range p.counter.Split(b.Text, textChunkTokens) {
				advance(chunk)
				evs = append(evs, timedEvent{at, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{Text: chunk}}})
			}
		case llm.BlockToolUse:
			advance(b.ToolUse.Name)
			evs = append(evs, timedEvent{at, llm.Event{Type: llm.EventBlockStart, Index: i,
				ToolUse: &llm.ToolUse{ID: b.ToolUse.ID, Name: b.ToolUse.Name}}})
			for _, chunk := range p.counter.Split(string(b.ToolUse.Input), toolChunkTokens) {
				advance(chunk)
				evs = append(evs, timedEvent{at, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{ToolInput: chunk}}})
			}
		default:
			continue
		}
		evs = append(evs, timedEvent{at, llm.Event{Type: llm.EventBlockStop, Index: i}})
	}
	u := r.Usage
	end := max(r.Latency, at)
	evs = append(evs,
		timedEvent{end, llm.Event{Type: llm.EventMessageStop, StopReason: r.StopReason}},
		timedEvent{end, llm.Event{Type: llm.EventMetadata, Usage: &u, Latency: r.Latency, InvokedModel: r.InvokedModel}},
	)
	return evs
}

// Recv returns the next event when it is due, io.EOF after the last one,
// and the mid-stream error if one was injected. It returns ctx's error as
// an *llm.Error as soon as the stream's context is done.
func (s *stream) Recv() (llm.Event, error) {
	switch {
	case s.closed:
		return llm.Event{}, &llm.Error{Kind: llm.KindCanceled, Message: "sim: stream is closed"}
	case s.err != nil:
		return llm.Event{}, s.err
	case s.next >= len(s.events):
		return llm.Event{}, io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		s.err = ctxError(err)
		return llm.Event{}, s.err
	}
	te := s.events[s.next]
	if d := s.p.scaled(te.at); d > 0 {
		if err := s.p.sleep(s.ctx, time.Until(s.start.Add(d))); err != nil {
			s.err = err
			return llm.Event{}, err
		}
	}
	if s.next == s.failAt {
		s.err = midStreamError()
		return llm.Event{}, s.err
	}
	s.next++
	return te.ev, nil
}

// Close ends the stream; later Recv calls fail. It is safe to call more
// than once.
func (s *stream) Close() error {
	s.closed = true
	return nil
}
