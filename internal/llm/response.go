package llm

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// StopReason is why the model stopped, in Converse's vocabulary.
type StopReason string

const (
	StopEndTurn        StopReason = "end_turn"
	StopToolUse        StopReason = "tool_use"
	StopMaxTokens      StopReason = "max_tokens"
	StopSequence       StopReason = "stop_sequence"
	StopGuardrail      StopReason = "guardrail_intervened"
	StopContentFilter  StopReason = "content_filtered"
	StopContextWindow  StopReason = "model_context_window_exceeded"
	StopMalformedModel StopReason = "malformed_model_output"
	StopMalformedTool  StopReason = "malformed_tool_use"
)

// Usage counts tokens the way Bedrock bills them: InputTokens excludes the
// tokens read from or written to the prompt cache.
type Usage struct {
	InputTokens     int
	OutputTokens    int
	CacheReadTokens int
	// CacheWriteTokens counts every token written to the prompt cache;
	// CacheWrite1hTokens is the part of them written with the 1-hour TTL
	// (the rest used the default five minutes), which is priced higher.
	CacheWriteTokens   int
	CacheWrite1hTokens int
}

// TotalInput is every prompt token: uncached, cache read and cache write.
func (u Usage) TotalInput() int { return u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens }

// Total is TotalInput plus output tokens.
func (u Usage) Total() int { return u.TotalInput() + u.OutputTokens }

// Add returns u + v.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:        u.InputTokens + v.InputTokens,
		OutputTokens:       u.OutputTokens + v.OutputTokens,
		CacheReadTokens:    u.CacheReadTokens + v.CacheReadTokens,
		CacheWriteTokens:   u.CacheWriteTokens + v.CacheWriteTokens,
		CacheWrite1hTokens: u.CacheWrite1hTokens + v.CacheWrite1hTokens,
	}
}

// Response is a complete (non-streamed) answer.
type Response struct {
	Message    Message
	StopReason StopReason
	Usage      Usage
	// Latency is the upstream's own latency (Converse metrics.latencyMs).
	Latency time.Duration
	// InvokedModel is the model a Bedrock prompt router chose, if any.
	InvokedModel string
	// ServiceTier is the tier the upstream says it served ("" when it
	// did not say, which means the default tier).
	ServiceTier ServiceTier
	// Embeddings answers an embeddings request: one vector per input text.
	Embeddings [][]float32
	// Native is the model's own answer to a passed-through native body.
	Native *NativeBody
	// Cost and BaselineCost are set by the account stage.
	Cost         Money
	BaselineCost Money
}

