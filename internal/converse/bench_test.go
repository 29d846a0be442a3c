package converse

import (
	"io"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

// chatBody is a typical chat request: a system prompt with a cache point, a
// few turns of conversation, inference settings and one tool.
var chatBody = []byte(`{
  "system": [{"text": "You are a helpful assistant for an online bookshop. Answer briefly and cite titles exactly."}, {"cachePoint": {"type": "default"}}],
  "messages": [
    {"role": "user", "content": [{"text": "Do you have anything by Ursula K. Le Guin?"}]},
    {"role": "assistant", "content": [{"text": "Yes: The Left Hand of Darkness, The Dispossessed and A Wizard of Earthsea are in stock."}]},
    {"role": "user", "content": [{"text": "Which of those is the shortest, and how much does it cost in paperback?"}]}
  ],
  "inferenceConfig": {"maxTokens": 1024, "temperature": 0.3, "topP": 0.9},
  "toolConfig": {"tools": [{"toolSpec": {"name": "lookup_price", "description": "Look up a book's price", "inputSchema": {"json": {"type": "object", "properties": {"title": {"type": "string"}, "format": {"type": "string", "enum": ["paperback", "hardcover"]}}, "required": ["title"]}}}}]}
}`)

func BenchmarkDecodeRequest(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(chatBody)))
	for b.Loop() {
		if _, err := DecodeRequest(chatBody); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req, err := DecodeRequest(chatBody)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteEvent measures one text delta frame, the bulk of a stream.
func BenchmarkWriteEvent(b *testing.B) {
	ew := NewEventWriter(io.Discard)
	ev := llm.Event{Type: llm.EventBlockDelta, Delta: llm.Delta{Text: strings.Repeat("token ", 4)}}
	b.ReportAllocs()
	for b.Loop() {
		if err := ew.WriteEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
}
