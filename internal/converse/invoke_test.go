package converse

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestDecodeNovaRequest(t *testing.T) {
	req, err := DecodeNovaRequest([]byte(`{"schemaVersion":"messages-v1","system":[{"text":"Be brief."}],
		"messages":[{"role":"user","content":[{"text":"hi"},{"cachePoint":{"type":"default"}}]}],
		"inferenceConfig":{"max_new_tokens":50,"top_p":0.9,"topK":20,"stopSequences":["END"],"reasoningConfig":{"type":"enabled"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *req.Config.MaxTokens != 50 || *req.Config.TopP != 0.9 || req.Config.StopSequences[0] != "END" || req.System[0].Text != "Be brief." ||
		req.Messages[0].Content[1].Type != llm.BlockCachePoint {
		t.Errorf("%+v", req)
	}
	var add map[string]json.RawMessage
	json.Unmarshal(req.Additional, &add)
	if string(add["inferenceConfig"]) != `{"topK":20}` || string(add["reasoningConfig"]) != `{"type":"enabled"}` {
		t.Errorf("additional %s", req.Additional)
	}
	for body, want := range map[string]string{
		`{"schemaVersion":"v2","messages":[]}`:                                                       "schemaVersion",
		`{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":0}}`: "maxTokens",
		`{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"seed":1}}`:      "inferenceConfig.seed",
	} {
		if _, err := DecodeNovaRequest([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func TestNovaAnswersAndMetrics(t *testing.T) {
	resp := &llm.Response{Message: llm.Message{Content: []llm.Block{llm.TextBlock("hi")}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{InputTokens: 3, OutputTokens: 2, CacheReadTokens: 10}}
	b, err := EncodeNovaResponse(resp)
	want := `{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn",` +
		`"usage":{"inputTokens":3,"outputTokens":2,"totalTokens":15,"cacheReadInputTokenCount":10,"cacheWriteInputTokenCount":0}}`
	if err != nil || string(b) != want {
		t.Errorf("%v\n%s\n%s", err, b, want)
	}
	chunks, err := NovaChunks(llm.Event{Type: llm.EventBlockDelta, Index: 0, Delta: llm.Delta{Text: "hi"}})
	if err != nil || string(chunks[0]) != `{"contentBlockDelta":{"contentBlockIndex":0,"delta":{"text":"hi"}}}` {
		t.Errorf("%v %s", err, chunks)
	}
	m := WithMetrics([]byte(`{"type":"message_stop"}`), MetricsOf(resp.Usage, 120, 40))
	if string(m) != `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":3,"outputTokenCount":2,"invocationLatency":120,"firstByteLatency":40,"cacheReadInputTokenCount":10,"cacheWriteInputTokenCount":0}}` {
		t.Errorf("%s", m)
	}
	if string(WithMetrics([]byte(`{}`), MetricsOf(llm.Usage{}, 1, 1))) != `{"amazon-bedrock-invocationMetrics":{"inputTokenCount":0,"outputTokenCount":0,"invocationLatency":1,"firstByteLatency":1}}` {
		t.Error("metrics into an empty object")
	}
}
