package gateway

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/penny-gateway/penny/internal/llm"
)

// Titan Text Embeddings and Cohere Embed InvokeModel bodies become
// embeddings requests (Request.Embed) and are answered in the model's own
// JSON. What Request.Embed cannot carry is refused by name.

// titanEmbedRequest is Titan Text Embeddings' body (v1 takes only
// inputText).
type titanEmbedRequest struct {
	InputText      *string  `json:"inputText"`
	Dimensions     *int     `json:"dimensions"`
	Normalize      *bool    `json:"normalize"`
	EmbeddingTypes []string `json:"embeddingTypes"`
}

// decodeTitanEmbed decodes Titan's body; byType says whether the client
// named embeddingTypes, which asks for embeddingsByType in the answer.
func decodeTitanEmbed(body []byte) (req *llm.Request, byType bool, err error) {
	var tr titanEmbedRequest
	if err := strictJSON(body, &tr); err != nil {
		return nil, false, err
	}
	if tr.InputText == nil || *tr.InputText == "" {
		return nil, false, llm.Errorf(llm.KindValidation, "inputText: is required and must not be empty")
	}
	in := &llm.EmbedInput{Texts: []string{*tr.InputText}, Normalize: tr.Normalize}
	if d := tr.Dimensions; d != nil {
		if *d != 256 && *d != 512 && *d != 1024 {
			return nil, false, llm.Errorf(llm.KindValidation, "dimensions: must be 256, 512 or 1024, got %d", *d)
		}
		in.Dimensions = *d
	}
	if err := floatOnly("embeddingTypes", tr.EmbeddingTypes); err != nil {
		return nil, false, err
	}
	return &llm.Request{Embed: in}, len(tr.EmbeddingTypes) > 0, nil
}

func floatOnly(field string, types []string) error {
	for _, t := range types {
		if t != "float" {
			return llm.Errorf(llm.KindUnsupported, "%s: %q embeddings are not supported by Penny; ask for \"float\"", field, t)
		}
	}
	return nil
}

// encodeTitanEmbed writes Titan's answer: the vector, the input token
// count, and embeddingsByType when the request named embeddingTypes.
func encodeTitanEmbed(resp *llm.Response, byType bool) ([]byte, error) {
	if len(resp.Embeddings) != 1 {
		return nil, llm.Errorf(llm.KindInternal, "the upstream answered %d embeddings for one text", len(resp.Embeddings))
	}
	out := map[string]any{"embedding": resp.Embeddings[0], "inputTextTokenCount": resp.Usage.InputTokens}
	if byType {
		out["embeddingsByType"] = map[string]any{"float": resp.Embeddings[0]}
	}
	return json.Marshal(out)
}

// cohereEmbedRequest is Cohere Embed's body.
type cohereEmbedRequest struct {
	Texts          []string        `json:"texts"`
	InputType      string          `json:"input_type"`
	Truncate       string          `json:"truncate"`
	EmbeddingTypes []string        `json:"embedding_types"`
	Images         json.RawMessage `json:"images"`
}

// decodeCohereEmbed decodes Cohere's body; byType says whether the client
// named embedding_types, which asks for embeddings by type in the answer.
func decodeCohereEmbed(body []byte) (req *llm.Request, byType bool, err error) {
	var cr cohereEmbedRequest
	if err := strictJSON(body, &cr); err != nil {
		return nil, false, err
	}
	switch {
	case len(cr.Images) > 0 && string(cr.Images) != "null":
		err = llm.Errorf(llm.KindUnsupported, "images: image embeddings are not supported by Penny")
	case len(cr.Texts) == 0:
		err = llm.Errorf(llm.KindValidation, "texts: must contain at least one text")
	case len(cr.Texts) > 96:
		err = llm.Errorf(llm.KindValidation, "texts: at most 96 texts per call, got %d", len(cr.Texts))
	case !slices.Contains([]string{"search_document", "search_query", "classification", "clustering"}, cr.InputType):
		err = llm.Errorf(llm.KindValidation, "input_type: must be search_document, search_query, classification or clustering; got %q", cr.InputType)
	case cr.Truncate != "" && cr.Truncate != "NONE":
		err = llm.Errorf(llm.KindUnsupported, "truncate: %q is not supported by Penny; shorten the texts", cr.Truncate)
	default:
		err = floatOnly("embedding_types", cr.EmbeddingTypes)
	}
	if err != nil {
		return nil, false, err
	}
	return &llm.Request{Embed: &llm.EmbedInput{Texts: cr.Texts, Purpose: cr.InputType}}, len(cr.EmbeddingTypes) > 0, nil
}

// encodeCohereEmbed writes Cohere's answer: embeddings as a list
// ("embeddings_floats"), or by type when the request named
// embedding_types ("embeddings_by_type").
func encodeCohereEmbed(req *llm.Request, resp *llm.Response, byType bool) ([]byte, error) {
	in := req.Embed
	if in == nil || len(resp.Embeddings) != len(in.Texts) {
		return nil, llm.Errorf(llm.KindInternal, "the upstream answered %d embeddings for %d texts", len(resp.Embeddings), len(in.Texts))
	}
	out := map[string]any{"id": req.Meta.RequestID, "texts": in.Texts, "embeddings": resp.Embeddings, "response_type": "embeddings_floats"}
	if byType {
		out["embeddings"] = map[string]any{"float": resp.Embeddings}
		out["response_type"] = "embeddings_by_type"
	}
	return json.Marshal(out)
}

// strictJSON decodes a JSON object into v, refusing unknown members.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return llm.Errorf(llm.KindValidation, "malformed request body: %v", err)
	}
	return nil
}
