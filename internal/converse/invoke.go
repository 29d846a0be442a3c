package converse

import (
	"bytes"
	"encoding/json"

	"github.com/penny-gateway/penny/internal/llm"
)

// This file is what InvokeModel adds to the Bedrock runtime's wire: the
// chunk frames of InvokeModelWithResponseStream, the invocation metrics
// Bedrock puts in a stream's last chunk, and Amazon Nova's native body,
// which is Converse's with a few names changed.

// InvocationMetrics is the "amazon-bedrock-invocationMetrics" member
// Bedrock adds to the last chunk of an InvokeModelWithResponseStream
// answer. Latencies are in milliseconds; InputTokenCount excludes the
// tokens read from or written to the prompt cache.
type InvocationMetrics struct {
	InputTokenCount           int   `json:"inputTokenCount"`
	OutputTokenCount          int   `json:"outputTokenCount"`
	InvocationLatency         int64 `json:"invocationLatency"`
	FirstByteLatency          int64 `json:"firstByteLatency"`
	CacheReadInputTokenCount  *int  `json:"cacheReadInputTokenCount,omitempty"`
	CacheWriteInputTokenCount *int  `json:"cacheWriteInputTokenCount,omitempty"`
}

// MetricsOf returns the invocation metrics of an answer with usage u.
func MetricsOf(u llm.Usage, latency, firstByte int64) InvocationMetrics {
	m := InvocationMetrics{InputTokenCount: u.InputTokens, OutputTokenCount: u.OutputTokens,
		InvocationLatency: latency, FirstByteLatency: firstByte}
	if u.CacheReadTokens != 0 || u.CacheWriteTokens != 0 {
		m.CacheReadInputTokenCount, m.CacheWriteInputTokenCount = &u.CacheReadTokens, &u.CacheWriteTokens
	}
	return m
}

// ReadMetrics returns the invocation metrics a stream chunk's JSON
// carries; ok is false when it carries none.
func ReadMetrics(chunk []byte) (m InvocationMetrics, ok bool) {
	var v struct {
		M *InvocationMetrics `json:"amazon-bedrock-invocationMetrics"`
	}
	if json.Unmarshal(chunk, &v) != nil || v.M == nil {
		return InvocationMetrics{}, false
	}
	return *v.M, true
}

// Usage is the metrics' token counts as an llm.Usage.
func (m InvocationMetrics) Usage() llm.Usage {
	u := llm.Usage{InputTokens: m.InputTokenCount, OutputTokens: m.OutputTokenCount}
	if m.CacheReadInputTokenCount != nil {
		u.CacheReadTokens = *m.CacheReadInputTokenCount
	}
	if m.CacheWriteInputTokenCount != nil {
		u.CacheWriteTokens = *m.CacheWriteInputTokenCount
	}
	return u
}

// WithMetrics returns the JSON object obj with the invocation metrics m
// added as its "amazon-bedrock-invocationMetrics" member.
func WithMetrics(obj []byte, m InvocationMetrics) []byte {
	obj = bytes.TrimSpace(obj)
	mb, _ := json.Marshal(m)
	out := append([]byte(nil), obj[:len(obj)-1]...)
	if len(bytes.TrimSpace(out)) > 1 {
		out = append(out, ',')
	}
	out = append(out, `"amazon-bedrock-invocationMetrics":`...)
	out = append(out, mb...)
	return append(out, '}')
}

// NovaUsage is the usage of Nova's native answers, whose cache counts are
// named as in Bedrock's invocation metrics.
type NovaUsage struct {
	InputTokens               int `json:"inputTokens"`
	OutputTokens              int `json:"outputTokens"`
	TotalTokens               int `json:"totalTokens"`
	CacheReadInputTokenCount  int `json:"cacheReadInputTokenCount"`
	CacheWriteInputTokenCount int `json:"cacheWriteInputTokenCount"`
}

func novaUsage(u llm.Usage) NovaUsage {
	return NovaUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.Total(),
		CacheReadInputTokenCount: u.CacheReadTokens, CacheWriteInputTokenCount: u.CacheWriteTokens}
}

// EncodeNovaResponse writes resp as Nova's native InvokeModel answer:
// {"output": {"message"}, "stopReason", "usage"}.
func EncodeNovaResponse(resp *llm.Response) ([]byte, error) {
	msg, err := messageWire("output.message", llm.Message{Role: llm.RoleAssistant, Content: resp.Message.Content})
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Output     Output    `json:"output"`
		StopReason string    `json:"stopReason"`
		Usage      NovaUsage `json:"usage"`
	}{Output{Message: &msg}, string(resp.StopReason), novaUsage(resp.Usage)})
}

// NovaChunks returns the chunks of Nova's native stream for ev, each one
// JSON object named after the ConverseStream event it carries
// ({"contentBlockDelta": {...}}); the metadata chunk carries Nova's usage.
func NovaChunks(ev llm.Event) ([][]byte, error) {
	if ev.Type == llm.EventMetadata {
		var u llm.Usage
		if ev.Usage != nil {
			u = *ev.Usage
		}
		b, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"usage": novaUsage(u), "metrics": struct{}{}, "trace": struct{}{}}})
		return [][]byte{b}, err
	}
	ps, err := eventPayloads(ev)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(ps))
	for _, p := range ps {
		b, err := json.Marshal(map[string]any{p.eventType: p.payload})
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// novaInference maps the inferenceConfig names of Nova's native body,
// both the current (Converse's) and the earlier snake-case ones, to
// Converse's; topK and reasoningConfig have no Converse field and go to
// additionalModelRequestFields, as Bedrock documents for Nova.
var novaInference = map[string]string{
	"maxTokens": "maxTokens", "max_new_tokens": "maxTokens", "temperature": "temperature",
	"topP": "topP", "top_p": "topP", "stopSequences": "stopSequences", "stop_sequences": "stopSequences",
}

// DecodeNovaRequest decodes Nova's native "messages-v1" body. It is
// Converse's request with "schemaVersion", Nova's inferenceConfig names,
// topK and reasoningConfig; errors are DecodeRequest's.
func DecodeNovaRequest(body []byte) (*llm.Request, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return DecodeRequest(body)
	}
	if v, ok := top["schemaVersion"]; ok {
		if string(v) != `"messages-v1"` {
			return nil, invalid("schemaVersion", "must be \"messages-v1\", got %s", v)
		}
		delete(top, "schemaVersion")
	}
	additional := map[string]any{}
	if raw, ok := top["inferenceConfig"]; ok && !isNull(raw) {
		var ic map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ic); err != nil {
			return nil, invalid("inferenceConfig", "expected an object, got %s", jsonType(raw))
		}
		out := map[string]json.RawMessage{}
		for k, v := range ic {
			switch name, ok := novaInference[k]; {
			case ok:
				out[name] = v
			case k == "topK" || k == "top_k":
				additional["inferenceConfig"] = map[string]json.RawMessage{"topK": v}
			case k == "reasoningConfig":
				additional["reasoningConfig"] = v
			default:
				out[k] = v // DecodeRequest names it
			}
		}
		top["inferenceConfig"], _ = json.Marshal(out)
	}
	if raw, ok := top["reasoningConfig"]; ok {
		additional["reasoningConfig"] = raw
		delete(top, "reasoningConfig")
	}
	if len(additional) > 0 {
		if _, ok := top["additionalModelRequestFields"]; ok {
			return nil, invalid("additionalModelRequestFields", "is not part of Nova's native body")
		}
		top["additionalModelRequestFields"], _ = json.Marshal(additional)
	}
	b, _ := json.Marshal(top)
	return DecodeRequest(b)
}
