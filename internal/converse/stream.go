package converse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/penny-gateway/penny/internal/llm"
)

// StreamContentType is the Content-Type of a ConverseStream answer.
const StreamContentType = "application/vnd.amazon.eventstream"

// Event stream header names and values, as Bedrock sends them.
const (
	hdrMessageType   = ":message-type"
	hdrEventType     = ":event-type"
	hdrExceptionType = ":exception-type"
	hdrContentType   = ":content-type"
	hdrErrorCode     = ":error-code"
	hdrErrorMessage  = ":error-message"
	msgEvent         = "event"
	msgException     = "exception"
	msgError         = "error"
	jsonContentType  = "application/json"
)

// EventWriter writes llm.Events as ConverseStream event-stream frames. If
// the underlying writer is an http.ResponseWriter (possibly wrapped, see
// http.ResponseController) or an http.Flusher, each frame is flushed as soon
// as it is written, unless ManualFlush is set: then frames are flushed by
// calling Flush. An EventWriter is used by one goroutine.
type EventWriter struct {
	// ManualFlush leaves flushing to the caller, who can then send several
	// frames in one write when more are ready.
	ManualFlush bool

	w     io.Writer
	flush func() error
	enc   *eventstream.Encoder
	buf   bytes.Buffer
}

// Flush sends what was written to the client, when the writer can flush.
func (ew *EventWriter) Flush() error {
	if ew.flush != nil {
		return ew.flush()
	}
	return nil
}

// NewEventWriter returns an EventWriter writing to w.
func NewEventWriter(w io.Writer) *EventWriter {
	ew := &EventWriter{w: w, enc: eventstream.NewEncoder()}
	switch f := w.(type) {
	case http.ResponseWriter:
		rc := http.NewResponseController(f)
		ew.flush = func() error {
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			return nil
		}
	case http.Flusher:
		ew.flush = func() error { f.Flush(); return nil }
	}
	return ew
}

// WriteEvent writes ev as one or more frames. A delta that sets several of
// text, tool input, reasoning and signature becomes one frame per part,
// since ConverseStream's delta is a union. A contentBlockStart without a
// tool use has no ConverseStream form (text blocks start with their first
// delta) and writes nothing.
func (ew *EventWriter) WriteEvent(ev llm.Event) error {
	ps, err := eventPayloads(ev)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := ew.writeEvent(p.eventType, p.payload); err != nil {
			return err
		}
	}
	return nil
}

// typedPayload is one ConverseStream frame's event type and payload.
type typedPayload struct {
	eventType string
	payload   any
}

// eventPayloads returns the ConverseStream frames ev becomes.
func eventPayloads(ev llm.Event) ([]typedPayload, error) {
	one := func(t string, p any) ([]typedPayload, error) { return []typedPayload{{t, p}}, nil }
	switch ev.Type {
	case llm.EventMessageStart:
		role := ev.Role
		if role == "" {
			role = llm.RoleAssistant
		}
		return one("messageStart", MessageStartEvent{Role: string(role)})
	case llm.EventBlockStart:
		if ev.ToolUse == nil {
			return nil, nil
		}
		return one("contentBlockStart", ContentBlockStartEvent{
			ContentBlockIndex: ev.Index,
			Start:             ContentBlockStart{ToolUse: &ToolUseStart{ToolUseID: ev.ToolUse.ID, Name: ev.ToolUse.Name}},
		})
	case llm.EventBlockDelta:
		return deltaPayloads(ev.Index, ev.Delta), nil
	case llm.EventBlockStop:
		return one("contentBlockStop", ContentBlockStopEvent{ContentBlockIndex: ev.Index})
	case llm.EventMessageStop:
		return one("messageStop", MessageStopEvent{StopReason: string(ev.StopReason)})
	case llm.EventMetadata:
		var u llm.Usage
		if ev.Usage != nil {
			u = *ev.Usage
		}
		return one("metadata", MetadataEvent{
			Usage:       usageWire(u),
			Metrics:     Metrics{LatencyMs: ev.Latency.Milliseconds()},
			Trace:       traceWire(ev.InvokedModel),
			ServiceTier: serviceTierWire(ev.ServiceTier),
		})
	}
	return nil, fmt.Errorf("converse: unknown event type %q", ev.Type)
}

