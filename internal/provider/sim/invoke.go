package sim

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/hashvec"
	"github.com/penny-gateway/penny/internal/llm"
)

// The simulator answers what Bedrock serves through InvokeModel too:
// embeddings (vectors from package hashvec: texts that share words point
// the same way) and model-native bodies, answered in a generic shape.

// defaultDims is the vector size when a request asks for none (Titan
// Text Embeddings v2's and Cohere Embed v3's default).
const defaultDims = 1024

func (p *Provider) embed(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	m, _, err := p.target(req)
	if err != nil {
		return nil, err
	}
	if !m.Capabilities.Embeddings {
		return nil, validation("The model %s does not make embeddings.", m.ID)
	}
	e := req.Embed
	if len(e.Texts) == 0 {
		return nil, validation("Malformed input request: no text to embed, please reformat your input and try again.")
	}
	dims := e.Dimensions
	if dims == 0 {
		dims = defaultDims
	}
	if dims < 1 || dims > 8192 {
		return nil, validation("Malformed input request: dimensions %d is not valid, please reformat your input and try again.", dims)
	}
	kind, _ := decide(p.rates(m.ID), p.dice.roll(), false, req.ServiceTier == llm.TierFlex)
	if kind != faultNone {
		return nil, p.faultError(ctx, kind)
	}
	resp := &llm.Response{StopReason: llm.StopEndTurn}
	for _, t := range e.Texts {
		resp.Embeddings = append(resp.Embeddings, hashvec.Vector(t, dims))
		resp.Usage.InputTokens += max(1, p.counter.Count(t))
	}
	// Embeddings are fast: a round trip and a little per token.
	resp.Latency = (m.Performance.TTFT() + time.Duration(resp.Usage.InputTokens)*20*time.Microsecond).Round(time.Millisecond)
	if err := p.sleep(ctx, p.scaled(resp.Latency)); err != nil {
		return nil, err
	}
	return resp, nil
}

// native answers a model-native body: a prompt-style body (Llama, Mistral
// and most text models take a "prompt") gets Llama's answer shape, any
// other JSON an {"outputs":[{"text"}]} answer; both say they are simulated.
func (p *Provider) native(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	m, _, err := p.target(req)
	if err != nil {
		return nil, err
	}
	var body map[string]any
	if err := json.Unmarshal(req.Native.Body, &body); err != nil {
		return nil, validation("Malformed input request: %v, please reformat your input and try again.", err)
	}
	prompt, _ := body["prompt"].(string)
	if prompt == "" {
		prompt = string(req.Native.Body)
	}
	text := "[simulated " + m.ID + "] " + answerFor(prompt)
	in, out := max(1, p.counter.Count(prompt)), max(1, p.counter.Count(text))
	var answer []byte
	if _, ok := body["prompt"]; ok {
		answer, _ = json.Marshal(map[string]any{"generation": text, "prompt_token_count": in, "generation_token_count": out, "stop_reason": "stop"})
	} else {
		answer, _ = json.Marshal(map[string]any{"outputs": []map[string]any{{"text": text, "stop_reason": "stop"}}})
	}
	u := llm.Usage{InputTokens: in, OutputTokens: out}
	ttft, speed := latency(m, u, 0.5)
	resp := &llm.Response{Native: &llm.NativeBody{Body: answer, ContentType: "application/json"}, Usage: u, StopReason: llm.StopEndTurn,
		Latency: (ttft + time.Duration(float64(out)/speed*float64(time.Second))).Round(time.Millisecond)}
	if err := p.sleep(ctx, p.scaled(resp.Latency)); err != nil {
		return nil, err
	}
	return resp, nil
}

// answerFor is a short deterministic reply to a native prompt.
func answerFor(prompt string) string {
	words := strings.Fields(prompt)
	if len(words) > 12 {
		words = words[len(words)-12:]
	}
	return "a simulated answer to: " + strings.Join(words, " ")
}

// nativeStream replays a native answer as one chunk and the metadata.
func nativeStream(resp *llm.Response) llm.Stream {
	u := resp.Usage
	return &llm.SliceStream{Events: []llm.Event{
		{Type: llm.EventNative, Native: resp.Native.Body},
		{Type: llm.EventMetadata, Usage: &u, Latency: resp.Latency},
	}}
}
