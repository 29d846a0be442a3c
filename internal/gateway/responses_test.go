package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/penny-gateway/penny/internal/ledger"
)

// responsesClient is an openai-go client of e speaking e's protocol, with
// token as its key.
func responsesClient(e *env, token string) responses.ResponseService {
	c := openai.NewClient(option.WithBaseURL(e.URL+"/v1"), option.WithAPIKey(token), option.WithMaxRetries(0),
		option.WithHTTPClient(e.Client))
	return c.Responses
}

func text(s string) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
}

// checkRecord checks that the ledger has the response's request, under
// api responses, with its usage and the cost the headers (or trailers)
// said.
func checkRecord(t *testing.T, e *env, resp *responses.Response, cost string) ledger.Record {
	t.Helper()
	rec := e.record(strings.TrimPrefix(resp.ID, "resp_"))
	u := resp.Usage
	if rec.API != "responses" || rec.Status != ledger.StatusOK || rec.InputTokens+rec.CacheReadTokens+rec.CacheWriteTokens != int(u.InputTokens) ||
		rec.OutputTokens != int(u.OutputTokens) || rec.CacheReadTokens != int(u.InputTokensDetails.CachedTokens) ||
		u.TotalTokens != u.InputTokens+u.OutputTokens || u.OutputTokens == 0 || rec.Cost <= 0 || rec.Cost.Exact() != cost {
		t.Errorf("ledger record %+v, usage %+v, cost %s", rec, u, cost)
	}
	return rec
}

// TestResponsesCreate answers a plain request on the simulator, over
// HTTP/1.1 and HTTP/2, and gets it back from the store.
func TestResponsesCreate(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			e := newEnv(t, envOptions{http2: h2})
			c := responsesClient(e, "test")
			ctx := context.Background()
			var httpResp *http.Response
			resp, err := c.New(ctx, responses.ResponseNewParams{
				Model: "nova-micro", Input: text("How do I reset my password?"),
				Instructions: openai.String("You are terse."), MaxOutputTokens: openai.Int(2000),
				Metadata: map[string]string{"team": "support"}, User: openai.String("u-42"),
			}, option.WithResponseInto(&httpResp))
			if err != nil {
				t.Fatal(err)
			}
			if wantProto := map[bool]int{false: 1, true: 2}[h2]; httpResp.ProtoMajor != wantProto {
				t.Errorf("protocol %s", httpResp.Proto)
			}
			if !strings.HasPrefix(resp.ID, "resp_") || resp.Object != "response" || resp.Status != responses.ResponseStatusCompleted ||
				resp.Model != "nova-micro" || !strings.Contains(resp.RawJSON(), `"store":true`) || resp.Instructions.OfString != "You are terse." ||
				resp.Metadata["team"] != "support" || resp.MaxOutputTokens != 2000 || resp.CreatedAt == 0 || resp.CompletedAt == 0 {
				t.Errorf("response: %s", resp.RawJSON())
			}
			if got := resp.OutputText(); !strings.HasPrefix(got, "[simulated amazon.nova-micro-v1:0]") {
				t.Errorf("output text %q", got)
			}
			if len(resp.Output) != 1 || resp.Output[0].Type != "message" || resp.Output[0].Role != "assistant" ||
				resp.Output[0].Status != "completed" || resp.Output[0].Content[0].Type != "output_text" {
				t.Errorf("output %s", resp.RawJSON())
			}
			h := httpResp.Header
			if h.Get(HeaderRequestID) != strings.TrimPrefix(resp.ID, "resp_") || h.Get(HeaderModel) != "nova-micro" || h.Get(HeaderProvider) != "sim" {
				t.Errorf("headers %v", h)
			}
			rec := checkRecord(t, e, resp, h.Get(HeaderCost))
			if rec.Tags["team"] != "support" || rec.Tags["user"] != "u-42" || rec.Stream {
				t.Errorf("record tags %v, stream %v", rec.Tags, rec.Stream)
			}

			got, err := c.Get(ctx, resp.ID, responses.ResponseGetParams{})
			if err != nil {
				t.Fatal(err)
			}
			if got.RawJSON() != resp.RawJSON() {
				t.Errorf("stored response differs:\n%s\n%s", got.RawJSON(), resp.RawJSON())
			}
			items, err := c.InputItems.List(ctx, resp.ID, responses.InputItemListParams{})
			if err != nil {
				t.Fatal(err)
			}
			if len(items.Data) != 1 || items.Data[0].Type != "message" || items.Data[0].Role != "user" || items.Data[0].ID == "" ||
				!strings.Contains(items.Data[0].RawJSON(), `"text":"How do I reset my password?"`) ||
				!strings.Contains(items.RawJSON(), `"first_id":"`+items.Data[0].ID+`"`) || items.HasMore {
				t.Errorf("input items %s", items.RawJSON())
			}
			if err := c.Delete(ctx, resp.ID); err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(ctx, resp.ID, responses.ResponseGetParams{})
			wantAPIError(t, err, http.StatusNotFound, "response_not_found", "")
			wantAPIError(t, c.Delete(ctx, resp.ID), http.StatusNotFound, "response_not_found", "")
		})
	}
}

