package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/penny-gateway/penny/internal/bedrocktest"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/hashvec"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// TestEmbeddingsThroughSDK embeds with openai-go's client, on the
// simulator and through the real Bedrock provider to the fake Bedrock's
// InvokeModel, and prices every request in the ledger.
func TestEmbeddingsThroughSDK(t *testing.T) {
	titan, _ := catalog.MustBuiltin().Resolve("titan-embed-text-v2")
	for _, upstream := range []string{"sim", "bedrock"} {
		t.Run(upstream, func(t *testing.T) {
			e := newEnv(t, envOptions{bedrock: upstream == "bedrock"})
			c := openaiClient(e)
			var httpResp *http.Response
			texts := []string{"How do I reset my password?", "Where is my order?"}
			resp, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
				Model:      "titan-embed-text-v2",
				Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
				Dimensions: openai.Int(256),
			}, option.WithResponseInto(&httpResp))
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Data) != 2 || len(resp.Data[1].Embedding) != 256 || resp.Data[1].Index != 1 || resp.Usage.PromptTokens == 0 {
				t.Fatalf("answer: %d vectors, usage %+v", len(resp.Data), resp.Usage)
			}
			v := make([]float32, 256)
			for i, x := range resp.Data[0].Embedding {
				v[i] = float32(x)
			}
			if hashvec.Cosine(v, hashvec.Vector(texts[0], 256)) < 0.999 {
				t.Error("first vector is not the first text's")
			}
			rec := e.record(httpResp.Header.Get(HeaderRequestID))
			u := llm.Usage{InputTokens: int(resp.Usage.PromptTokens)}
			if rec.API != "embeddings" || rec.Model != "titan-embed-text-v2" || rec.InputTokens != int(resp.Usage.PromptTokens) ||
				rec.Cost != must(titan.Model.Cost(u, catalog.Terms{})) || rec.Cost == 0 || rec.Provider != upstream {
				t.Errorf("ledger %+v", rec)
			}
			if upstream == "bedrock" {
				if c, _ := e.Fake.LastCall(); c.Operation != bedrocktest.OpInvokeModel || !strings.Contains(string(c.Body), `"dimensions":256`) {
					t.Errorf("upstream call %s %s", c.Operation, c.Body)
				}
			}
			// base64, as the OpenAI Python SDK asks by default.
			raw, err := http.Post(e.URL+"/v1/embeddings", "application/json", strings.NewReader(`{"model":"titan-embed-text-v2","input":"hi","encoding_format":"base64","dimensions":256}`))
			if err != nil {
				t.Fatal(err)
			}
			var b64 struct{ Data []struct{ Embedding string } }
			json.NewDecoder(raw.Body).Decode(&b64)
			raw.Body.Close()
			if len(b64.Data) != 1 {
				t.Fatalf("base64 answer %+v", b64)
			}
			if dec, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding); err != nil || len(dec) != 4*256 {
				t.Errorf("base64 embedding: %d bytes, %v", len(dec), err)
			}
		})
	}
}

// TestCohereEmbeddings: Cohere Embed through the real Bedrock provider to
// the fake Bedrock's InvokeModel, one call for the batch, priced.
func TestCohereEmbeddings(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	c := openaiClient(e)
	var httpResp *http.Response
	resp, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "cohere-embed-english-v3",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"refund policy", "shipping times", "warranty"}}},
		option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 3 || len(resp.Data[0].Embedding) != 1024 {
		t.Fatalf("%d vectors", len(resp.Data))
	}
	call, _ := e.Fake.LastCall()
	if call.ModelID != "cohere.embed-english-v3" || !strings.Contains(string(call.Body), `"input_type":"search_document"`) {
		t.Errorf("upstream call %s %s", call.ModelID, call.Body)
	}
	cohere, _ := catalog.MustBuiltin().Resolve("cohere-embed-english-v3")
	rec := e.record(httpResp.Header.Get(HeaderRequestID))
	if rec.InputTokens == 0 || rec.Cost != must(cohere.Model.Cost(rec.Usage(), catalog.Terms{})) || rec.Cost == 0 {
		t.Errorf("ledger %+v", rec)
	}
}

func TestEmbeddingsErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"chat model", `{"model":"nova-micro","input":"hi"}`, 400, "invalid_request_error", "does not make embeddings"},
		{"token arrays", `{"model":"titan-embed-text-v2","input":[[1,2,3]]}`, 400, "unsupported_parameter", "token arrays"},
		{"empty input", `{"model":"titan-embed-text-v2","input":[]}`, 400, "invalid_request_error", "input"},
		{"unknown field", `{"model":"titan-embed-text-v2","input":"x","nope":1}`, 400, "invalid_request_error", "nope"},
		{"unknown model", `{"model":"text-embedding-9","input":"x"}`, 404, "model_not_found", "text-embedding-9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(e.URL+"/v1/embeddings", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body struct {
				Error struct{ Message, Type, Code string }
			}
			json.Unmarshal(raw, &body)
			if resp.StatusCode != tc.status || !strings.Contains(body.Error.Message, tc.msg) || (body.Error.Code != tc.code && body.Error.Type != tc.code) {
				t.Errorf("%d %s", resp.StatusCode, raw)
			}
			if rec := e.record(resp.Header.Get(HeaderRequestID)); rec.Status != ledger.StatusError || rec.API != "embeddings" || rec.HTTPStatus != tc.status {
				t.Errorf("ledger %+v", rec)
			}
		})
	}
	// The SDK surfaces a typed error.
	c := openaiClient(e)
	_, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "nova-micro",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Errorf("SDK error %v", err)
	}
}

// must is the cost of an exact price.
func must(c llm.Money, exact bool) llm.Money {
	if !exact {
		panic("price not exact")
	}
	return c
}
