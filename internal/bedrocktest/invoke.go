package bedrocktest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/hashvec"
	"github.com/penny-gateway/penny/internal/llm"
)

// InvokeModel operation names, as recorded in Call.Operation.
const (
	OpInvokeModel       = "InvokeModel"
	OpInvokeModelStream = "InvokeModelWithResponseStream"
)

// Headers of InvokeModel answers, as Bedrock sends them.
const (
	HeaderInputTokens  = "X-Amzn-Bedrock-Input-Token-Count"
	HeaderOutputTokens = "X-Amzn-Bedrock-Output-Token-Count"
	HeaderLatency      = "X-Amzn-Bedrock-Invocation-Latency"
	HeaderServiceTier  = "X-Amzn-Bedrock-Service-Tier"
)

// nativeAnswer is the fake's answer to a model-native body.
type nativeAnswer struct {
	body     []byte   // the whole answer, for InvokeModel
	chunks   [][]byte // the stream's chunk payloads, metrics not yet added
	in, out  int
	noStream bool // embedding models do not stream
}

// handleInvoke serves InvokeModel and InvokeModelWithResponseStream with
// deterministic native answers:
//
//   - Titan Text Embeddings (`inputText`): {"embedding", "inputTextTokenCount"}
//     (and embeddingsByType when embeddingTypes asks), of `dimensions`
//     (256, 512 or 1024, default 1024);
//   - Cohere Embed (`texts`): {"id", "texts", "embeddings", "response_type"},
//     by type when `embedding_types` is set;
//   - a prompt body (`prompt`, as Llama, Mistral and most text models
//     take): Llama's {"generation": "echo: <prompt>", ...};
//   - any other JSON body: {"echo": <the body>}.
//
// Token counts are one per four bytes, sent in the X-Amzn-Bedrock-*-Token-
// Count headers; a stream's last chunk carries
// amazon-bedrock-invocationMetrics, as Bedrock's does. FailNext, WithDelay
// and FailStreamAfter (counted in chunks) apply as for Converse.
func (s *Server) handleInvoke(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reqID := s.nextRequestID()
		w.Header().Set("x-amzn-RequestId", reqID)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			converse.WriteHTTPError(w, reqID, llm.Errorf(llm.KindValidation, "read body: %v", err))
			return
		}
		modelID := r.PathValue("modelId")
		p := s.record(Call{Operation: op, ModelID: modelID, Header: r.Header.Clone(), Body: body}, op)
		if !p.proceed(w, r, reqID) {
			return
		}
		start := time.Now()
		ans, err := answerNative(modelID, body)
		if err != nil {
			converse.WriteHTTPError(w, reqID, err)
			return
		}
		if tier := r.Header.Get(HeaderServiceTier); tier != "" {
			w.Header().Set(HeaderServiceTier, tier)
		}
		latency := max(time.Since(start), time.Millisecond).Milliseconds()
		if op == OpInvokeModel {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set(HeaderInputTokens, strconv.Itoa(ans.in))
			h.Set(HeaderOutputTokens, strconv.Itoa(ans.out))
			h.Set(HeaderLatency, strconv.FormatInt(latency, 10))
			w.Write(ans.body)
			return
		}
		if ans.noStream {
			converse.WriteHTTPErrorType(w, reqID, "ValidationException", "The model "+modelID+" does not support response streaming.")
			return
		}
		w.Header().Set("Content-Type", converse.StreamContentType)
		w.Header().Set("X-Amzn-Bedrock-Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		ew := converse.NewEventWriter(w)
		for i, c := range ans.chunks {
			if p.streamFault != nil && i == p.streamFault.after {
				ew.WriteException(p.streamFault.exceptionType, p.streamFault.message)
				return
			}
			if i == len(ans.chunks)-1 {
				c = converse.WithMetrics(c, converse.MetricsOf(llm.Usage{InputTokens: ans.in, OutputTokens: ans.out}, latency, latency))
			}
			if err := ew.WriteChunk(c); err != nil {
				return
			}
		}
	}
}

func answerNative(modelID string, body []byte) (*nativeAnswer, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, llm.Errorf(llm.KindValidation, "Malformed input request: %v", err)
	}
	switch {
	case probe["inputText"] != nil:
		return titanEmbed(body)
	case probe["texts"] != nil:
		return cohereEmbed(modelID, body)
	case probe["prompt"] != nil:
		return promptEcho(body)
	}
	b, _ := json.Marshal(map[string]json.RawMessage{"echo": body})
	n := tokens(string(body))
	return &nativeAnswer{body: b, chunks: [][]byte{b}, in: n, out: tokens(string(b))}, nil
}

