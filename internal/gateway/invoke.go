package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/anthropicwire"
	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// handleInvoke serves POST /model/{modelId}/invoke, Bedrock's InvokeModel.
func (s *Server) handleInvoke(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "invoke", &invokeAPI{streamed: false})
}

// handleInvokeStream serves POST /model/{modelId}/invoke-with-response-stream.
func (s *Server) handleInvokeStream(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "invoke", &invokeAPI{streamed: true})
}

// family is the kind of native body an InvokeModel request carries.
type family int

const (
	// familyNative is any body Penny does not translate: it is passed to
	// Bedrock unchanged (Request.Native).
	familyNative family = iota
	familyAnthropic
	familyNova
	familyTitanEmbed
	familyCohereEmbed
)

// InvokeModel request and answer headers, as the AWS SDK names them.
const (
	hdrServiceTier     = "X-Amzn-Bedrock-Service-Tier"
	hdrInputTokens     = "X-Amzn-Bedrock-Input-Token-Count"
	hdrOutputTokens    = "X-Amzn-Bedrock-Output-Token-Count"
	hdrCacheRead       = "X-Amzn-Bedrock-Cache-Read-Input-Token-Count"
	hdrCacheWrite      = "X-Amzn-Bedrock-Cache-Write-Input-Token-Count"
	hdrLatency         = "X-Amzn-Bedrock-Invocation-Latency"
	hdrStreamType      = "X-Amzn-Bedrock-Content-Type"
	hdrStreamAccept    = "X-Amzn-Bedrock-Accept"
	hdrGuardrail       = "X-Amzn-Bedrock-GuardrailIdentifier"
	hdrTrace           = "X-Amzn-Bedrock-Trace"
	hdrPerformance     = "X-Amzn-Bedrock-PerformanceConfig-Latency"
	hdrRequestMetadata = "X-Amzn-Bedrock-Request-Metadata"
)

// invokeAPI is the InvokeModel frontend. The body's family decides how it
// is translated: Anthropic and Nova bodies become ordinary requests (the
// upstream call is Converse) answered in the model's own JSON; Titan and
// Cohere embedding bodies become embeddings requests; anything else is
// passed through.
type invokeAPI struct {
	streamed bool
	family   family
	// byType: an embeddings body asked for embeddings by type.
	byType bool
}

func (a *invokeAPI) start(c *call, r *http.Request) {
	c.requested = modelParam(r)
	c.req.Meta.Stream = a.streamed
}

func (a *invokeAPI) decode(c *call, r *http.Request, body []byte) (*llm.Request, error) {
	a.family = sniffFamily(body)
	var (
		req *llm.Request
		err error
	)
	switch a.family {
	case familyAnthropic:
		req, err = anthropicwire.DecodeRequest(body, anthropicwire.Options{Dialect: anthropicwire.Bedrock})
	case familyNova:
		req, err = converse.DecodeNovaRequest(body)
	case familyTitanEmbed:
		req, a.byType, err = decodeTitanEmbed(body)
	case familyCohereEmbed:
		req, a.byType, err = decodeCohereEmbed(body)
	default:
		req = &llm.Request{Native: &llm.NativeBody{Body: bytes.Clone(body),
			ContentType: r.Header.Get("Content-Type"), Accept: invokeAccept(r, a.streamed)}}
		if t, err := c.s.opts.Catalog.Resolve(c.requested); err == nil && t.Model != nil {
			// Routing may pick another model: it must be of this family.
			req.Native.Family = t.Model.Vendor
		}
	}
	if err != nil {
		return nil, err
	}
	if req.Embed != nil && a.streamed {
		return nil, llm.Errorf(llm.KindValidation, "embedding models do not stream: call /model/%s/invoke", c.requested)
	}
	if err := invokeHeaders(r, req); err != nil {
		return nil, err
	}
	req.Model = c.requested
	req.Meta.Stream = a.streamed
	return req, nil
}

// sniffFamily tells a body's family from its content: Anthropic's has
// anthropic_version; Nova's has schemaVersion, inferenceConfig or
// toolConfig, or Converse-style content blocks (objects without "type");
// Titan Text Embeddings' has inputText without Titan Text's
// textGenerationConfig; Cohere Embed's has texts. Anything else, and
// anything that is not a JSON object, is native.
func sniffFamily(body []byte) family {
	var top map[string]sniffed
	if json.Unmarshal(body, &top) != nil {
		return familyNative
	}
	_, has := top["anthropic_version"]
	switch {
	case has:
		return familyAnthropic
	case top["schemaVersion"] != nil, top["inferenceConfig"] != nil, top["toolConfig"] != nil:
		return familyNova
	case top["inputText"] != nil && top["textGenerationConfig"] == nil:
		return familyTitanEmbed
	case top["texts"] != nil && top["message"] == nil:
		return familyCohereEmbed
	case top["messages"] != nil && converseContent(top["messages"]):
		return familyNova
	}
	return familyNative
}

