package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// InvokeModel carries what Converse cannot: embeddings (Titan Text
// Embeddings, Cohere Embed) and model-native bodies passed through
// unchanged. Bedrock reports their usage in response headers (and, for
// streams, in the last chunk's amazon-bedrock-invocationMetrics).

// Headers of InvokeModel answers.
const (
	headerInputTokens  = "X-Amzn-Bedrock-Input-Token-Count"
	headerOutputTokens = "X-Amzn-Bedrock-Output-Token-Count"
	headerLatency      = "X-Amzn-Bedrock-Invocation-Latency"
	headerCacheRead    = "X-Amzn-Bedrock-Cache-Read-Input-Token-Count"
	headerCacheWrite   = "X-Amzn-Bedrock-Cache-Write-Input-Token-Count"
)

// titanParallel bounds the concurrent calls of one Titan embeddings
// request (Titan embeds one text per call).
const titanParallel = 8

// cohereBatch is how many texts one Cohere Embed call takes.
const cohereBatch = 96

// invokeModel calls InvokeModel and returns the answer and its headers.
func (p *Provider) invokeModel(ctx context.Context, model string, body []byte, contentType, accept string, tier llm.ServiceTier) (*bedrockruntime.InvokeModelOutput, http.Header, error) {
	if contentType == "" {
		contentType = "application/json"
	}
	in := &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: body, ContentType: aws.String(contentType),
		ServiceTier: types.ServiceTierType(tier)}
	if accept != "" {
		in.Accept = aws.String(accept)
	}
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	var h http.Header
	out, err := p.client.InvokeModel(ctx, in, withHeaders(&h))
	if err != nil {
		return nil, nil, mapError(ctx, err)
	}
	return out, h, nil
}

// withHeaders copies the raw HTTP response headers of a call into *h.
func withHeaders(h *http.Header) func(*bedrockruntime.Options) {
	return func(o *bedrockruntime.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Deserialize.Add(middleware.DeserializeMiddlewareFunc("pennyInvokeHeaders",
				func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleDeserialize(ctx, in)
					if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
						*h = resp.Header
					}
					return out, md, err
				}), middleware.After)
		})
	}
}

// usageFromHeaders reads the token counts of an InvokeModel answer.
func usageFromHeaders(h http.Header) (llm.Usage, time.Duration) {
	n := func(name string) int {
		v, _ := strconv.Atoi(h.Get(name))
		return v
	}
	return llm.Usage{InputTokens: n(headerInputTokens), OutputTokens: n(headerOutputTokens),
		CacheReadTokens: n(headerCacheRead), CacheWriteTokens: n(headerCacheWrite)}, time.Duration(n(headerLatency)) * time.Millisecond
}

// invokeNative passes a native body through.
func (p *Provider) invokeNative(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	n := req.Native
	out, h, err := p.invokeModel(ctx, req.Model, n.Body, n.ContentType, n.Accept, req.ServiceTier)
	if err != nil {
		return nil, err
	}
	u, lat := usageFromHeaders(h)
	return &llm.Response{Native: &llm.NativeBody{Body: out.Body, ContentType: aws.ToString(out.ContentType)},
		Usage: u, Latency: lat, ServiceTier: llm.ServiceTier(out.ServiceTier), StopReason: llm.StopEndTurn}, nil
}

// embed answers an embeddings request with the model's own body shape.
func (p *Provider) embed(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	e := req.Embed
	if len(e.Texts) == 0 {
		return nil, llm.Errorf(llm.KindValidation, "embeddings: no input to embed")
	}
	switch family := embedFamily(req.Model); family {
	case "titan":
		return p.embedTitan(ctx, req)
	case "cohere":
		return p.embedCohere(ctx, req)
	default:
		return nil, llm.Errorf(llm.KindUnsupported, "embeddings: Penny does not know the request shape of model %s (it knows Titan Text Embeddings and Cohere Embed)", req.Model)
	}
}

// embedFamily names the embeddings body family of an upstream model id.
func embedFamily(model string) string {
	switch {
	case strings.Contains(model, "titan-embed"):
		return "titan"
	case strings.Contains(model, "cohere.embed"):
		return "cohere"
	}
	return ""
}

