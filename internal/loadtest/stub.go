package loadtest

import (
	"bytes"
	"net"
	"net/http"
	"time"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// Stub is a Bedrock runtime stand-in that answers every Converse and
// ConverseStream call at once with a fixed answer, so that a benchmark
// measures the caller, not the upstream. It listens on 127.0.0.1.
type Stub struct {
	srv    *http.Server
	ln     net.Listener
	answer []byte
	frames []byte
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Stub{ln: ln, answer: answer, frames: frames.Bytes()}
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
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln) // returns ErrServerClosed on Close
	return s, nil
}

func drain(r *http.Request) {
	var buf [4096]byte
	for {
		if _, err := r.Body.Read(buf[:]); err != nil {
			return
		}
	}
}

// URL is the stub's base URL.
func (s *Stub) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the stub.
func (s *Stub) Close() error { return s.srv.Close() }