func titanEmbed(body []byte) (*nativeAnswer, error) {
	var in struct {
		InputText      string   `json:"inputText"`
		Dimensions     int      `json:"dimensions"`
		Normalize      *bool    `json:"normalize"`
		EmbeddingTypes []string `json:"embeddingTypes"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, llm.Errorf(llm.KindValidation, "Malformed input request: %v, please reformat your input and try again.", err)
	}
	switch in.Dimensions {
	case 0:
		in.Dimensions = 1024
	case 256, 512, 1024:
	default:
		return nil, llm.Errorf(llm.KindValidation, "Malformed input request: #/dimensions: %d is not a valid enum value, please reformat your input and try again.", in.Dimensions)
	}
	if in.InputText == "" {
		return nil, llm.Errorf(llm.KindValidation, "Malformed input request: #/inputText: expected minLength: 1, actual: 0, please reformat your input and try again.")
	}
	vec := hashvec.Vector(in.InputText, in.Dimensions)
	n := tokens(in.InputText)
	out := map[string]any{"embedding": vec, "inputTextTokenCount": n}
	if len(in.EmbeddingTypes) > 0 {
		by := map[string]any{}
		for _, t := range in.EmbeddingTypes {
			by[t] = vec
		}
		out["embeddingsByType"] = by
	}
	b, _ := json.Marshal(out)
	return &nativeAnswer{body: b, in: n, noStream: true}, nil
}

func cohereEmbed(modelID string, body []byte) (*nativeAnswer, error) {
	var in struct {
		Texts          []string `json:"texts"`
		InputType      string   `json:"input_type"`
		EmbeddingTypes []string `json:"embedding_types"`
		Truncate       string   `json:"truncate"`
		OutputDim      int      `json:"output_dimension"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, llm.Errorf(llm.KindValidation, "Malformed input request: %v", err)
	}
	switch {
	case len(in.Texts) == 0 || len(in.Texts) > 96:
		return nil, llm.Errorf(llm.KindValidation, "Malformed input request: texts must hold 1 to 96 texts, got %d", len(in.Texts))
	case in.InputType == "":
		return nil, llm.Errorf(llm.KindValidation, "Malformed input request: #: required key [input_type] not found")
	}
	dims := 1024
	if in.OutputDim > 0 {
		dims = in.OutputDim
	}
	vecs := make([][]float32, len(in.Texts))
	n := 0
	for i, t := range in.Texts {
		vecs[i] = hashvec.Vector(t, dims)
		n += tokens(t)
	}
	out := map[string]any{"id": "fake-" + shortHash(modelID, strings.Join(in.Texts, "\x00")), "texts": in.Texts}
	if len(in.EmbeddingTypes) == 0 {
		out["embeddings"], out["response_type"] = vecs, "embeddings_floats"
	} else {
		by := map[string]any{}
		for _, t := range in.EmbeddingTypes {
			if t != "float" {
				return nil, llm.Errorf(llm.KindValidation, "fake Bedrock: embedding type %q is not simulated (float only)", t)
			}
			by[t] = vecs
		}
		out["embeddings"], out["response_type"] = by, "embeddings_by_type"
	}
	b, _ := json.Marshal(out)
	return &nativeAnswer{body: b, in: n, noStream: true}, nil
}

func promptEcho(body []byte) (*nativeAnswer, error) {
	var in struct {
		Prompt  string `json:"prompt"`
		MaxTok  int    `json:"max_gen_len"`
		MaxTok2 int    `json:"max_tokens"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, llm.Errorf(llm.KindValidation, "Malformed input request: %v", err)
	}
	text := "echo: " + in.Prompt
	stop := "stop"
	if limit := max(in.MaxTok, in.MaxTok2); limit > 0 && tokens(text) > limit {
		text, stop = truncateTokens(text, limit), "length"
	}
	pin, pout := tokens(in.Prompt), tokens(text)
	b, _ := json.Marshal(map[string]any{"generation": text, "prompt_token_count": pin, "generation_token_count": pout, "stop_reason": stop})
	var chunks [][]byte
	parts := chunks4(text)
	for i, part := range parts {
		c := map[string]any{"generation": part, "prompt_token_count": nil, "generation_token_count": i + 1, "stop_reason": nil}
		if i == 0 {
			c["prompt_token_count"] = pin
		}
		if i == len(parts)-1 {
			c["stop_reason"], c["generation_token_count"] = stop, pout
		}
		cb, _ := json.Marshal(c)
		chunks = append(chunks, cb)
	}
	return &nativeAnswer{body: b, chunks: chunks, in: pin, out: pout}, nil
}

// chunks4 splits s into pieces of about four words.
func chunks4(s string) []string {
	words := strings.SplitAfter(s, " ")
	var out []string
	for i := 0; i < len(words); i += 4 {
		out = append(out, strings.Join(words[i:min(i+4, len(words))], ""))
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// MetricsOf reads amazon-bedrock-invocationMetrics from a stream chunk, for
// tests; ok is false when the chunk has none.
func MetricsOf(chunk []byte) (in, out int, ok bool) {
	m, ok := converse.ReadMetrics(chunk)
	return m.InputTokenCount, m.OutputTokenCount, ok
}
