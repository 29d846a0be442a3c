package gateway

import (
	"net/http"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// handleEmbeddings serves POST /v1/embeddings (OpenAI's embeddings API) on
// Bedrock's embedding models (Titan Text Embeddings, Cohere Embed).
func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "embeddings", &openaiEmbeddings{})
}

// openaiEmbeddings is the OpenAI embeddings frontend; it never streams.
type openaiEmbeddings struct{ format string }

func (*openaiEmbeddings) start(*call, *http.Request) {}

func (o *openaiEmbeddings) decode(c *call, r *http.Request, body []byte) (*llm.Request, error) {
	req, format, err := openaiwire.DecodeEmbeddingRequest(body)
	if err != nil {
		c.requested = sniffModel(body)
		return nil, err
	}
	o.format = format
	return req, nil
}

func (*openaiEmbeddings) fail(c *call, w http.ResponseWriter, err error) { c.openaiError(w, err) }

func (o *openaiEmbeddings) answer(c *call, w http.ResponseWriter, resp *llm.Response) {
	c.setHeaders(w)
	c.setCostHeaders(w.Header())
	writeJSON(w, http.StatusOK, openaiwire.EncodeEmbeddingResponse(resp, c.req.Model, o.format))
}

func (*openaiEmbeddings) stream(c *call, w http.ResponseWriter, p *eventPump, first llm.Event) error {
	return llm.Errorf(llm.KindInternal, "embeddings do not stream")
}