// converseContent reports whether the first message's content is a list
// of Converse-style blocks ({"text": …} rather than {"type": "text", …}).
func converseContent(raw sniffed) bool {
	var msgs []struct {
		Content sniffed `json:"content"`
	}
	if json.Unmarshal(raw, &msgs) != nil || len(msgs) == 0 {
		return false
	}
	var blocks []map[string]sniffed
	if json.Unmarshal(msgs[0].Content, &blocks) != nil || len(blocks) == 0 {
		return false
	}
	_, typed := blocks[0]["type"]
	return !typed
}

// sniffed is a JSON value as sniffFamily looks at it: the bytes of the
// body it was found in, not a copy (a json.RawMessage would copy an image
// of megabytes just to tell the body's family).
type sniffed []byte

func (s *sniffed) UnmarshalJSON(b []byte) error {
	*s = b
	return nil
}

// invokeAccept is the MIME type the client accepts for the answer.
func invokeAccept(r *http.Request, streamed bool) string {
	if streamed {
		return r.Header.Get(hdrStreamAccept)
	}
	return r.Header.Get("Accept")
}

// invokeHeaders applies InvokeModel's request headers: the service tier,
// request metadata (ledger tags, as Converse's requestMetadata), and
// refuses the features Penny does not serve.
func invokeHeaders(r *http.Request, req *llm.Request) error {
	h := r.Header
	if v := h.Get(hdrServiceTier); v != "" {
		t := llm.ServiceTier(v)
		if !t.Valid() {
			return llm.Errorf(llm.KindValidation, "%s: %q is not one of default, priority, flex, reserved", hdrServiceTier, v)
		}
		req.ServiceTier = t
	}
	if h.Get(hdrGuardrail) != "" {
		return llm.Errorf(llm.KindUnsupported, "%s: guardrails are not supported by Penny", hdrGuardrail)
	}
	if v := h.Get(hdrTrace); v != "" && !strings.EqualFold(v, "DISABLED") {
		return llm.Errorf(llm.KindUnsupported, "%s: guardrail traces are not supported by Penny", hdrTrace)
	}
	if v := h.Get(hdrPerformance); v != "" && v != "standard" {
		return llm.Errorf(llm.KindUnsupported, "%s: latency %q is not supported by Penny", hdrPerformance, v)
	}
	if v := h.Get(hdrRequestMetadata); v != "" {
		var md map[string]string
		if err := json.Unmarshal([]byte(v), &md); err != nil {
			return llm.Errorf(llm.KindValidation, "%s: must be a JSON object of strings: %v", hdrRequestMetadata, err)
		}
		req.Meta.Tags = mergeTags(req.Meta.Tags, md)
	}
	return nil
}

func (a *invokeAPI) fail(c *call, w http.ResponseWriter, err error) { c.converseError(w, err) }

func (a *invokeAPI) answer(c *call, w http.ResponseWriter, resp *llm.Response) {
	var (
		out []byte
		err error
	)
	contentType := "application/json"
	switch a.family {
	case familyAnthropic:
		out, err = json.Marshal(anthropicwire.EncodeResponse(resp, "msg_"+c.req.Meta.RequestID, c.req.Model, c.req.Config.StopSequences))
	case familyNova:
		out, err = converse.EncodeNovaResponse(resp)
	case familyTitanEmbed:
		out, err = encodeTitanEmbed(resp, a.byType)
	case familyCohereEmbed:
		out, err = encodeCohereEmbed(c.req, resp, a.byType)
	default:
		if resp.Native == nil {
			err = llm.Errorf(llm.KindInternal, "the upstream answered a passed-through body without its native answer")
			break
		}
		out = resp.Native.Body
		if resp.Native.ContentType != "" {
			contentType = resp.Native.ContentType
		}
	}
	if err != nil {
		c.converseError(w, llm.Errorf(llm.KindInternal, "encoding answer: %w", err))
		return
	}
	h := w.Header()
	c.setHeaders(w)
	c.setCostHeaders(h)
	h.Set("Content-Type", contentType)
	h.Set("x-amzn-RequestId", c.req.Meta.RequestID)
	setUsageHeaders(h, resp.Usage)
	latency := resp.Latency.Milliseconds()
	if latency <= 0 {
		latency = c.s.opts.Now().Sub(c.received).Milliseconds()
	}
	h.Set(hdrLatency, strconv.FormatInt(latency, 10))
	if t := servedTier(c.req, resp.ServiceTier); t != "" {
		h.Set(hdrServiceTier, string(t))
	}
	w.Write(out)
}

