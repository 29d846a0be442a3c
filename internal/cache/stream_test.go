package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/llm"
)

// toolAnswer is an answer with reasoning, text and a tool call, as a
// Claude model on Bedrock gives it.
func toolAnswer(*llm.Request) *llm.Response {
	return &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockReasoning, Text: "The user wants the weather in Paris; I should call the tool.", Signature: "sig-abc123"},
			llm.TextBlock("Let me look up the current weather in Paris for you — one moment, s'il vous plaît. ☀️"),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tooluse_1", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris","units":"metric","days":[1,2,3]}`)}},
		}},
		StopReason:   llm.StopToolUse,
		Usage:        llm.Usage{InputTokens: 310, OutputTokens: 64, CacheReadTokens: 1024, CacheWriteTokens: 0},
		Latency:      1234e6,
		InvokedModel: "",
	}
}

func drain(t *testing.T, s llm.Stream) []llm.Event {
	t.Helper()
	defer s.Close()
	var evs []llm.Event
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		evs = append(evs, ev)
	}
}

func TestStreamMissPassesThroughThenHits(t *testing.T) {
	f := newFixture(t, on)
	f.up.answer = toolAnswer
	// The upstream streams in many small pieces.
	orig := toolAnswer(nil)
	f.up.events = splitEvents(llm.EventsOf(orig))

	req := request("acme", "weather in Paris?")
	req.Meta.Stream = true
	s, err := f.inv.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	if !reflect.DeepEqual(got, f.up.events) {
		t.Fatalf("streamed miss changed the events:\n got %+v\nwant %+v", got, f.up.events)
	}
	if req.Meta.Cache != llm.CacheMiss {
		t.Fatalf("streamed miss: cache %s", req.Meta.Cache)
	}

	// A non-streamed request now hits the streamed answer.
	plain := request("acme", "weather in Paris?")
	resp := f.invoke(t, plain)
	if plain.Meta.Cache != llm.CacheHit || f.up.calls.Load() != 1 {
		t.Fatalf("after a streamed miss: cache %s, %d upstream calls", plain.Meta.Cache, f.up.calls.Load())
	}
	if !reflect.DeepEqual(resp, orig) {
		t.Fatalf("stored streamed answer\n%+v\nwant\n%+v", resp, orig)
	}
}

func TestStreamHitReplaysTheAnswer(t *testing.T) {
	for _, answer := range []func(*llm.Request) *llm.Response{
		toolAnswer,
		func(*llm.Request) *llm.Response {
			return textAnswer(strings.Repeat("A longer answer, in several sentences. ", 20))
		},
		func(*llm.Request) *llm.Response { return textAnswer("") },
	} {
		f := newFixture(t, on)
		f.up.answer = answer
		orig := f.invoke(t, request("acme", "weather in Paris?"))

		req := request("acme", "weather in Paris?")
		req.Meta.Stream = true
		s, err := f.inv.Stream(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		evs := drain(t, s)
		if req.Meta.Cache != llm.CacheHit || f.up.calls.Load() != 1 {
			t.Fatalf("stream after a miss: cache %s, %d upstream calls", req.Meta.Cache, f.up.calls.Load())
		}
		replayed, err := llm.Collect(&llm.SliceStream{Events: evs})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(replayed, orig) {
			t.Fatalf("replay collects to\n%+v\nwant the original\n%+v", replayed, orig)
		}
		checkRealistic(t, orig, evs)
	}
}

// checkRealistic checks the shape of a replay: it opens and closes the
// message, splits long text into several deltas, opens tool use blocks
// with their id and name, closes every block, and ends with usage.
func checkRealistic(t *testing.T, resp *llm.Response, evs []llm.Event) {
	t.Helper()
	if evs[0].Type != llm.EventMessageStart || evs[0].Role != llm.RoleAssistant {
		t.Fatalf("replay starts with %+v", evs[0])
	}
	n := len(evs)
	if evs[n-2].Type != llm.EventMessageStop || evs[n-2].StopReason != resp.StopReason {
		t.Fatalf("replay's second last event is %+v", evs[n-2])
	}
	if m := evs[n-1]; m.Type != llm.EventMetadata || m.Usage == nil || *m.Usage != resp.Usage || m.Latency != resp.Latency {
		t.Fatalf("replay's last event is %+v; want metadata with usage %+v", m, resp.Usage)
	}
	deltas, starts, stops := map[int]int{}, map[int]*llm.ToolUse{}, map[int]bool{}
	for _, ev := range evs {
		switch ev.Type {
		case llm.EventBlockDelta:
			if stops[ev.Index] {
				t.Fatalf("delta after block %d stopped", ev.Index)
			}
			deltas[ev.Index]++
		case llm.EventBlockStart:
			starts[ev.Index] = ev.ToolUse
		case llm.EventBlockStop:
			stops[ev.Index] = true
		}
	}
	for i, b := range resp.Message.Content {
		if !stops[i] {
			t.Errorf("block %d never stopped", i)
		}
		switch b.Type {
		case llm.BlockText:
			if len(b.Text) > 60 && deltas[i] < 3 {
				t.Errorf("%d-byte text replayed in %d deltas", len(b.Text), deltas[i])
			}
		case llm.BlockToolUse:
			if tu := starts[i]; tu == nil || tu.ID != b.ToolUse.ID || tu.Name != b.ToolUse.Name {
				t.Errorf("tool use block %d started with %+v", i, starts[i])
			}
			if deltas[i] < 2 {
				t.Errorf("tool input replayed in %d deltas", deltas[i])
			}
		}
	}
}

// splitEvents splits every delta into two, as upstreams send small ones.
func splitEvents(evs []llm.Event) []llm.Event {
	var out []llm.Event
	for _, ev := range evs {
		d := ev.Delta
		if ev.Type != llm.EventBlockDelta || len(d.Text)+len(d.ToolInput) < 4 {
			out = append(out, ev)
			continue
		}
		a, b := ev, ev
		if d.Text != "" {
			h := len(d.Text) / 2
			for !utf8Start(d.Text, h) {
				h++
			}
			a.Delta.Text, b.Delta.Text = d.Text[:h], d.Text[h:]
		} else {
			h := len(d.ToolInput) / 2
			a.Delta.ToolInput, b.Delta.ToolInput = d.ToolInput[:h], d.ToolInput[h:]
		}
		out = append(out, a, b)
	}
	return out
}

func utf8Start(s string, i int) bool { return i >= len(s) || s[i]&0xC0 != 0x80 }

func TestStreamNotStored(t *testing.T) {
	tests := []struct {
		name string
		// run reads the stream the way the case needs.
		run    func(t *testing.T, s llm.Stream)
		events func() []llm.Event
		err    error
		policy cache.Policy
	}{
		{
			name: "error mid-stream",
			run: func(t *testing.T, s llm.Stream) {
				if _, err := llm.Collect(s); err == nil {
					t.Fatal("no error")
				}
			},
			events: func() []llm.Event { return llm.EventsOf(textAnswer("half an answer"))[:2] },
			err:    llm.Errorf(llm.KindUnavailable, "connection reset"),
			policy: on,
		},
		{
			name: "closed early",
			run: func(t *testing.T, s llm.Stream) {
				s.Recv()
				s.Recv()
				s.Close()
			},
			events: func() []llm.Event { return llm.EventsOf(textAnswer("a whole answer")) },
			policy: on,
		},
		{
			name: "closed early then read to the end",
			run: func(t *testing.T, s llm.Stream) {
				s.Recv()
				s.Close()
				for {
					if _, err := s.Recv(); err != nil {
						return
					}
				}
			},
			events: func() []llm.Event { return llm.EventsOf(textAnswer("a whole answer")) },
			policy: on,
		},
		{
			name:   "guardrail",
			run:    func(t *testing.T, s llm.Stream) { llm.Collect(s) },
			events: func() []llm.Event { r := textAnswer("no"); r.StopReason = llm.StopGuardrail; return llm.EventsOf(r) },
			policy: on,
		},
		{
			name:   "over max entry bytes",
			run:    func(t *testing.T, s llm.Stream) { llm.Collect(s) },
			events: func() []llm.Event { return splitEvents(llm.EventsOf(textAnswer(strings.Repeat("x", 5000)))) },
			policy: cache.Policy{Enabled: true, MaxEntryBytes: 2000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.policy)
			f.up.events, f.up.streamErr = tt.events(), tt.err
			req := request("acme", "hello")
			req.Meta.Stream = true
			s, err := f.inv.Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			tt.run(t, s)
			again := request("acme", "hello")
			f.inv.Invoke(context.Background(), again)
			if again.Meta.Cache == llm.CacheHit || f.up.calls.Load() != 2 {
				t.Fatalf("the stream's answer was stored: cache %s, %d upstream calls", again.Meta.Cache, f.up.calls.Load())
			}
		})
	}
}

func TestStreamBypassStores(t *testing.T) {
	f := newFixture(t, on)
	f.invoke(t, request("acme", "hello")) // answer 1 stored
	req := request("acme", "hello")
	req.Meta.Stream, req.Meta.Cache = true, llm.CacheBypass
	s, err := f.inv.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := llm.Collect(s)
	if err != nil || resp.Text() != "answer 2" || req.Meta.Cache != llm.CacheBypass {
		t.Fatalf("bypass stream: %q, %v, cache %s", resp.Text(), err, req.Meta.Cache)
	}
	if r := f.invoke(t, request("acme", "hello")); r.Text() != "answer 2" {
		t.Fatalf("after a bypass stream the entry holds %q; want the fresh answer", r.Text())
	}
}
