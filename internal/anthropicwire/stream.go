package anthropicwire

import (
	"encoding/json"

	"github.com/penny-gateway/penny/internal/llm"
)

// Event is one event of an Anthropic stream: its type (the SSE event name,
// and the "type" member of Data) and its JSON.
type Event struct {
	Type string
	Data []byte
}

// StreamEncoder turns a Converse-shaped llm stream into Anthropic's event
// sequence: message_start; per block content_block_start, deltas
// (text_delta, input_json_delta, thinking_delta, signature_delta) and
// content_block_stop; then message_delta with the stop reason and the
// final usage, and message_stop. Converse reports usage only at the end,
// so message_start carries InputTokens (the caller's estimate) and
// message_delta the whole usage, which the SDKs take as final. A
// StreamEncoder is used by one goroutine.
type StreamEncoder struct {
	ID, Model string
	// Stops are the request's stop_sequences (see EncodeResponse).
	Stops []string
	// InputTokens is the input count message_start reports.
	InputTokens int

	started bool
	index   map[int]int // llm block index → Anthropic block index
	open    []int       // llm indexes of open blocks, in start order
	stop    llm.StopReason
	done    bool
}

type messageStart struct {
	Type    string       `json:"type"`
	Message startMessage `json:"message"`
}

type startMessage struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []ContentBlock `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        Usage          `json:"usage"`
}

type blockStart struct {
	Type         string       `json:"type"`
	Index        int          `json:"index"`
	ContentBlock ContentBlock `json:"content_block"`
}

type blockDelta struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
	Delta delta  `json:"delta"`
}

type delta struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	Signature   *string `json:"signature,omitempty"`
}

type blockStop struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type messageDelta struct {
	Type  string    `json:"type"`
	Delta stopDelta `json:"delta"`
	Usage Usage     `json:"usage"`
}

type stopDelta struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

func event(typ string, v any) Event {
	b, _ := json.Marshal(v)
	return Event{Type: typ, Data: b}
}

// Encode returns the Anthropic events for ev, in order (none for events
// with no Anthropic form). A passed-through native chunk is not an llm
// event it can encode, and yields nothing.
func (e *StreamEncoder) Encode(ev llm.Event) []Event {
	if e.done {
		return nil
	}
	var out []Event
	if !e.started {
		e.started = true
		e.index = map[int]int{}
		out = append(out, event("message_start", messageStart{Type: "message_start", Message: startMessage{
			ID: e.ID, Type: "message", Role: "assistant", Model: e.Model, Content: []ContentBlock{},
			Usage: Usage{InputTokens: e.InputTokens},
		}}))
	}
	switch ev.Type {
	case llm.EventBlockStart:
		if ev.ToolUse != nil {
			out = e.startBlock(out, ev.Index, ContentBlock{Type: "tool_use", ID: ev.ToolUse.ID, Name: ev.ToolUse.Name, Input: json.RawMessage("{}")})
		}
	case llm.EventBlockDelta:
		out = e.delta(out, ev.Index, ev.Delta)
	case llm.EventBlockStop:
		out = e.stopBlock(out, ev.Index)
	case llm.EventMessageStop:
		out = e.stopAll(out)
		e.stop = ev.StopReason
	case llm.EventMetadata:
		var u llm.Usage
		if ev.Usage != nil {
			u = *ev.Usage
		}
		out = e.finish(out, u, ev.ServiceTier)
	}
	return out
}

// Finish closes a stream that ended without its final metadata (Bedrock's
// last event): message_delta with the stop reason and no usage, and
// message_stop. It returns nothing once the stream was closed.
func (e *StreamEncoder) Finish() []Event {
	if e.done || !e.started {
		return nil
	}
	return e.finish(nil, llm.Usage{}, "")
}

func (e *StreamEncoder) finish(out []Event, u llm.Usage, tier llm.ServiceTier) []Event {
	out = e.stopAll(out)
	e.done = true
	out = append(out, event("message_delta", messageDelta{Type: "message_delta",
		Delta: stopDelta{StopReason: StopReason(e.stop), StopSequence: stopSequence(e.stop, e.Stops)},
		Usage: EncodeUsage(u, tier)}))
	return append(out, Event{Type: "message_stop", Data: []byte(`{"type":"message_stop"}`)})
}

func (e *StreamEncoder) startBlock(out []Event, i int, cb ContentBlock) []Event {
	if _, ok := e.index[i]; ok {
		return out
	}
	n := len(e.index)
	e.index[i] = n
	e.open = append(e.open, i)
	return append(out, event("content_block_start", blockStart{Type: "content_block_start", Index: n, ContentBlock: cb}))
}

func (e *StreamEncoder) delta(out []Event, i int, d llm.Delta) []Event {
	if _, ok := e.index[i]; !ok {
		// Converse starts text and reasoning blocks with their first delta.
		empty := ""
		switch {
		case d.Reasoning != "" || d.Signature != "":
			out = e.startBlock(out, i, ContentBlock{Type: "thinking", Thinking: &empty, Signature: &empty})
		case d.ToolInput != "":
			out = e.startBlock(out, i, ContentBlock{Type: "tool_use", Input: json.RawMessage("{}")})
		default:
			out = e.startBlock(out, i, ContentBlock{Type: "text", Text: &empty})
		}
	}
	n := e.index[i]
	add := func(dl delta) {
		out = append(out, event("content_block_delta", blockDelta{Type: "content_block_delta", Index: n, Delta: dl}))
	}
	if d.Text != "" {
		add(delta{Type: "text_delta", Text: &d.Text})
	}
	if d.ToolInput != "" {
		add(delta{Type: "input_json_delta", PartialJSON: &d.ToolInput})
	}
	if d.Reasoning != "" {
		add(delta{Type: "thinking_delta", Thinking: &d.Reasoning})
	}
	if d.Signature != "" {
		add(delta{Type: "signature_delta", Signature: &d.Signature})
	}
	return out
}

func (e *StreamEncoder) stopBlock(out []Event, i int) []Event {
	for k, j := range e.open {
		if j == i {
			e.open = append(e.open[:k], e.open[k+1:]...)
			return append(out, event("content_block_stop", blockStop{Type: "content_block_stop", Index: e.index[i]}))
		}
	}
	return out
}

func (e *StreamEncoder) stopAll(out []Event) []Event {
	for len(e.open) > 0 {
		out = e.stopBlock(out, e.open[0])
	}
	return out
}

// ErrorEvent is the error event of a stream that failed after it started.
func ErrorEvent(err error) Event {
	_, body := ErrorFor(err)
	return event("error", body)
}
