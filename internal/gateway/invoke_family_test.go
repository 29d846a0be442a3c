package gateway

import (
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestSniffFamily(t *testing.T) {
	cases := []struct {
		body string
		want family
	}{
		{`{"anthropic_version":"bedrock-2023-05-31","messages":[]}`, familyAnthropic},
		{`{"anthropic_version":"x","model":"m"}`, familyAnthropic}, // refused by the decoder, naming "model"
		{`{"schemaVersion":"messages-v1","messages":[]}`, familyNova},
		{`{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":5}}`, familyNova},
		{`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, familyNova},
		{`{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}`, familyNative},           // OpenAI-style (gpt-oss)
		{`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`, familyNative}, // typed parts
		{`{"inputText":"hi","dimensions":256}`, familyTitanEmbed},
		{`{"inputText":"hi","textGenerationConfig":{"maxTokenCount":5}}`, familyNative}, // Titan Text
		{`{"texts":["a"],"input_type":"search_query"}`, familyCohereEmbed},
		{`{"prompt":"hi","max_gen_len":5}`, familyNative},
		{`not json`, familyNative},
	}
	for _, tc := range cases {
		if got := sniffFamily([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: family %d, want %d", tc.body, got, tc.want)
		}
	}
}

func TestEmbeddingBodies(t *testing.T) {
	req, byType, err := decodeCohereEmbed([]byte(`{"texts":["a","b"],"input_type":"search_document","embedding_types":["float"]}`))
	if err != nil || !byType || len(req.Embed.Texts) != 2 || req.Embed.Purpose != "search_document" {
		t.Fatalf("%v %v %+v", err, byType, req)
	}
	req.Meta.RequestID = "r1"
	out, err := encodeCohereEmbed(req, &llm.Response{Embeddings: [][]float32{{1}, {2}}}, byType)
	if err != nil || string(out) != `{"embeddings":{"float":[[1],[2]]},"id":"r1","response_type":"embeddings_by_type","texts":["a","b"]}` {
		t.Errorf("%v %s", err, out)
	}
	for body, want := range map[string]string{
		`{"texts":[],"input_type":"search_query"}`:                               "texts",
		`{"texts":["a"],"input_type":"image"}`:                                   "input_type",
		`{"texts":["a"],"input_type":"search_query","truncate":"END"}`:           "truncate",
		`{"texts":["a"],"input_type":"search_query","images":["x"]}`:             "images",
		`{"texts":["a"],"input_type":"search_query","embedding_types":["int8"]}`: "int8",
		`{"texts":["a"],"input_type":"search_query","bogus":1}`:                  "bogus",
	} {
		if _, _, err := decodeCohereEmbed([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", body, err)
		}
	}
	for body, want := range map[string]string{
		`{"inputText":""}`:                              "inputText",
		`{"inputText":"a","dimensions":300}`:            "dimensions",
		`{"inputText":"a","embeddingTypes":["binary"]}`: "binary",
	} {
		if _, _, err := decodeTitanEmbed([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", body, err)
		}
	}
}