func deltaPayloads(index int, d llm.Delta) []typedPayload {
	var parts []ContentBlockDelta
	if d.Text != "" {
		parts = append(parts, ContentBlockDelta{Text: &d.Text})
	}
	if d.ToolInput != "" {
		parts = append(parts, ContentBlockDelta{ToolUse: &ToolUseDelta{Input: d.ToolInput}})
	}
	if d.Reasoning != "" {
		parts = append(parts, ContentBlockDelta{ReasoningContent: &ReasoningDelta{Text: &d.Reasoning}})
	}
	if d.Signature != "" {
		parts = append(parts, ContentBlockDelta{ReasoningContent: &ReasoningDelta{Signature: &d.Signature}})
	}
	if len(parts) == 0 {
		parts = append(parts, ContentBlockDelta{Text: &d.Text})
	}
	out := make([]typedPayload, len(parts))
	for i, p := range parts {
		out[i] = typedPayload{"contentBlockDelta", ContentBlockDeltaEvent{ContentBlockIndex: index, Delta: p}}
	}
	return out
}

// WriteError writes err as an exception frame: :exception-type from err's
// kind (see StreamExceptionType) and the payload {"message": ...}. It is
// the last frame of a stream.
func (ew *EventWriter) WriteError(err error) error {
	return ew.WriteException(StreamExceptionType(llm.KindOf(err)), errorMessage(err))
}

// WriteException writes an exception frame of the given :exception-type
// (e.g. "throttlingException") with the payload {"message": message}.
func (ew *EventWriter) WriteException(exceptionType, message string) error {
	payload, err := json.Marshal(ErrorBody{Message: message})
	if err != nil {
		return err
	}
	var msg eventstream.Message
	msg.Headers.Set(hdrExceptionType, eventstream.StringValue(exceptionType))
	msg.Headers.Set(hdrContentType, eventstream.StringValue(jsonContentType))
	msg.Headers.Set(hdrMessageType, eventstream.StringValue(msgException))
	msg.Payload = payload
	return ew.writeFrame(msg)
}

// WriteChunk writes one InvokeModelWithResponseStream chunk frame: the
// model's own event bytes, base64-encoded in {"bytes": ...}, as Bedrock
// sends them.
func (ew *EventWriter) WriteChunk(native []byte) error {
	return ew.writeEvent("chunk", struct {
		Bytes []byte `json:"bytes"`
	}{native})
}

func (ew *EventWriter) writeEvent(eventType string, payload any) error {
	p, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	var msg eventstream.Message
	msg.Headers.Set(hdrEventType, eventstream.StringValue(eventType))
	msg.Headers.Set(hdrContentType, eventstream.StringValue(jsonContentType))
	msg.Headers.Set(hdrMessageType, eventstream.StringValue(msgEvent))
	msg.Payload = p
	return ew.writeFrame(msg)
}

// writeFrame encodes msg into a buffer first so that a frame reaches the
// writer in one Write, then flushes.
func (ew *EventWriter) writeFrame(msg eventstream.Message) error {
	ew.buf.Reset()
	if err := ew.enc.Encode(&ew.buf, msg); err != nil {
		return err
	}
	if _, err := ew.w.Write(ew.buf.Bytes()); err != nil {
		return err
	}
	if ew.ManualFlush {
		return nil
	}
	return ew.Flush()
}

// EventReader reads ConverseStream frames back into llm.Events. It is an
// llm.Stream: Recv returns io.EOF after the last frame, and an *llm.Error
// for an exception or error frame (Kind from the exception type, Upstream
// the exception type as Bedrock spells the error, e.g.
// "ThrottlingException"). Errors are sticky. Close closes the underlying
// reader if it is an io.Closer.
type EventReader struct {
	r       io.Reader
	dec     *eventstream.Decoder
	pending []llm.Event
	err     error
}

// NewEventReader returns an EventReader reading frames from r.
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{r: r, dec: eventstream.NewDecoder()}
}

// Recv returns the next event.
func (er *EventReader) Recv() (llm.Event, error) {
	if er.err != nil {
		return llm.Event{}, er.err
	}
	ev, err := er.recv()
	if err != nil {
		er.err = err
	}
	return ev, err
}

