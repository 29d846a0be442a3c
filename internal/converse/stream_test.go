package converse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestEventStreamRoundTrip(t *testing.T) {
	want := sampleResponse()
	var buf bytes.Buffer
	ew := NewEventWriter(&buf)
	for _, ev := range llm.EventsOf(want) {
		if err := ew.WriteEvent(ev); err != nil {
			t.Fatal(err)
		}
	}
	got, err := llm.Collect(NewEventReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip mismatch\n got: %+v\nwant: %+v", got, want)
	}
}

// TestEventFrames checks each frame's headers and payload byte for byte
// against what Bedrock sends.
func TestEventFrames(t *testing.T) {
	u := llm.Usage{InputTokens: 5, OutputTokens: 7, CacheReadTokens: 100}
	tests := []struct {
		ev     llm.Event
		frames [][2]string // event type, payload
	}{
		{llm.Event{Type: llm.EventMessageStart, Role: llm.RoleAssistant},
			[][2]string{{"messageStart", `{"role":"assistant"}`}}},
		{llm.Event{Type: llm.EventBlockStart, Index: 1, ToolUse: &llm.ToolUse{ID: "t1", Name: "f"}},
			[][2]string{{"contentBlockStart", `{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}}`}}},
		{llm.Event{Type: llm.EventBlockStart, Index: 0}, nil},
		{llm.Event{Type: llm.EventBlockDelta, Index: 0, Delta: llm.Delta{Text: "Hel"}},
			[][2]string{{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hel"}}`}}},
		{llm.Event{Type: llm.EventBlockDelta, Index: 0, Delta: llm.Delta{}},
			[][2]string{{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":""}}`}}},
		{llm.Event{Type: llm.EventBlockDelta, Index: 1, Delta: llm.Delta{ToolInput: `{"a":`}},
			[][2]string{{"contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":"}}}`}}},
		{llm.Event{Type: llm.EventBlockDelta, Index: 2, Delta: llm.Delta{Reasoning: "hmm", Signature: "sig"}},
			[][2]string{
				{"contentBlockDelta", `{"contentBlockIndex":2,"delta":{"reasoningContent":{"text":"hmm"}}}`},
				{"contentBlockDelta", `{"contentBlockIndex":2,"delta":{"reasoningContent":{"signature":"sig"}}}`},
			}},
		{llm.Event{Type: llm.EventBlockStop, Index: 1},
			[][2]string{{"contentBlockStop", `{"contentBlockIndex":1}`}}},
		{llm.Event{Type: llm.EventMessageStop, StopReason: llm.StopMaxTokens},
			[][2]string{{"messageStop", `{"stopReason":"max_tokens"}`}}},
		{llm.Event{Type: llm.EventMetadata, Usage: &u, Latency: 42e6, InvokedModel: "m"},
			[][2]string{{"metadata", `{"usage":{"inputTokens":5,"outputTokens":7,"totalTokens":112,"cacheReadInputTokens":100},"metrics":{"latencyMs":42},"trace":{"promptRouter":{"invokedModelId":"m"}}}`}}},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		if err := NewEventWriter(&buf).WriteEvent(tc.ev); err != nil {
			t.Fatal(err)
		}
		dec := eventstream.NewDecoder()
		for i, want := range tc.frames {
			msg, err := dec.Decode(&buf, nil)
			if err != nil {
				t.Fatalf("%s frame %d: %v", tc.ev.Type, i, err)
			}
			h := msg.Headers
			if headerString(h, ":message-type") != "event" || headerString(h, ":content-type") != "application/json" ||
				headerString(h, ":event-type") != want[0] {
				t.Errorf("%s frame %d: headers %v", tc.ev.Type, i, h)
			}
			if string(msg.Payload) != want[1] {
				t.Errorf("%s frame %d: payload\n got %s\nwant %s", tc.ev.Type, i, msg.Payload, want[1])
			}
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes of extra frames", tc.ev.Type, buf.Len())
		}
	}
}

func TestWriteErrorFrame(t *testing.T) {
	tests := []struct {
		kind   llm.ErrorKind
		exType string
		back   llm.ErrorKind
	}{
		{llm.KindThrottled, "throttlingException", llm.KindThrottled},
		{llm.KindValidation, "validationException", llm.KindValidation},
		{llm.KindModelError, "modelStreamErrorException", llm.KindModelError},
		{llm.KindUnavailable, "serviceUnavailableException", llm.KindUnavailable},
		{llm.KindInternal, "internalServerException", llm.KindUnavailable},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		ew := NewEventWriter(&buf)
		if err := ew.WriteEvent(llm.Event{Type: llm.EventMessageStart}); err != nil {
			t.Fatal(err)
		}
		if err := ew.WriteError(llm.Errorf(tc.kind, "it broke")); err != nil {
			t.Fatal(err)
		}
		raw := bytes.Clone(buf.Bytes())
		er := NewEventReader(&buf)
		if ev, err := er.Recv(); err != nil || ev.Type != llm.EventMessageStart || ev.Role != llm.RoleAssistant {
			t.Fatalf("first event = %+v, %v", ev, err)
		}
		_, err := er.Recv()
		var e *llm.Error
		if !errors.As(err, &e) || e.Kind != tc.back || e.Message != "it broke" {
			t.Errorf("%s: Recv error = %#v", tc.kind, err)
		}
		if _, err2 := er.Recv(); err2 != err {
			t.Errorf("error not sticky: %v", err2)
		}
		// The frame itself, as Bedrock sends it.
		dec := eventstream.NewDecoder()
		rd := bytes.NewReader(raw)
		dec.Decode(rd, nil)
		msg, _ := dec.Decode(rd, nil)
		if headerString(msg.Headers, ":message-type") != "exception" || headerString(msg.Headers, ":exception-type") != tc.exType ||
			string(msg.Payload) != `{"message":"it broke"}` {
			t.Errorf("%s: frame %v %s", tc.kind, msg.Headers, msg.Payload)
		}
	}
}

func TestEventReaderErrors(t *testing.T) {
	var buf bytes.Buffer
	ew := NewEventWriter(&buf)
	ew.WriteEvent(llm.Event{Type: llm.EventMessageStart})
	full := buf.Bytes()
	// A stream cut mid-frame is an upstream failure, not a clean end.
	_, err := NewEventReader(bytes.NewReader(full[:len(full)-3])).Recv()
	if llm.KindOf(err) != llm.KindUnavailable {
		t.Errorf("truncated frame: %v", err)
	}
	// An empty stream ends cleanly.
	if _, err := NewEventReader(bytes.NewReader(nil)).Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("empty stream: %v", err)
	}
	// An error frame (:message-type error) carries its code in headers.
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue("error"))
	msg.Headers.Set(":error-code", eventstream.StringValue("ThrottlingException"))
	msg.Headers.Set(":error-message", eventstream.StringValue("slow"))
	buf.Reset()
	eventstream.NewEncoder().Encode(&buf, msg)
	_, err = NewEventReader(&buf).Recv()
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindThrottled || e.Message != "slow" {
		t.Errorf("error frame: %v", err)
	}
	// Redacted reasoning cannot be carried.
	buf.Reset()
	payload, _ := json.Marshal(map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"reasoningContent": map[string]any{"redactedContent": "AAAA"}}})
	msg = eventstream.Message{Payload: payload}
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Headers.Set(":event-type", eventstream.StringValue("contentBlockDelta"))
	eventstream.NewEncoder().Encode(&buf, msg)
	if _, err := NewEventReader(&buf).Recv(); llm.KindOf(err) != llm.KindUnsupported {
		t.Errorf("redacted reasoning: %v", err)
	}
}

func TestEventWriterFlushes(t *testing.T) {
	rec := httptest.NewRecorder()
	ew := NewEventWriter(rec)
	if err := ew.WriteEvent(llm.Event{Type: llm.EventMessageStart}); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed {
		t.Fatal("frame was not flushed")
	}
}
