package gateway

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/penny-gateway/penny/internal/llm"
)

// sseWriter writes a streamed answer as server-sent events. Events are
// buffered; the frontends flush when no further event is waiting
// (eventPump.idle), so that a fast upstream's events share writes and no
// event waits for the next.
type sseWriter struct {
	bw *bufio.Writer
	rc *http.ResponseController
}

// startSSE sends the headers of a streamed answer (the x-penny-* headers,
// the cost trailers to come) and the 200 status.
func startSSE(c *call, w http.ResponseWriter) *sseWriter {
	h := w.Header()
	c.setHeaders(w)
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Trailer", streamTrailers)
	w.WriteHeader(http.StatusOK)
	return &sseWriter{bw: bufio.NewWriterSize(w, 4096), rc: http.NewResponseController(w)}
}

// event writes one event: "event: name" (unless name is empty), then v
// as JSON data.
func (s *sseWriter) event(name string, v any) {
	b, _ := json.Marshal(v)
	if name != "" {
		s.bw.WriteString("event: ")
		s.bw.WriteString(name)
		s.bw.WriteString("\n")
	}
	s.bw.WriteString("data: ")
	s.bw.Write(b)
	s.bw.WriteString("\n\n")
}

// flush sends what is buffered to the client; an error means the client
// went away (KindCanceled).
func (s *sseWriter) flush() error {
	if err := s.bw.Flush(); err != nil {
		return llm.Errorf(llm.KindCanceled, "client went away: %w", err)
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return llm.Errorf(llm.KindCanceled, "client went away: %w", err)
	}
	return nil
}

// relay writes a stream's events, first and then the pump's, with write,
// flushing whenever no further event is waiting. It returns what ended the
// stream: io.EOF for a clean end, a KindCanceled error when the client
// went away, a shutdown as streamEnd names it, or the upstream's error.
func (c *call) relay(p *eventPump, first llm.Event, write func(llm.Event), flush func() error) error {
	var err error
	ev := first
	for {
		c.observe(ev)
		write(ev)
		if p.idle() {
			if err = flush(); err != nil {
				break
			}
		}
		if ev, err = p.next(); err != nil {
			break
		}
	}
	return c.streamEnd(err)
}

// invokedModel is the catalog id of the model a Bedrock prompt router
// chose, as a metadata event names it; "" for other events and models
// the catalog does not know.
func (c *call) invokedModel(ev llm.Event) string {
	if ev.Type != llm.EventMetadata || ev.InvokedModel == "" {
		return ""
	}
	if t, err := c.s.opts.Catalog.Resolve(ev.InvokedModel); err == nil && t.Model != nil {
		return t.Model.ID
	}
	return ""
}