// Close closes the underlying reader if it is an io.Closer.
func (er *EventReader) Close() error {
	if er.err == nil {
		er.err = io.EOF
	}
	if c, ok := er.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (er *EventReader) recv() (llm.Event, error) {
	msg, err := er.dec.Decode(er.r, nil)
	if errors.Is(err, io.EOF) {
		return llm.Event{}, io.EOF
	}
	if err != nil {
		return llm.Event{}, &llm.Error{Kind: llm.KindUnavailable, Message: "converse stream: read frame: " + err.Error(), Err: err}
	}
	switch mt := headerString(msg.Headers, hdrMessageType); mt {
	case msgEvent:
		return decodeEvent(headerString(msg.Headers, hdrEventType), msg.Payload)
	case msgException:
		typ := headerString(msg.Headers, hdrExceptionType)
		var body ErrorBody
		_ = json.Unmarshal(msg.Payload, &body)
		kind, ok := KindOfType(typ)
		if !ok {
			kind = llm.KindInternal
		}
		return llm.Event{}, &llm.Error{Kind: kind, Message: body.Message, Upstream: canonicalType(typ)}
	case msgError:
		code := headerString(msg.Headers, hdrErrorCode)
		kind, ok := KindOfType(code)
		if !ok {
			kind = llm.KindInternal
		}
		return llm.Event{}, &llm.Error{Kind: kind, Message: headerString(msg.Headers, hdrErrorMessage), Upstream: code}
	default:
		return llm.Event{}, &llm.Error{Kind: llm.KindInternal, Message: fmt.Sprintf("converse stream: unknown message type %q", mt)}
	}
}

func headerString(h eventstream.Headers, name string) string {
	v := h.Get(name)
	if v == nil {
		return ""
	}
	return v.String()
}

// decodeEvent turns one event frame's payload into an llm.Event.
func decodeEvent(eventType string, payload []byte) (llm.Event, error) {
	bad := func(err error) (llm.Event, error) {
		return llm.Event{}, &llm.Error{Kind: llm.KindInternal, Message: fmt.Sprintf("converse stream: %s: %v", eventType, err), Err: err}
	}
	switch eventType {
	case "messageStart":
		var e MessageStartEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			return bad(err)
		}
		return llm.Event{Type: llm.EventMessageStart, Role: llm.Role(e.Role)}, nil
	case "contentBlockStart":
		var e ContentBlockStartEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			return bad(err)
		}
		ev := llm.Event{Type: llm.EventBlockStart, Index: e.ContentBlockIndex}
		if t := e.Start.ToolUse; t != nil {
			ev.ToolUse = &llm.ToolUse{ID: t.ToolUseID, Name: t.Name}
		}
		return ev, nil
	case "contentBlockDelta":
		var e struct {
			ContentBlockIndex int `json:"contentBlockIndex"`
			Delta             struct {
				ContentBlockDelta
				ReasoningContent *struct {
					ReasoningDelta
					RedactedContent json.RawMessage `json:"redactedContent"`
				} `json:"reasoningContent"`
			} `json:"delta"`
		}
		if err := json.Unmarshal(payload, &e); err != nil {
			return bad(err)
		}
		ev := llm.Event{Type: llm.EventBlockDelta, Index: e.ContentBlockIndex}
		d := e.Delta
		switch {
		case d.Text != nil:
			ev.Delta.Text = *d.Text
		case d.ToolUse != nil:
			ev.Delta.ToolInput = d.ToolUse.Input
		case d.ReasoningContent != nil:
			rc := d.ReasoningContent
			if rc.Text != nil {
				ev.Delta.Reasoning = *rc.Text
			}
			if rc.Signature != nil {
				ev.Delta.Signature = *rc.Signature
			}
			if len(rc.RedactedContent) > 0 {
				return llm.Event{}, unsupported("contentBlockDelta.delta.reasoningContent.redactedContent", "redacted reasoning")
			}
		default:
			return bad(errors.New("delta has no text, toolUse or reasoningContent"))
		}
		return ev, nil
	case "contentBlockStop":
		var e ContentBlockStopEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			return bad(err)
		}
		return llm.Event{Type: llm.EventBlockStop, Index: e.ContentBlockIndex}, nil
	case "messageStop":
		var e MessageStopEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			return bad(err)
		}
		return llm.Event{Type: llm.EventMessageStop, StopReason: llm.StopReason(e.StopReason)}, nil
	case "metadata":
		var e MetadataEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			return bad(err)
		}
		u := usageFromWire(e.Usage)
		ev := llm.Event{Type: llm.EventMetadata, Usage: &u, Latency: time.Duration(e.Metrics.LatencyMs) * time.Millisecond,
			ServiceTier: serviceTierFromWire(e.ServiceTier)}
		if e.Trace != nil && e.Trace.PromptRouter != nil {
			ev.InvokedModel = e.Trace.PromptRouter.InvokedModelID
		}
		return ev, nil
	}
	return llm.Event{}, &llm.Error{Kind: llm.KindInternal, Message: fmt.Sprintf("converse stream: unknown event type %q", eventType)}
}
