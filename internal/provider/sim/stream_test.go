package sim

import (
	"context"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

func collectEvents(t *testing.T, s llm.Stream) []llm.Event {
	t.Helper()
	defer s.Close()
	var evs []llm.Event
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

func TestStreamMatchesInvoke(t *testing.T) {
	withTools := ask("claude-3-5-sonnet", "What's the weather in Rome?")
	withTools.Tools = &llm.ToolConfig{Tools: []llm.Tool{weatherTool}}
	capped := ask("nova-lite", "Write a short essay about caching.")
	capped.Config.MaxTokens = ptr(25)
	for name, req := range map[string]*llm.Request{
		"text":      ask("nova-lite", "Explain step by step how to cut Bedrock costs."),
		"tool use":  withTools,
		"max":       capped,
		"by router": ask("arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/amazon.nova:1", "hi"),
	} {
		t.Run(name, func(t *testing.T) {
			want := invoke(t, newSim(t, Options{Seed: 1}), req)
			s, err := newSim(t, Options{Seed: 1}).Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			evs := collectEvents(t, s)
			checkOrder(t, evs)
			got, err := llm.Collect(&llm.SliceStream{Events: evs})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("collected stream differs from Invoke:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// checkOrder asserts ConverseStream's event grammar: messageStart, then
// per block an optional contentBlockStart, deltas and contentBlockStop,
// then messageStop and metadata.
func checkOrder(t *testing.T, evs []llm.Event) {
	t.Helper()
	if len(evs) < 4 || evs[0].Type != llm.EventMessageStart || evs[0].Role != llm.RoleAssistant {
		t.Fatalf("stream does not open with messageStart: %+v", evs)
	}
	n := len(evs)
	if evs[n-2].Type != llm.EventMessageStop || evs[n-1].Type != llm.EventMetadata || evs[n-1].Usage == nil {
		t.Fatalf("stream does not end with messageStop, metadata: %+v", evs[n-2:])
	}
	open, index, deltas := false, -1, 0
	for _, ev := range evs[1 : n-2] {
		switch ev.Type {
		case llm.EventBlockStart:
			if open || ev.Index != index+1 || ev.ToolUse == nil {
				t.Fatalf("bad contentBlockStart %+v", ev)
			}
			open, index = true, ev.Index
		case llm.EventBlockDelta:
			if !open {
				if ev.Index != index+1 {
					t.Fatalf("delta for block %d after block %d", ev.Index, index)
				}
				open, index = true, ev.Index
			}
			if ev.Index != index {
				t.Fatalf("delta for block %d inside block %d", ev.Index, index)
			}
			deltas++
		case llm.EventBlockStop:
			if !open || ev.Index != index {
				t.Fatalf("bad contentBlockStop %+v", ev)
			}
			open = false
		default:
			t.Fatalf("unexpected %s inside the message", ev.Type)
		}
	}
	if open || deltas < 2 {
		t.Errorf("block left open, or only %d deltas", deltas)
	}
}

func TestStreamPacing(t *testing.T) {
	p := newSim(t, Options{TimeScale: 0.01})
	rec := &recorder{}
	p.sleep = rec.sleep
	req := ask("nova-pro", "Explain step by step how a gateway routes requests.")
	want := invoke(t, newSim(t, Options{}), req)
	collectEvents(t, must(p.Stream(context.Background(), req)))
	// Each wait is measured from the stream's start; the last one is for
	// the whole answer, scaled.
	last := rec.sleeps[len(rec.sleeps)-1]
	full := time.Duration(float64(want.Latency) * 0.01)
	if last > full || last < full-50*time.Millisecond {
		t.Errorf("last wait %v, want about %v", last, full)
	}
	if len(rec.sleeps) < 10 {
		t.Errorf("only %d waits for a long answer", len(rec.sleeps))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestStreamCancel(t *testing.T) {
	// Opus at a fifth of real time: the first token after ~0.36 s, then a
	// delta every ~20 ms for several seconds.
	p := newSim(t, Options{TimeScale: 0.2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := p.Stream(ctx, ask("claude-opus-4", "Write a detailed essay on cloud costs."))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	var canceled time.Time
	go func() {
		time.Sleep(5 * time.Millisecond)
		canceled = time.Now()
		cancel()
	}()
	n := 3
	for {
		ev, err := s.Recv()
		if err != nil {
			if llm.KindOf(err) != llm.KindCanceled || !errors.Is(err, context.Canceled) {
				t.Fatalf("Recv after cancel: %v", err)
			}
			break
		}
		if ev.Type == llm.EventMetadata {
			t.Fatal("the stream ran to its end despite the cancellation")
		}
		n++
	}
	if d := time.Since(canceled); d > 500*time.Millisecond {
		t.Errorf("Recv took %v to notice the cancellation, after %d events", d, n)
	}
	if _, err := s.Recv(); llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("Recv after the error: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error("second Close:", err)
	}
	if _, err := s.Recv(); err == nil {
		t.Error("Recv after Close succeeded")
	}
}

func TestInvokeHonoursDeadline(t *testing.T) {
	p := newSim(t, Options{TimeScale: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Invoke(ctx, ask("claude-opus-4", "hi"))
	if llm.KindOf(err) != llm.KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Invoke past its deadline: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Invoke took %v", d)
	}
}

func TestTimeScaleZeroNeverSleeps(t *testing.T) {
	p := newSim(t, Options{Faults: Faults{FaultRates: FaultRates{Timeout: 0.5}}})
	rec := &recorder{}
	p.sleep = rec.sleep
	for range 10 {
		_, _ = p.Invoke(context.Background(), ask("claude-opus-4", "Explain everything in detail."))
		if s, err := p.Stream(context.Background(), ask("claude-opus-4", "Explain everything in detail.")); err == nil {
			collectEvents(t, s)
		}
	}
	if got := rec.total(); got != 0 {
		t.Errorf("slept %v with TimeScale 0", got)
	}
	// And with the real sleep, a slow model answers at once.
	p = newSim(t, Options{})
	start := time.Now()
	invoke(t, p, ask("claude-opus-4", "Explain everything in detail."))
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Invoke took %v with TimeScale 0", d)
	}
}
