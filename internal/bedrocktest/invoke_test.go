package bedrocktest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

func TestInvokeModelWithSDK(t *testing.T) {
	cleanEnv(t)
	srv := New(t)
	client := srv.Client()
	ctx := context.Background()
	for _, tc := range []struct {
		name, model, body string
		check             func(t *testing.T, out map[string]any)
	}{
		{"titan", "amazon.titan-embed-text-v2:0", `{"inputText":"reset my password","dimensions":256}`, func(t *testing.T, out map[string]any) {
			if v, _ := out["embedding"].([]any); len(v) != 256 || out["inputTextTokenCount"] == nil {
				t.Errorf("titan answer %v", out)
			}
		}},
		{"cohere", "cohere.embed-english-v3", `{"texts":["a","b c"],"input_type":"search_document"}`, func(t *testing.T, out map[string]any) {
			if v, _ := out["embeddings"].([]any); len(v) != 2 || out["response_type"] != "embeddings_floats" {
				t.Errorf("cohere answer %v", out)
			}
		}},
		{"llama", "meta.llama3-1-8b-instruct-v1:0", `{"prompt":"hello there","max_gen_len":50}`, func(t *testing.T, out map[string]any) {
			if out["generation"] != "echo: hello there" {
				t.Errorf("llama answer %v", out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(tc.model),
				Body: []byte(tc.body), ContentType: aws.String("application/json"), ServiceTier: types.ServiceTierTypeFlex})
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]any
			if err := json.Unmarshal(got.Body, &out); err != nil {
				t.Fatal(err)
			}
			tc.check(t, out)
			if got.ServiceTier != types.ServiceTierTypeFlex {
				t.Errorf("service tier %q", got.ServiceTier)
			}
		})
	}
	// Invalid dimensions are Bedrock's ValidationException.
	_, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("amazon.titan-embed-text-v2:0"),
		Body: []byte(`{"inputText":"x","dimensions":7}`), ContentType: aws.String("application/json")})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("bad dimensions: %v", err)
	}
}

func TestInvokeModelStreamWithSDK(t *testing.T) {
	cleanEnv(t)
	srv := New(t)
	out, err := srv.Client().InvokeModelWithResponseStream(context.Background(), &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String("meta.llama3-1-8b-instruct-v1:0"), Body: []byte(`{"prompt":"one two three four five six seven"}`),
		ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var in, outTok int
	var chunks int
	for ev := range out.GetStream().Events() {
		c, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			t.Fatalf("event %T", ev)
		}
		chunks++
		var part struct{ Generation string }
		json.Unmarshal(c.Value.Bytes, &part)
		text.WriteString(part.Generation)
		if i, o, ok := MetricsOf(c.Value.Bytes); ok {
			in, outTok = i, o
		}
	}
	if err := out.GetStream().Close(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "echo: one two three four five six seven" || chunks < 2 || in == 0 || outTok == 0 {
		t.Errorf("stream %q in %d chunks, metrics %d/%d", text.String(), chunks, in, outTok)
	}
	// Embedding models do not stream.
	_, err = srv.Client().InvokeModelWithResponseStream(context.Background(), &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String("amazon.titan-embed-text-v2:0"), Body: []byte(`{"inputText":"x"}`), ContentType: aws.String("application/json")})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("streamed embedding: %v", err)
	}
}
