package loadtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// Stub is an upstream stand-in that answers at once with a fixed answer,
// so that a benchmark measures the caller, not the upstream: Bedrock's
// Converse and ConverseStream, and an OpenAI-compatible
// /v1/chat/completions (streamed or not). It listens on 127.0.0.1.
type Stub struct {
	srv    *http.Server
	ln     net.Listener
	answer []byte
	frames []byte
	chat   []byte
	sse    []byte
}

// StubAnswer is the fixed answer the stub gives.
var StubAnswer = &llm.Response{
	Message:    llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("Your order shipped yesterday and should arrive within two business days.")}},
	StopReason: llm.StopEndTurn,
	Usage:      llm.Usage{InputTokens: 42, OutputTokens: 16},
	Latency:    time.Millisecond,
}

// StartStub starts a stub on a free loopback port.
func StartStub() (*Stub, error) {
	answer, err := converse.EncodeResponse(StubAnswer)
	if err != nil {
		return nil, err
	}
	var frames bytes.Buffer
	ew := converse.NewEventWriter(&frames)
	// A realistic stream: the text in a few deltas.
	evs := llm.EventsOf(StubAnswer)
	for _, ev := range evs {
		if ev.Type == llm.EventBlockDelta && ev.Delta.Text != "" {
			words := bytes.Fields([]byte(ev.Delta.Text))
			for i, w := range words {
				d := ev
				d.Delta.Text = string(w)
				if i > 0 {
					d.Delta.Text = " " + d.Delta.Text
				}
				if err := ew.WriteEvent(d); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := ew.WriteEvent(ev); err != nil {
			return nil, err
		}
	}
	chat, sse, err := openAIAnswers()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Stub{ln: ln, answer: answer, frames: frames.Bytes(), chat: chat, sse: sse}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /model/{modelId}/converse", func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-amzn-RequestId", "stub")
		w.Write(s.answer)
	})
	mux.HandleFunc("POST /model/{modelId}/converse-stream", func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.Header().Set("x-amzn-RequestId", "stub")
		w.Write(s.frames)
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream bool `json:"stream"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		drain(r)
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(s.sse)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.chat)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln) // returns ErrServerClosed on Close
	return s, nil
}

// openAIAnswers renders StubAnswer as an OpenAI chat completion and as an
// SSE stream with a final usage chunk.
func openAIAnswers() (chat, sse []byte, err error) {
	chat, err = json.Marshal(openaiwire.EncodeResponse(StubAnswer, "chatcmpl-stub", "stub", 1700000000))
	if err != nil {
		return nil, nil, err
	}
	enc := &openaiwire.ChunkEncoder{ID: "chatcmpl-stub", Model: "stub", Created: 1700000000, IncludeUsage: true}
	var b bytes.Buffer
	for _, ev := range llm.EventsOf(StubAnswer) {
		for _, ch := range enc.Encode(ev) {
			j, err := json.Marshal(ch)
			if err != nil {
				return nil, nil, err
			}
			b.WriteString("data: ")
			b.Write(j)
			b.WriteString("\n\n")
		}
	}
	b.WriteString("data: [DONE]\n\n")
	return chat, b.Bytes(), nil
}

func drain(r *http.Request) { io.Copy(io.Discard, r.Body) }

// URL is the stub's base URL.
func (s *Stub) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the stub.
func (s *Stub) Close() error { return s.srv.Close() }
