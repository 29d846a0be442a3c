package app

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// TestSlowBodyIsCut is finding 7: a client that sends its headers and then
// trickles its body (one byte every 20 s) used to hold its connection for
// as long as it liked. It is cut at limits.read_timeout with a 408 in its
// API's format, the connection is closed, and the request is recorded.
func TestSlowBodyIsCut(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Limits.ReadTimeout = config.Duration(500 * time.Millisecond)
	a := startApp(t, cfg)

	for _, tc := range []struct{ path, want string }{
		{"/v1/chat/completions", `"code":"request_timeout"`},
		{"/model/nova-micro/converse", "RequestTimeoutException"},
	} {
		conn, err := net.Dial("tcp", a.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, "POST "+tc.path+" HTTP/1.1\r\nHost: penny\r\nContent-Type: application/json\r\n"+
			"Content-Length: 1000\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				time.Sleep(20 * time.Second)
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: no answer to a trickled body: %v", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		took := time.Since(start)
		t.Logf("%s: cut after %v: %d %s", tc.path, took.Round(time.Millisecond), resp.StatusCode, body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body)+resp.Header.Get("x-amzn-ErrorType"), tc.want) ||
			!strings.Contains(string(body), "limits.read_timeout") {
			t.Errorf("%s: %d %s %s", tc.path, resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
		}
		if took < 400*time.Millisecond || took > 3*time.Second {
			t.Errorf("%s: cut after %v, want about limits.read_timeout (500ms)", tc.path, took)
		}
		// The connection is closed, not kept for the next request.
		if _, err := br.ReadByte(); err == nil {
			t.Errorf("%s: the connection stays open", tc.path)
		}
		if id := resp.Header.Get("X-Penny-Request-Id"); id != "" {
			if err := a.Ledger.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			recs, err := a.Store.Records(context.Background(), ledger.RecordQuery{RequestID: id})
			if err != nil || len(recs) != 1 || recs[0].ErrorKind != string(llm.KindSlowClient) || recs[0].HTTPStatus != 408 {
				t.Errorf("%s: record %+v, %v", tc.path, recs, err)
			}
		} else {
			t.Errorf("%s: no request id", tc.path)
		}
	}

	// Headers trickled: cut at limits.read_header_timeout.
	cfg = simConfig(t, 0)
	cfg.Limits.ReadHeaderTimeout = config.Duration(300 * time.Millisecond)
	a = startApp(t, cfg)
	conn, err := net.Dial("tcp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: pen")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.ReadAll(conn)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("trickled headers held the connection for %v", took)
	}
}

// TestStreamsOutliveReadTimeout: limits.read_timeout bounds reading the
// request only; answers that stream for longer keep streaming, on HTTP/1.1
// and on HTTP/2.
func TestStreamsOutliveReadTimeout(t *testing.T) {
	cfg := simConfig(t, 5)
	cfg.Limits.ReadTimeout = config.Duration(200 * time.Millisecond)
	a := startApp(t, cfg)

	start := time.Now()
	oc := openai.NewClient(option.WithBaseURL(a.URL()+"/v1"), option.WithAPIKey("x"), option.WithMaxRetries(0))
	st := oc.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "nova-micro",
		MaxTokens: openai.Int(300), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me about caching.")}})
	chunks := 0
	for st.Next() {
		chunks++
	}
	if err := st.Err(); err != nil || chunks < 5 {
		t.Fatalf("HTTP/1.1 stream: %d chunks, %v", chunks, err)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("the stream took %v: too short to outlive the 200ms read timeout, slow the simulator down", took)
	}

	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: &p}}
	start = time.Now()
	resp, err := h2.Post(a.URL()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"nova-micro","stream":true,"max_tokens":300,"messages":[{"role":"user","content":"Tell me about caching."}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.ProtoMajor != 2 || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Errorf("HTTP/2 stream: proto %d, %v, ends %q", resp.ProtoMajor, err, body[max(0, len(body)-40):])
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("the HTTP/2 stream took %v", took)
	}
}