// Text joins the text blocks of the answer.
func (r *Response) Text() string {
	var b strings.Builder
	for _, c := range r.Message.Content {
		if c.Type == BlockText {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// EventType names a streaming event, after ConverseStream's events.
type EventType string

const (
	EventMessageStart EventType = "messageStart"
	EventBlockStart   EventType = "contentBlockStart"
	EventBlockDelta   EventType = "contentBlockDelta"
	EventBlockStop    EventType = "contentBlockStop"
	EventMessageStop  EventType = "messageStop"
	EventMetadata     EventType = "metadata"
	// EventNative is a chunk of a passed-through native stream.
	EventNative EventType = "native"
)

// Event is one streaming event. Which fields are set depends on Type.
type Event struct {
	Type EventType
	// Role is set on EventMessageStart.
	Role Role
	// Index is the content block index on block events.
	Index int
	// ToolUse carries the ID and Name of a tool-use block on EventBlockStart
	// (Input is empty: it arrives in deltas).
	ToolUse *ToolUse
	// Delta is set on EventBlockDelta.
	Delta Delta
	// Native is one chunk of a passed-through native stream, sent to the
	// client as it came (Type is EventNative).
	Native []byte
	// StopReason is set on EventMessageStop.
	StopReason StopReason
	// Usage, Latency, InvokedModel and ServiceTier are set on EventMetadata.
	Usage        *Usage
	Latency      time.Duration
	InvokedModel string
	ServiceTier  ServiceTier
	// Cost and BaselineCost are set on EventMetadata by the account stage.
	Cost         Money
	BaselineCost Money
}

// Delta is an increment of a content block.
type Delta struct {
	Text string
	// ToolInput is a fragment of a tool use's JSON input.
	ToolInput string
	// Reasoning and Signature are reasoning-content increments.
	Reasoning string
	Signature string
}

// Stream is a streamed answer. Recv returns io.EOF after the last event.
// Close releases the stream; it is safe to call more than once and after
// io.EOF. A Stream is used by one goroutine.
type Stream interface {
	Recv() (Event, error)
	Close() error
}

// Invoker is anything that answers a Request: a provider or a stage.
// Both methods may rewrite req.Model and req.Meta to say where the request
// went (routing, fallback, cache); they never keep req after returning,
// except that a Stream may read it until it is closed.
type Invoker interface {
	Invoke(ctx context.Context, req *Request) (*Response, error)
	Stream(ctx context.Context, req *Request) (Stream, error)
}

// Stage wraps an Invoker, like net/http middleware wraps a Handler.
type Stage func(next Invoker) Invoker

// Chain applies stages to inv so that stages[0] is outermost: a request
// passes the stages in order before reaching inv.
func Chain(inv Invoker, stages ...Stage) Invoker {
	for i := len(stages) - 1; i >= 0; i-- {
		inv = stages[i](inv)
	}
	return inv
}

// Collect reads a stream to its end, closes it and assembles the Response.
func Collect(s Stream) (*Response, error) {
	defer s.Close()
	resp := &Response{Message: Message{Role: RoleAssistant}}
	blocks := map[int]*Block{}
	var order []int
	toolInput := map[int]*strings.Builder{}
	get := func(i int, t BlockType) *Block {
		b, ok := blocks[i]
		if !ok {
			b = &Block{Type: t}
			blocks[i] = b
			order = append(order, i)
		}
		return b
	}
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch ev.Type {
		case EventMessageStart:
			if ev.Role != "" {
				resp.Message.Role = ev.Role
			}
		case EventBlockStart:
			if ev.ToolUse != nil {
				b := get(ev.Index, BlockToolUse)
				b.ToolUse = &ToolUse{ID: ev.ToolUse.ID, Name: ev.ToolUse.Name}
				toolInput[ev.Index] = &strings.Builder{}
			}
		case EventBlockDelta:
			switch {
			case ev.Delta.ToolInput != "":
				b := get(ev.Index, BlockToolUse)
				if b.ToolUse == nil {
					b.ToolUse = &ToolUse{}
				}
				if toolInput[ev.Index] == nil {
					toolInput[ev.Index] = &strings.Builder{}
				}
				toolInput[ev.Index].WriteString(ev.Delta.ToolInput)
			case ev.Delta.Reasoning != "" || ev.Delta.Signature != "":
				b := get(ev.Index, BlockReasoning)
				b.Text += ev.Delta.Reasoning
				b.Signature += ev.Delta.Signature
			default:
				b := get(ev.Index, BlockText)
				b.Text += ev.Delta.Text
			}
		case EventMessageStop:
			resp.StopReason = ev.StopReason
		case EventMetadata:
			if ev.Usage != nil {
				resp.Usage = *ev.Usage
			}
			resp.Latency = ev.Latency
			resp.InvokedModel = ev.InvokedModel
			resp.ServiceTier = ev.ServiceTier
			resp.Cost = ev.Cost
			resp.BaselineCost = ev.BaselineCost
		}
	}
	for _, i := range order {
		b := blocks[i]
		if sb := toolInput[i]; sb != nil && b.ToolUse != nil {
			in := sb.String()
			if in == "" {
				in = "{}"
			}
			b.ToolUse.Input = []byte(in)
		}
		resp.Message.Content = append(resp.Message.Content, *b)
	}
	return resp, nil
}

// SliceStream is a Stream over a fixed list of events, for tests and for
// replaying a stored answer. Err, if set, is returned after the events.
type SliceStream struct {
	Events []Event
	Err    error
	i      int
}

// Recv returns the next event, then Err or io.EOF.
func (s *SliceStream) Recv() (Event, error) {
	if s.i < len(s.Events) {
		s.i++
		return s.Events[s.i-1], nil
	}
	if s.Err != nil {
		return Event{}, s.Err
	}
	return Event{}, io.EOF
}

// Close does nothing.
func (s *SliceStream) Close() error { return nil }

// EventsOf turns a complete Response into the event sequence a
// ConverseStream would have produced for it.
func EventsOf(r *Response) []Event {
	evs := []Event{{Type: EventMessageStart, Role: RoleAssistant}}
	for i, b := range r.Message.Content {
		switch b.Type {
		case BlockText:
			evs = append(evs, Event{Type: EventBlockDelta, Index: i, Delta: Delta{Text: b.Text}})
		case BlockToolUse:
			evs = append(evs, Event{Type: EventBlockStart, Index: i, ToolUse: &ToolUse{ID: b.ToolUse.ID, Name: b.ToolUse.Name}})
			evs = append(evs, Event{Type: EventBlockDelta, Index: i, Delta: Delta{ToolInput: string(b.ToolUse.Input)}})
		case BlockReasoning:
			evs = append(evs, Event{Type: EventBlockDelta, Index: i, Delta: Delta{Reasoning: b.Text, Signature: b.Signature}})
		default:
			continue
		}
		evs = append(evs, Event{Type: EventBlockStop, Index: i})
	}
	u := r.Usage
	evs = append(evs,
		Event{Type: EventMessageStop, StopReason: r.StopReason},
		Event{Type: EventMetadata, Usage: &u, Latency: r.Latency, InvokedModel: r.InvokedModel, ServiceTier: r.ServiceTier,
			Cost: r.Cost, BaselineCost: r.BaselineCost},
	)
	return evs
}