// setUsageHeaders writes Bedrock's token-count headers; the cache counts
// only when there are any, and only for translated answers' usage.
func setUsageHeaders(h http.Header, u llm.Usage) {
	h.Set(hdrInputTokens, strconv.Itoa(u.InputTokens))
	h.Set(hdrOutputTokens, strconv.Itoa(u.OutputTokens))
	if u.CacheReadTokens != 0 || u.CacheWriteTokens != 0 {
		h.Set(hdrCacheRead, strconv.Itoa(u.CacheReadTokens))
		h.Set(hdrCacheWrite, strconv.Itoa(u.CacheWriteTokens))
	}
}

// servedTier is the tier an answer says it was served at, else the one
// asked for.
func servedTier(req *llm.Request, served llm.ServiceTier) llm.ServiceTier {
	if served != "" {
		return served
	}
	return req.ServiceTier
}

// stream answers with Bedrock's event stream of chunk frames, each
// carrying one event of the model's own stream; the last one of a
// translated answer carries amazon-bedrock-invocationMetrics, as Bedrock's
// does. Errors after the first event are exception frames.
func (a *invokeAPI) stream(c *call, w http.ResponseWriter, p *eventPump, first llm.Event) error {
	h := w.Header()
	c.setHeaders(w)
	h.Set("Content-Type", converse.StreamContentType)
	h.Set(hdrStreamType, "application/json")
	h.Set("x-amzn-RequestId", c.req.Meta.RequestID)
	if t := c.req.ServiceTier; t != "" {
		h.Set(hdrServiceTier, string(t))
	}
	h.Set("Trailer", streamTrailers)
	w.WriteHeader(http.StatusOK)
	ew := converse.NewEventWriter(w)
	ew.ManualFlush = true
	chunks := a.chunker(c)
	var werr error // a failed write: the client went away
	err := c.relay(p, first, func(ev llm.Event) {
		for _, ch := range chunks(ev) {
			if werr == nil {
				werr = ew.WriteChunk(ch)
			}
		}
	}, func() error {
		if werr == nil {
			werr = ew.Flush()
		}
		if werr != nil {
			return llm.Errorf(llm.KindCanceled, "client went away: %w", werr)
		}
		return nil
	})
	if errors.Is(err, io.EOF) {
		for _, ch := range chunks(llm.Event{}) {
			ew.WriteChunk(ch)
		}
		ew.Flush()
	} else if llm.KindOf(err) != llm.KindCanceled {
		ew.WriteError(err)
		ew.Flush()
	}
	p.stop() // settles an early end's bill before the trailers
	c.setCostHeaders(h)
	return err
}

// chunker returns what a stream's events become, as chunks of the body
// family's native stream; the zero Event asks for what closes a stream
// that ended without its final metadata.
func (a *invokeAPI) chunker(c *call) func(llm.Event) [][]byte {
	metrics := func(u llm.Usage) converse.InvocationMetrics {
		var firstByte int64
		if !c.firstTok.IsZero() {
			firstByte = c.firstTok.Sub(c.received).Milliseconds()
		}
		return converse.MetricsOf(u, c.s.opts.Now().Sub(c.received).Milliseconds(), firstByte)
	}
	usage := func(ev llm.Event) llm.Usage {
		if ev.Usage != nil {
			return *ev.Usage
		}
		return llm.Usage{}
	}
	switch a.family {
	case familyAnthropic:
		enc := &anthropicwire.StreamEncoder{ID: "msg_" + c.req.Meta.RequestID, Model: c.req.Model,
			Stops: c.req.Config.StopSequences, InputTokens: c.inputEstimate()}
		return func(ev llm.Event) [][]byte {
			var evs []anthropicwire.Event
			if ev.Type == "" {
				evs = enc.Finish()
			} else {
				enc.Model = c.req.Model
				evs = enc.Encode(ev)
			}
			out := make([][]byte, len(evs))
			for i, e := range evs {
				out[i] = e.Data
				if e.Type == "message_stop" {
					out[i] = converse.WithMetrics(e.Data, metrics(usage(ev)))
				}
			}
			return out
		}
	case familyNova:
		return func(ev llm.Event) [][]byte {
			if ev.Type == "" {
				return nil
			}
			out, _ := converse.NovaChunks(ev)
			if ev.Type == llm.EventMetadata && len(out) == 1 {
				out[0] = converse.WithMetrics(out[0], metrics(usage(ev)))
			}
			return out
		}
	}
	// A passed-through stream: the model's own chunks, Bedrock's metrics
	// included, as they came.
	return func(ev llm.Event) [][]byte {
		if ev.Type == llm.EventNative {
			return [][]byte{ev.Native}
		}
		return nil
	}
}