// wantAPIError checks an openai-go error's status, code and param.
func wantAPIError(t *testing.T, err error, status int, code, param string) {
	t.Helper()
	var ae *openai.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *openai.Error", err)
	}
	if ae.StatusCode != status || ae.Code != code || ae.Param != param || ae.Type != "invalid_request_error" {
		t.Errorf("error %d %s %s (param %q): %s; want %d %s param %q", ae.StatusCode, ae.Type, ae.Code, ae.Param, ae.Message, status, code, param)
	}
}

// streamed collects a streamed response's events.
type streamed struct {
	types []string
	text  strings.Builder
	args  strings.Builder
	final responses.Response
	last  string
}

func collect(t *testing.T, st interface {
	Next() bool
	Current() responses.ResponseStreamEventUnion
	Err() error
}) *streamed {
	t.Helper()
	s := &streamed{}
	seq := int64(0)
	for st.Next() {
		ev := st.Current()
		if ev.SequenceNumber != seq {
			t.Errorf("event %s has sequence number %d, want %d", ev.Type, ev.SequenceNumber, seq)
		}
		seq++
		s.types = append(s.types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			s.text.WriteString(ev.Delta)
		case "response.function_call_arguments.delta":
			s.args.WriteString(ev.Delta)
		case "response.completed", "response.incomplete", "response.failed":
			s.final, s.last = ev.Response, ev.Type
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResponsesStream streams on the simulator over HTTP/1.1 and HTTP/2:
// the typed events in OpenAI's order, response.completed with the usage,
// the cost as a trailer, the ledger record.
func TestResponsesStream(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			e := newEnv(t, envOptions{http2: h2})
			c := responsesClient(e, "test")
			var httpResp *http.Response
			st := c.NewStreaming(context.Background(), responses.ResponseNewParams{
				Model: "us.amazon.nova-lite-v1:0", Input: text("Explain step by step how to debug a crash loop."),
			}, option.WithResponseInto(&httpResp))
			s := collect(t, st)
			want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
				"response.output_text.delta"}
			if len(s.types) < len(want)+6 || strings.Join(s.types[:len(want)], " ") != strings.Join(want, " ") {
				t.Fatalf("events %v", s.types)
			}
			tail := []string{"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
			if got := s.types[len(s.types)-len(tail):]; strings.Join(got, " ") != strings.Join(tail, " ") {
				t.Errorf("last events %v", got)
			}
			for _, typ := range s.types[len(want) : len(s.types)-len(tail)] {
				if typ != "response.output_text.delta" {
					t.Errorf("unexpected event %s among the deltas", typ)
				}
			}
			f := s.final
			if f.Status != "completed" || f.OutputText() != s.text.String() || !strings.HasPrefix(s.text.String(), "[simulated amazon.nova-lite-v1:0]") ||
				f.Model != "nova-lite" {
				t.Errorf("final response %s; streamed text %q", f.RawJSON(), s.text.String())
			}
			if httpResp.Header.Get("Content-Type") != "text/event-stream" {
				t.Errorf("headers %v", httpResp.Header)
			}
			rec := checkRecord(t, e, &f, httpResp.Trailer.Get(HeaderCost))
			if !rec.Stream || rec.TTFT <= 0 {
				t.Errorf("record %+v", rec)
			}
			got, err := c.Get(context.Background(), f.ID, responses.ResponseGetParams{})
			if err != nil || got.OutputText() != f.OutputText() || got.Usage.TotalTokens != f.Usage.TotalTokens {
				t.Errorf("stored: %v %v", got, err)
			}
		})
	}
}

// rawEvents posts body to /v1/responses and returns the SSE event names
// and their data, in order.
func rawEvents(t *testing.T, e *env, body string) ([]string, []json.RawMessage) {
	t.Helper()
	resp, err := e.Client.Post(e.URL+"/v1/responses", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	var names []string
	var data []json.RawMessage
	for _, block := range strings.Split(b.String(), "\n\n") {
		var name, d string
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				d = v
			}
		}
		if name != "" {
			names = append(names, name)
			data = append(data, json.RawMessage(d))
		}
	}
	return names, data
}

// squeeze collapses runs of one event type, so that orders can be
// compared whatever the number of deltas.
func squeeze(types []string) string {
	var out []string
	for i, t := range types {
		if i == 0 || types[i-1] != t {
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}
