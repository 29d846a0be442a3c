package openaiwire

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"

	"github.com/penny-gateway/penny/internal/llm"
)

// EmbeddingRequest is POST /v1/embeddings.
type EmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	Dimensions     *int            `json:"dimensions,omitempty"`
	User           string          `json:"user,omitempty"`
}

// EmbeddingResponse is the answer to an EmbeddingRequest.
type EmbeddingResponse struct {
	Object string           `json:"object"`
	Data   []EmbeddingDatum `json:"data"`
	Model  string           `json:"model"`
	Usage  EmbeddingUsage   `json:"usage"`
}

// EmbeddingDatum is one vector: a list of floats, or with encoding_format
// "base64" the little-endian float32 bytes in base64, as OpenAI sends.
type EmbeddingDatum struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// EmbeddingUsage counts the input tokens.
type EmbeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// MaxEmbeddingInputs is how many texts one request may embed (OpenAI's
// own limit).
const MaxEmbeddingInputs = 2048

// DecodeEmbeddingRequest decodes an embeddings request into an llm.Request
// with Embed set, and the encoding format asked for ("float" or
// "base64"). Token-array inputs are refused: Bedrock's embedding models
// take text.
func DecodeEmbeddingRequest(body []byte) (*llm.Request, string, error) {
	var er EmbeddingRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&er); err != nil {
		return nil, "", jsonError(err, body, nil)
	}
	if er.Model == "" {
		return nil, "", invalid("model", "is required")
	}
	format := er.EncodingFormat
	switch format {
	case "":
		format = "float"
	case "float", "base64":
	default:
		return nil, "", invalid("encoding_format", "%q is not float or base64", er.EncodingFormat)
	}
	texts, err := embeddingInput(er.Input)
	if err != nil {
		return nil, "", err
	}
	req := &llm.Request{Model: er.Model, Embed: &llm.EmbedInput{Texts: texts}}
	if d := er.Dimensions; d != nil {
		if *d < 1 {
			return nil, "", invalid("dimensions", "must be at least 1")
		}
		req.Embed.Dimensions = *d
	}
	if er.User != "" {
		req.Meta.Tags = map[string]string{"user": er.User}
	}
	return req, format, nil
}

func embeddingInput(raw json.RawMessage) ([]string, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, invalid("input", "is required")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, invalid("input", "must not be empty")
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		var tokens []json.Number
		var nested [][]json.Number
		if json.Unmarshal(raw, &tokens) == nil || json.Unmarshal(raw, &nested) == nil {
			return nil, unsupported("input", "token arrays are not supported: Bedrock's embedding models take text; send strings")
		}
		return nil, invalid("input", "must be a string or an array of strings")
	}
	switch {
	case len(many) == 0:
		return nil, invalid("input", "must not be empty")
	case len(many) > MaxEmbeddingInputs:
		return nil, invalid("input", "holds %d texts; at most %d per request", len(many), MaxEmbeddingInputs)
	}
	for i, s := range many {
		if s == "" {
			return nil, invalid("input", "item %d is empty", i)
		}
	}
	return many, nil
}

// EncodeEmbeddingResponse is the OpenAI answer for resp.
func EncodeEmbeddingResponse(resp *llm.Response, model, format string) *EmbeddingResponse {
	out := &EmbeddingResponse{Object: "list", Model: model, Data: make([]EmbeddingDatum, len(resp.Embeddings)),
		Usage: EmbeddingUsage{PromptTokens: resp.Usage.TotalInput(), TotalTokens: resp.Usage.TotalInput()}}
	for i, v := range resp.Embeddings {
		d := EmbeddingDatum{Object: "embedding", Index: i, Embedding: v}
		if format == "base64" {
			b := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
			}
			d.Embedding = base64.StdEncoding.EncodeToString(b)
		}
		out.Data[i] = d
	}
	return out
}
