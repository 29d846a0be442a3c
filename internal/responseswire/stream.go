package responseswire

import (
	"sort"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// Event is one server-sent event of a streamed response: its type (the
// SSE event name) and its data, which carries the type again and the
// event's sequence number.
type Event struct {
	Type string
	Data any
}

type lifecycleEvent struct {
	Type     string    `json:"type"`
	Seq      int       `json:"sequence_number"`
	Response *Response `json:"response"`
}

type itemEvent struct {
	Type        string `json:"type"`
	Seq         int    `json:"sequence_number"`
	OutputIndex int    `json:"output_index"`
	Item        Item   `json:"item"`
}

type partEvent struct {
	Type         string `json:"type"`
	Seq          int    `json:"sequence_number"`
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	ContentIndex int    `json:"content_index"`
	Part         Part   `json:"part"`
}

// textEvent is output_text.delta and .done (with logprobs) and
// reasoning_text.delta and .done (without).
type textEvent struct {
	Type         string      `json:"type"`
	Seq          int         `json:"sequence_number"`
	ItemID       string      `json:"item_id"`
	OutputIndex  int         `json:"output_index"`
	ContentIndex int         `json:"content_index"`
	Delta        *string     `json:"delta,omitempty"`
	Text         *string     `json:"text,omitempty"`
	Logprobs     *[]struct{} `json:"logprobs,omitempty"`
}

type argsEvent struct {
	Type        string  `json:"type"`
	Seq         int     `json:"sequence_number"`
	ItemID      string  `json:"item_id"`
	OutputIndex int     `json:"output_index"`
	Delta       *string `json:"delta,omitempty"`
	Name        string  `json:"name,omitempty"`
	Arguments   *string `json:"arguments,omitempty"`
}

// errorEvent carries the error both as OpenAI documents the event (code,
// message and param at the top) and as its API sends it (an error
// object), which is what the official SDKs' stream readers look for to end
// the stream with an error.
type errorEvent struct {
	Type    string      `json:"type"`
	Seq     int         `json:"sequence_number"`
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Param   *string     `json:"param"`
	Error   errorDetail `json:"error"`
}

type errorDetail struct {
	Type    string  `json:"type"`
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}

// block is an open content block of the answer, by Converse block index.
type block struct {
	kind   llm.BlockType
	out    int // output index of its item
	part   int // content index in its item (text)
	text   strings.Builder
	signed strings.Builder // reasoning signature
}

// StreamEncoder turns a stream's events into the Responses API's typed
// events, in OpenAI's order: response.created and response.in_progress;
// per output item output_item.added, its content parts (content_part.added,
// output_text.delta…, output_text.done, content_part.done) or its
// function_call_arguments.delta… and .done, then output_item.done; and at
// the end response.completed or response.incomplete with the whole
// response and its usage (Done), or an error event and response.failed
// (Fail). Every event has the next sequence number. Use one per stream,
// from one goroutine.
type StreamEncoder struct {
	// Response is the response being built; Start made it. Its Model may
	// be updated before Done.
	Response *Response
	base     string
	seq      int
	started  bool
	msg      int // output index of the open message, or -1
	blocks   map[int]*block
	stop     llm.StopReason
	usage    llm.Usage
	tier     llm.ServiceTier
}

// NewStreamEncoder streams r, whose output item ids are made from base
// (the response id without its prefix).
func NewStreamEncoder(r *Response, base string) *StreamEncoder {
	return &StreamEncoder{Response: r, base: base, msg: -1, blocks: map[int]*block{}}
}

func (e *StreamEncoder) next() int { e.seq++; return e.seq - 1 }

func (e *StreamEncoder) lifecycle(typ string) Event {
	// A copy: the events written so far must not change as the response
	// is built.
	r := *e.Response
	r.Output = append(make([]Item, 0, len(r.Output)), r.Output...)
	return Event{typ, lifecycleEvent{typ, e.next(), &r}}
}

func (e *StreamEncoder) item(typ string, out int) Event {
	return Event{typ, itemEvent{typ, e.next(), out, e.Response.Output[out]}}
}

// Encode returns the events to send for ev, possibly none.
func (e *StreamEncoder) Encode(ev llm.Event) []Event {
	var evs []Event
	if !e.started {
		e.started = true
		evs = append(evs, e.lifecycle("response.created"), e.lifecycle("response.in_progress"))
	}
	switch ev.Type {
	case llm.EventBlockStart:
		if ev.ToolUse != nil {
			evs = e.openCall(evs, ev.Index, ev.ToolUse.ID, ev.ToolUse.Name)
		}
	case llm.EventBlockDelta:
		evs = e.delta(evs, ev)
	case llm.EventBlockStop:
		evs = e.closeBlock(evs, ev.Index)
	case llm.EventMessageStop:
		e.stop = ev.StopReason
		evs = e.closeAll(evs)
	case llm.EventMetadata:
		if ev.Usage != nil {
			e.usage = *ev.Usage
		}
		e.tier = ev.ServiceTier
	}
	return evs
}

func (e *StreamEncoder) delta(evs []Event, ev llm.Event) []Event {
	d := ev.Delta
	b := e.blocks[ev.Index]
	switch {
	case d.ToolInput != "":
		if b == nil {
			evs = e.openCall(evs, ev.Index, "", "")
			b = e.blocks[ev.Index]
		}
		b.text.WriteString(d.ToolInput)
		s := d.ToolInput
		return append(evs, Event{"response.function_call_arguments.delta", argsEvent{Type: "response.function_call_arguments.delta",
			Seq: e.next(), ItemID: e.Response.Output[b.out].ID, OutputIndex: b.out, Delta: &s}})
	case d.Reasoning != "" || d.Signature != "":
		if b == nil {
			evs = e.closeMessage(evs)
			b = &block{kind: llm.BlockReasoning, out: len(e.Response.Output)}
			e.blocks[ev.Index] = b
			e.Response.Output = append(e.Response.Output, Item{Type: TypeReasoning, ID: OutputID(TypeReasoning, e.base, b.out), Status: "in_progress"})
			evs = append(evs, e.item("response.output_item.added", b.out), e.part("response.content_part.added", b, Part{Type: "reasoning_text"}))
		}
		b.signed.WriteString(d.Signature)
		if d.Reasoning == "" {
			return evs
		}
		b.text.WriteString(d.Reasoning)
		s := d.Reasoning
		return append(evs, Event{"response.reasoning_text.delta", textEvent{Type: "response.reasoning_text.delta", Seq: e.next(),
			ItemID: e.Response.Output[b.out].ID, OutputIndex: b.out, Delta: &s}})
	case d.Text != "":
		if b == nil {
			if e.msg < 0 {
				e.msg = len(e.Response.Output)
				e.Response.Output = append(e.Response.Output, Item{Type: TypeMessage, ID: OutputID(TypeMessage, e.base, e.msg),
					Role: "assistant", Status: "in_progress"})
				evs = append(evs, e.item("response.output_item.added", e.msg))
			}
			m := &e.Response.Output[e.msg]
			b = &block{kind: llm.BlockText, out: e.msg, part: len(m.Content)}
			e.blocks[ev.Index] = b
			m.Content = append(m.Content, Part{Type: "output_text"})
			evs = append(evs, e.part("response.content_part.added", b, Part{Type: "output_text"}))
		}
		b.text.WriteString(d.Text)
		s := d.Text
		return append(evs, Event{"response.output_text.delta", textEvent{Type: "response.output_text.delta", Seq: e.next(),
			ItemID: e.Response.Output[b.out].ID, OutputIndex: b.out, ContentIndex: b.part, Delta: &s, Logprobs: &[]struct{}{}}})
	}
	return evs
}

func (e *StreamEncoder) part(typ string, b *block, p Part) Event {
	return Event{typ, partEvent{typ, e.next(), e.Response.Output[b.out].ID, b.out, b.part, p}}
}

// openCall starts a function call item; it closes the open message, as
// a message's text and a call are separate items.
func (e *StreamEncoder) openCall(evs []Event, index int, id, name string) []Event {
	evs = e.closeMessage(evs)
	b := &block{kind: llm.BlockToolUse, out: len(e.Response.Output)}
	e.blocks[index] = b
	e.Response.Output = append(e.Response.Output, Item{Type: TypeFunctionCall, ID: OutputID(TypeFunctionCall, e.base, b.out),
		Status: "in_progress", CallID: id, Name: name})
	return append(evs, e.item("response.output_item.added", b.out))
}

// closeBlock ends the block at index: its done events, and the item's
// own output_item.done for a call or reasoning.
func (e *StreamEncoder) closeBlock(evs []Event, index int) []Event {
	b := e.blocks[index]
	if b == nil {
		return evs
	}
	delete(e.blocks, index)
	it := &e.Response.Output[b.out]
	text := b.text.String()
	switch b.kind {
	case llm.BlockText:
		it.Content[b.part].Text = text
		evs = append(evs, Event{"response.output_text.done", textEvent{Type: "response.output_text.done", Seq: e.next(),
			ItemID: it.ID, OutputIndex: b.out, ContentIndex: b.part, Text: &text, Logprobs: &[]struct{}{}}})
		return append(evs, e.part("response.content_part.done", b, it.Content[b.part]))
	case llm.BlockToolUse:
		if text == "" {
			text = "{}"
		}
		it.Arguments, it.Status = text, "completed"
		evs = append(evs, Event{"response.function_call_arguments.done", argsEvent{Type: "response.function_call_arguments.done",
			Seq: e.next(), ItemID: it.ID, OutputIndex: b.out, Name: it.Name, Arguments: &text}})
		return append(evs, e.item("response.output_item.done", b.out))
	default:
		done := reasoningItem(it.ID, text, b.signed.String())
		*it = done
		evs = append(evs, Event{"response.reasoning_text.done", textEvent{Type: "response.reasoning_text.done", Seq: e.next(),
			ItemID: it.ID, OutputIndex: b.out, Text: &text}})
		evs = append(evs, e.part("response.content_part.done", b, Part{Type: "reasoning_text", Text: text}))
		return append(evs, e.item("response.output_item.done", b.out))
	}
}

// closeMessage ends the open message item, and its open text parts.
func (e *StreamEncoder) closeMessage(evs []Event) []Event {
	if e.msg < 0 {
		return evs
	}
	for _, i := range e.openIndexes() {
		if b := e.blocks[i]; b.kind == llm.BlockText {
			evs = e.closeBlock(evs, i)
		}
	}
	m := &e.Response.Output[e.msg]
	m.Status = "completed"
	switch e.stop {
	case llm.StopMaxTokens, llm.StopContextWindow, llm.StopContentFilter, llm.StopGuardrail:
		m.Status = "incomplete"
	}
	evs = append(evs, e.item("response.output_item.done", e.msg))
	e.msg = -1
	return evs
}

// closeAll ends every open block, in order, and the open message.
func (e *StreamEncoder) closeAll(evs []Event) []Event {
	for _, i := range e.openIndexes() {
		if b, ok := e.blocks[i]; ok && b.kind != llm.BlockText {
			evs = e.closeBlock(evs, i)
		}
	}
	return e.closeMessage(evs)
}

func (e *StreamEncoder) openIndexes() []int {
	idx := make([]int, 0, len(e.blocks))
	for i := range e.blocks {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

// Done ends a stream that ended cleanly: it returns the finished response
// (to be stored before the last event is sent, so that a client which has
// it can continue from it at once) and the last events, ending with
// response.completed or response.incomplete. now is the Unix time.
func (e *StreamEncoder) Done(now int64) (*Response, []Event) {
	evs := e.closeAll(nil)
	if !e.started {
		e.started = true
		evs = append([]Event{e.lifecycle("response.created"), e.lifecycle("response.in_progress")}, evs...)
	}
	e.Response.Finish(e.stop, e.usage, e.tier, now)
	typ := "response.completed"
	if e.Response.Status == "incomplete" {
		typ = "response.incomplete"
	}
	return e.Response, append(evs, e.lifecycle(typ))
}

// Fail ends a stream that failed after it started: an error event, then
// response.failed with what was produced so far. code and typ are the
// error's OpenAI code and type, param the parameter it names ("" for
// none).
func (e *StreamEncoder) Fail(typ, code, message, param string) []Event {
	var p *string
	if param != "" {
		p = &param
	}
	evs := []Event{{"error", errorEvent{Type: "error", Seq: e.next(), Code: code, Message: message, Param: p,
		Error: errorDetail{Type: typ, Code: code, Message: message, Param: p}}}}
	// What was streamed of the open blocks is part of the failed
	// response, as far as it got.
	for _, b := range e.blocks {
		it := &e.Response.Output[b.out]
		switch b.kind {
		case llm.BlockText:
			it.Content[b.part].Text = b.text.String()
		case llm.BlockToolUse:
			it.Arguments = b.text.String()
		default:
			*it = reasoningItem(it.ID, b.text.String(), b.signed.String())
			it.Status = "incomplete"
		}
	}
	e.Response.Fail(code, message)
	return append(evs, e.lifecycle("response.failed"))
}