func (p *Provider) embedTitan(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	e := req.Embed
	if e.Purpose != "" {
		return nil, llm.Errorf(llm.KindUnsupported, "embeddings: Titan Text Embeddings takes no input type (%q); it is a Cohere Embed parameter", e.Purpose)
	}
	vecs := make([][]float32, len(e.Texts))
	tokens := make([]int, len(e.Texts))
	var tier llm.ServiceTier
	var mu sync.Mutex
	var latency time.Duration
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(titanParallel)
	for i, text := range e.Texts {
		g.Go(func() error {
			body := map[string]any{"inputText": text}
			if e.Dimensions > 0 {
				body["dimensions"] = e.Dimensions
			}
			if e.Normalize != nil {
				body["normalize"] = *e.Normalize
			}
			b, _ := json.Marshal(body)
			out, h, err := p.invokeModel(gctx, req.Model, b, "", "application/json", req.ServiceTier)
			if err != nil {
				return err
			}
			var ans struct {
				Embedding []float32 `json:"embedding"`
				Tokens    int       `json:"inputTextTokenCount"`
			}
			if err := json.Unmarshal(out.Body, &ans); err != nil || len(ans.Embedding) == 0 {
				return llm.Errorf(llm.KindInternal, "bedrock: unreadable Titan embeddings answer: %v", err)
			}
			u, lat := usageFromHeaders(h)
			vecs[i], tokens[i] = ans.Embedding, max(ans.Tokens, u.InputTokens)
			mu.Lock()
			tier, latency = llm.ServiceTier(out.ServiceTier), max(latency, lat)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	resp := &llm.Response{Embeddings: vecs, Latency: latency, ServiceTier: tier, StopReason: llm.StopEndTurn}
	for _, n := range tokens {
		resp.Usage.InputTokens += n
	}
	return resp, nil
}

func (p *Provider) embedCohere(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	e := req.Embed
	if e.Normalize != nil {
		return nil, llm.Errorf(llm.KindUnsupported, "embeddings: Cohere Embed has no normalize setting (its vectors are returned as the model makes them)")
	}
	purpose := e.Purpose
	if purpose == "" {
		purpose = "search_document"
	}
	resp := &llm.Response{StopReason: llm.StopEndTurn}
	for start := 0; start < len(e.Texts); start += cohereBatch {
		texts := e.Texts[start:min(start+cohereBatch, len(e.Texts))]
		body := map[string]any{"texts": texts, "input_type": purpose}
		if e.Dimensions > 0 {
			body["output_dimension"] = e.Dimensions
		}
		b, _ := json.Marshal(body)
		out, h, err := p.invokeModel(ctx, req.Model, b, "", "application/json", req.ServiceTier)
		if err != nil {
			return nil, err
		}
		vecs, err := cohereVectors(out.Body)
		if err != nil {
			return nil, err
		}
		if len(vecs) != len(texts) {
			return nil, llm.Errorf(llm.KindInternal, "bedrock: Cohere Embed answered %d vectors for %d texts", len(vecs), len(texts))
		}
		u, lat := usageFromHeaders(h)
		resp.Embeddings = append(resp.Embeddings, vecs...)
		resp.Usage.InputTokens += u.InputTokens
		resp.Latency += lat
		resp.ServiceTier = llm.ServiceTier(out.ServiceTier)
	}
	return resp, nil
}

// cohereVectors reads Cohere Embed's answer: "embeddings" is a list of
// float vectors (response_type embeddings_floats), or an object by type
// (embeddings_by_type, Embed v4's default) of which Penny reads "float".
func cohereVectors(body []byte) ([][]float32, error) {
	var ans struct {
		Embeddings json.RawMessage `json:"embeddings"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, llm.Errorf(llm.KindInternal, "bedrock: unreadable Cohere Embed answer: %v", err)
	}
	var flat [][]float32
	if err := json.Unmarshal(ans.Embeddings, &flat); err == nil {
		return flat, nil
	}
	var byType struct {
		Float [][]float32 `json:"float"`
	}
	if err := json.Unmarshal(ans.Embeddings, &byType); err != nil || byType.Float == nil {
		return nil, llm.Errorf(llm.KindInternal, "bedrock: Cohere Embed answer has no float embeddings")
	}
	return byType.Float, nil
}

// streamNative passes a native body through InvokeModelWithResponseStream:
// each chunk becomes an EventNative with the model's own bytes, and the
// invocation metrics of the last chunk a closing EventMetadata.
func (p *Provider) streamNative(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	n := req.Native
	ct := n.ContentType
	if ct == "" {
		ct = "application/json"
	}
	in := &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(req.Model), Body: n.Body,
		ContentType: aws.String(ct), ServiceTier: types.ServiceTierType(req.ServiceTier)}
	if n.Accept != "" {
		in.Accept = aws.String(n.Accept)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	s := &nativeStream{ctx: ctx, cancel: cancel}
	if p.timeout > 0 {
		t := time.AfterFunc(p.timeout, func() { cancel(errIdleTimeout) })
		defer t.Stop()
	}
	out, err := p.client.InvokeModelWithResponseStream(ctx, in)
	if err != nil {
		err = mapError(ctx, err)
		cancel(err)
		return nil, err
	}
	s.es, s.tier = out.GetStream(), llm.ServiceTier(out.ServiceTier)
	return s, nil
}

type nativeStream struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	es     *bedrockruntime.InvokeModelWithResponseStreamEventStream
	tier   llm.ServiceTier
	usage  *llm.Usage
	lat    time.Duration
	done   bool // the metadata event was sent
	err    error
	once   sync.Once
}

func (s *nativeStream) Recv() (llm.Event, error) {
	if s.err != nil {
		return llm.Event{}, s.err
	}
	ev, ok := <-s.es.Events()
	if !ok {
		err := s.es.Err()
		switch {
		case err != nil && s.usage == nil:
			s.err = mapError(s.ctx, err)
		case err == nil && s.ctx.Err() != nil && s.usage == nil:
			s.err = mapError(s.ctx, s.ctx.Err())
		case s.usage != nil && !s.done:
			s.done = true
			return llm.Event{Type: llm.EventMetadata, Usage: s.usage, Latency: s.lat, ServiceTier: s.tier}, nil
		default:
			s.err = io.EOF
		}
		s.Close()
		return llm.Event{}, s.err
	}
	switch v := ev.(type) {
	case *types.ResponseStreamMemberChunk:
		if m, ok := converse.ReadMetrics(v.Value.Bytes); ok {
			u := m.Usage()
			s.usage, s.lat = &u, time.Duration(m.InvocationLatency)*time.Millisecond
		}
		return llm.Event{Type: llm.EventNative, Native: v.Value.Bytes}, nil
	default:
		s.err = llm.Errorf(llm.KindInternal, "bedrock: unexpected stream event %T", ev)
		return llm.Event{}, s.err
	}
}

func (s *nativeStream) Close() error {
	s.once.Do(func() {
		s.cancel(errors.New("stream closed"))
		s.es.Close()
	})
	return nil
}
