package cache

import (
	"context"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/penny-gateway/penny/internal/llm"
)

// chunkBytes is about how much text one replayed delta carries: a few
// tokens, as Bedrock streams them.
const chunkBytes = 24

// replayEvents turns a stored answer into the events ConverseStream would
// have sent for it: messageStart; per block its deltas (text and tool input
// split into several chunks; tool use opened by contentBlockStart) and
// contentBlockStop; messageStop; metadata with the original usage.
// llm.Collect of the events gives back resp.
func replayEvents(resp *llm.Response) []llm.Event {
	role := resp.Message.Role
	if role == "" {
		role = llm.RoleAssistant
	}
	evs := []llm.Event{{Type: llm.EventMessageStart, Role: role}}
	for i, b := range resp.Message.Content {
		switch b.Type {
		case llm.BlockText:
			for _, c := range chunks(b.Text) {
				evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{Text: c}})
			}
		case llm.BlockToolUse:
			if b.ToolUse == nil {
				continue
			}
			evs = append(evs, llm.Event{Type: llm.EventBlockStart, Index: i, ToolUse: &llm.ToolUse{ID: b.ToolUse.ID, Name: b.ToolUse.Name}})
			for _, c := range chunks(string(b.ToolUse.Input)) {
				if c != "" {
					evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{ToolInput: c}})
				}
			}
		case llm.BlockReasoning:
			if b.Text == "" && b.Signature == "" {
				continue // a delta with neither would read back as text
			}
			for _, c := range chunks(b.Text) {
				if c != "" {
					evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{Reasoning: c}})
				}
			}
			if b.Signature != "" {
				evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{Signature: b.Signature}})
			}
		default:
			continue // models do not answer with other block kinds
		}
		evs = append(evs, llm.Event{Type: llm.EventBlockStop, Index: i})
	}
	u := resp.Usage
	return append(evs,
		llm.Event{Type: llm.EventMessageStop, StopReason: resp.StopReason},
		llm.Event{Type: llm.EventMetadata, Usage: &u, Latency: resp.Latency, InvokedModel: resp.InvokedModel},
	)
}

// chunks splits s into pieces of about chunkBytes, on UTF-8 boundaries and
// preferably after a space. It returns one empty piece for an empty s.
func chunks(s string) []string {
	if len(s) <= chunkBytes {
		return []string{s}
	}
	out := make([]string, 0, len(s)/chunkBytes+1)
	for len(s) > chunkBytes {
		n := chunkBytes
		// Prefer to end just after a space within the last half of the chunk.
		for j := n; j > chunkBytes/2; j-- {
			if s[j-1] == ' ' {
				n = j
				break
			}
		}
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n++
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// recorder passes a streamed miss through event by event while keeping a
// copy, and stores the answer when the stream ends cleanly (io.EOF). An
// error, an early Close or an answer over the size limit stores nothing.
type recorder struct {
	llm.Stream
	st   *stage
	ctx  context.Context
	req  *llm.Request
	plan plan

	events []llm.Event
	size   int
	// drop is set once the answer can no longer be stored.
	drop bool
}

// eventOverhead approximates an event's share of a stored entry beyond
// its text, to stop recording early for answers far over the limit.
const eventOverhead = 16

func (r *recorder) Recv() (llm.Event, error) {
	ev, err := r.Stream.Recv()
	switch {
	case err == nil:
		if !r.drop {
			r.size += eventOverhead + len(ev.Delta.Text) + len(ev.Delta.ToolInput) + len(ev.Delta.Reasoning) + len(ev.Delta.Signature)
			if r.size > r.plan.policy.MaxEntryBytes {
				r.drop, r.events = true, nil
			} else {
				r.events = append(r.events, ev)
			}
		}
	case errors.Is(err, io.EOF):
		if !r.drop {
			r.drop = true
			r.finish()
		}
	default:
		r.drop, r.events = true, nil
	}
	return ev, err
}

func (r *recorder) Close() error {
	r.drop, r.events = true, nil
	return r.Stream.Close()
}

func (r *recorder) finish() {
	resp, err := llm.Collect(&llm.SliceStream{Events: r.events})
	r.events = nil
	if err != nil {
		return
	}
	r.st.store(r.ctx, r.plan, r.req.Model, resp)
}
