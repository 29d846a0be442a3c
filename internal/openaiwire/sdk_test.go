package openaiwire_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// sdkServer is a minimal Penny frontend: it decodes what the official
// OpenAI Go SDK sends with DecodeRequest and answers with EncodeResponse or
// a ChunkEncoder, so the test proves both directions speak the SDK's dialect.
type sdkServer struct {
	answer *llm.Response
	mu     sync.Mutex
	got    []*llm.Request
}

func (s *sdkServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, opts, err := openaiwire.DecodeRequest(body)
	if err != nil {
		status, eb := openaiwire.ErrorFor(err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(eb)
		return
	}
	s.mu.Lock()
	s.got = append(s.got, req)
	s.mu.Unlock()
	if !opts.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(openaiwire.EncodeResponse(s.answer, "chatcmpl-1", req.Model, 1700000000))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	enc := &openaiwire.ChunkEncoder{ID: "chatcmpl-1", Model: req.Model, Created: 1700000000, IncludeUsage: opts.IncludeUsage}
	for _, ev := range llm.EventsOf(s.answer) {
		for _, ch := range enc.Encode(ev) {
			b, _ := json.Marshal(ch)
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func TestOpenAISDKCompatibility(t *testing.T) {
	answer := &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			llm.TextBlock("Checking."),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_1", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)}},
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "tu_2", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}},
		}},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 50},
	}
	srv := &sdkServer{answer: answer}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	client := openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithAPIKey("pk-test"), option.WithMaxRetries(0))

	params := openai.ChatCompletionNewParams{
		Model: "haiku",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be brief."),
			openai.UserMessage("Weather in Paris and Oslo?"),
		},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "weather", Description: openai.String("Weather in a city"),
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
		MaxCompletionTokens: openai.Int(200),
		Temperature:         openai.Float(0.5),
		User:                openai.String("u-1"),
	}

	t.Run("non-streamed", func(t *testing.T) {
		c, err := client.Chat.Completions.New(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		ch := c.Choices[0]
		if ch.FinishReason != "tool_calls" || ch.Message.Content != "Checking." || len(ch.Message.ToolCalls) != 2 {
			t.Fatalf("choice = %+v", ch)
		}
		if tc := ch.Message.ToolCalls[1]; tc.ID != "tu_2" || tc.Function.Name != "weather" || tc.Function.Arguments != `{"city":"Oslo"}` {
			t.Errorf("tool call = %+v", tc)
		}
		if c.Usage.PromptTokens != 150 || c.Usage.CompletionTokens != 20 || c.Usage.TotalTokens != 170 || c.Usage.PromptTokensDetails.CachedTokens != 50 {
			t.Errorf("usage = %+v", c.Usage)
		}

		// Send the answer back as history with the tool results, the way an
		// SDK user does; Penny must accept what the SDK writes.
		next := params
		next.Messages = append(append([]openai.ChatCompletionMessageParamUnion{}, params.Messages...),
			ch.Message.ToParam(),
			openai.ToolMessage("18C", "tu_1"),
			openai.ToolMessage("9C", "tu_2"))
		if _, err := client.Chat.Completions.New(t.Context(), next); err != nil {
			t.Fatalf("history with tool calls: %v", err)
		}
		srv.mu.Lock()
		last := srv.got[len(srv.got)-1]
		srv.mu.Unlock()
		if n := len(last.Messages); n != 3 || len(last.Messages[2].Content) != 2 || last.Messages[2].Content[1].ToolResult.ToolUseID != "tu_2" {
			t.Errorf("decoded history = %+v", last.Messages)
		}
		if *last.Config.MaxTokens != 200 || *last.Config.Temperature != 0.5 || last.Meta.Tags["user"] != "u-1" || last.Tools.Tools[0].Name != "weather" {
			t.Errorf("decoded settings = %+v %+v", last.Config, last.Meta)
		}
	})

	t.Run("streamed with usage", func(t *testing.T) {
		sp := params
		sp.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true), IncludeObfuscation: openai.Bool(false)}
		stream := client.Chat.Completions.NewStreaming(t.Context(), sp)
		var acc openai.ChatCompletionAccumulator
		var finished []openai.FinishedChatCompletionToolCall
		for stream.Next() {
			acc.AddChunk(stream.Current())
			if tc, ok := acc.JustFinishedToolCall(); ok {
				finished = append(finished, tc)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		ch := acc.Choices[0]
		if ch.FinishReason != "tool_calls" || ch.Message.Content != "Checking." || len(ch.Message.ToolCalls) != 2 {
			t.Fatalf("accumulated choice = %+v", ch)
		}
		for i, want := range []string{`{"city":"Paris"}`, `{"city":"Oslo"}`} {
			if got := ch.Message.ToolCalls[i].Function.Arguments; got != want {
				t.Errorf("tool call %d arguments = %s, want %s", i, got, want)
			}
		}
		if len(finished) != 2 || finished[0].ID != "tu_1" || finished[1].Index != 1 {
			t.Errorf("finished tool calls = %+v", finished)
		}
		if acc.Usage.PromptTokens != 150 || acc.Usage.PromptTokensDetails.CachedTokens != 50 {
			t.Errorf("usage = %+v", acc.Usage)
		}
	})

	t.Run("error body", func(t *testing.T) {
		bad := params
		bad.Seed = openai.Int(1)
		_, err := client.Chat.Completions.New(t.Context(), bad)
		var apiErr *openai.Error
		if !asError(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "unsupported_parameter" {
			t.Fatalf("err = %v", err)
		}
	})
}

func asError(err error, target **openai.Error) bool {
	e, ok := err.(*openai.Error)
	if ok {
		*target = e
	}
	return ok
}
