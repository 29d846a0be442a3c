package llm

import (
	"encoding/json"
	"time"
)

// Role is the author of a message.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Request is one model call, shaped like Bedrock's Converse request so that
// translating to and from Converse is lossless.
type Request struct {
	// Model is what the client asked for: a catalog id or alias, a Bedrock
	// model id, inference profile id or ARN, or a route name. Stages may
	// rewrite it (routing); Meta.RequestedModel keeps the original.
	Model    string
	System   []SystemBlock
	Messages []Message
	Config   InferenceConfig
	Tools    *ToolConfig
	// Additional holds additionalModelRequestFields, passed to Bedrock as is.
	Additional json.RawMessage
	// ServiceTier is the Bedrock service tier to ask for ("" = the
	// default tier); what was served comes back on the Response.
	ServiceTier ServiceTier
	// Embed, if set, makes this an embeddings request (System and
	// Messages are empty): the answer carries Response.Embeddings.
	Embed *EmbedInput
	// Native, if set, is a model-native InvokeModel body Penny does not
	// translate (a family other than Anthropic, Nova, Titan, Cohere): the
	// provider sends it to Bedrock unchanged and the answer carries
	// Response.Native, priced from Bedrock's token-count headers.
	Native *NativeBody
	Meta   Meta
}

// EmbedInput is what an embeddings request embeds.
type EmbedInput struct {
	Texts []string
	// Dimensions is the vector size asked for; 0 means the model's default.
	Dimensions int
	// Purpose is Cohere's input_type ("search_document", "search_query",
	// "classification", "clustering"); "" when not set.
	Purpose string
	// Normalize asks for unit-length vectors (Titan v2's normalize); nil
	// means the model's default.
	Normalize *bool
}

// NativeBody is an InvokeModel body or answer passed through unchanged.
type NativeBody struct {
	Body        []byte
	ContentType string
	// Accept is the MIME type the client accepts for the answer.
	Accept string
	// Family, when known, is the vendor of the model the body was written
	// for (a catalog vendor: "meta", "mistral", …): a body routed to a
	// model of another family cannot be passed through.
	Family string
}

// InferenceConfig is Converse's inferenceConfig. Nil pointers mean "not set",
// so the provider's default applies.
type InferenceConfig struct {
	MaxTokens     *int
	Temperature   *float64
	TopP          *float64
	StopSequences []string
}

// SystemBlock is a system prompt part: text or a cache checkpoint.
type SystemBlock struct {
	Text       string
	CachePoint *CachePoint
}

// Message is one conversation turn.
type Message struct {
	Role    Role
	Content []Block
}

// BlockType names which field of a Block is set.
type BlockType string

const (
	BlockText       BlockType = "text"
	BlockImage      BlockType = "image"
	BlockDocument   BlockType = "document"
	BlockToolUse    BlockType = "toolUse"
	BlockToolResult BlockType = "toolResult"
	BlockCachePoint BlockType = "cachePoint"
	BlockReasoning  BlockType = "reasoningContent"
)

// Block is one content block of a message. Exactly one of the fields that
// match Type is set.
type Block struct {
	Type       BlockType
	Text       string      // BlockText, and the reasoning text for BlockReasoning
	Image      *Image      // BlockImage
	Document   *Document   // BlockDocument
	ToolUse    *ToolUse    // BlockToolUse
	ToolResult *ToolResult // BlockToolResult
	CachePoint *CachePoint // BlockCachePoint
	// Signature is the reasoning signature for BlockReasoning.
	Signature string
}

// TextBlock returns a text content block.
func TextBlock(s string) Block { return Block{Type: BlockText, Text: s} }

// Image is inline image data. Format is png, jpeg, gif or webp.
type Image struct {
	Format string
	Bytes  []byte
}

// Document is an inline document (pdf, csv, doc, docx, xls, xlsx, html, txt, md).
type Document struct {
	Format string
	Name   string
	Bytes  []byte
}

// ToolUse is the model's request to call a tool. Input is a JSON object.
type ToolUse struct {
	ID    string
	Name  string
	Input json.RawMessage
}

// ToolResult is the client's answer to a ToolUse.
type ToolResult struct {
	ToolUseID string
	Content   []ToolResultContent
	// Status is "" (success), "success" or "error".
	Status string
}

// ToolResultContent is one part of a tool result: text, JSON or an image.
type ToolResultContent struct {
	Text  string
	JSON  json.RawMessage
	Image *Image
}

// CachePoint marks the end of a prefix Bedrock may cache. TTL is "" (the
// default five minutes), "5m" or "1h".
type CachePoint struct {
	TTL string
}

// ToolConfig lists the tools the model may call.
type ToolConfig struct {
	Tools  []Tool
	Choice ToolChoice
}

// Tool is a tool specification, or a cache checkpoint in the tool list.
type Tool struct {
	Name        string
	Description string
	// InputSchema is a JSON Schema object.
	InputSchema json.RawMessage
	CachePoint  *CachePoint
}

// ToolChoiceMode says how the model must use tools.
type ToolChoiceMode string

const (
	ToolChoiceDefault ToolChoiceMode = ""     // not set: the model decides
	ToolChoiceAuto    ToolChoiceMode = "auto" // the model decides
	ToolChoiceAny     ToolChoiceMode = "any"  // the model must call some tool
	ToolChoiceTool    ToolChoiceMode = "tool" // the model must call Name
)

// ToolChoice is Converse's toolChoice.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string
}

// Mode is the consumption mode a request is priced under.
type Mode string

const (
	ModeOnDemand    Mode = "on_demand"
	ModeBatch       Mode = "batch"
	ModeProvisioned Mode = "provisioned"
)

// ServiceTier is a Bedrock service tier (Converse serviceTier.type,
// InvokeModel's service tier header).
type ServiceTier string

const (
	TierDefault  ServiceTier = "default"
	TierFlex     ServiceTier = "flex"
	TierPriority ServiceTier = "priority"
	TierReserved ServiceTier = "reserved"
)

// Valid reports whether t is empty or one of Bedrock's tiers.
func (t ServiceTier) Valid() bool {
	switch t {
	case "", TierDefault, TierFlex, TierPriority, TierReserved:
		return true
	}
	return false
}

// Meta carries who asked and how; it is never sent upstream.
type Meta struct {
	RequestID string
	Tenant    string
	KeyID     string
	// Route is the route the request was resolved through, if any.
	Route string
	// RequestedModel is Request.Model as the client sent it.
	RequestedModel string
	// BaselineModel is the catalog id the request would have used without
	// Penny; savings are measured against it.
	BaselineModel string
	Tags          map[string]string
	Mode          Mode
	// API is the frontend that decoded the request: "openai" or "converse".
	API string
	// Stream is true when the client asked for a streamed answer.
	Stream bool
	// Received is when the frontend received the request.
	Received time.Time
	// Cache says whether the answer came from Penny's response cache.
	Cache CacheStatus
	// Coalesced is true when the answer was shared from an identical
	// request in flight at the same time (Cache is then CacheHit).
	Coalesced bool
	// Provider is the upstream that answered: "bedrock", "sim", or the name
	// of an OpenAI-compatible upstream.
	Provider string
	// UpstreamModel is the model id the dispatcher called: a base id, an
	// inference profile id (us., global., …) or an ARN. Pricing reads
	// from it whether a global profile served the request.
	UpstreamModel string
	// PromptTokensSaved is set by the prompt policy stage: input tokens its
	// whitespace normalisation removed.
	PromptTokensSaved int
	// Attempts lists the upstream calls that failed before the answer (or
	// the final error), when a fallback stage retried; empty otherwise.
	Attempts []Attempt
	// Extra lists model calls made on the request's behalf besides the
	// answer (a routing agent's classification, a cascade's rejected cheap
	// attempt); the account stage adds their cost to the request's.
	Extra []Charge
	// Bill is set by the account stage when the request is priced.
	Bill Bill
	// ModelWarning, if set, is a warning about the model used (a legacy
	// model near retirement), sent to the client as x-penny-model-warning.
	ModelWarning string
}

// Charge is a model call made on a request's behalf.
type Charge struct {
	// Model is the catalog id of the model called.
	Model string
	Usage Usage
	// Why says what the call was for.
	Why ChargeReason
}

// ChargeReason says why a model call was made on a request's behalf.
type ChargeReason string

const (
	// ChargeRoutingAgent is a routing agent's classification of the request.
	ChargeRoutingAgent ChargeReason = "routing-agent"
	// ChargeCascade is a cascade's cheap attempt that was rejected.
	ChargeCascade ChargeReason = "cascade"
	// ChargeJudge is a cascade judge's grading of the cheap answer.
	ChargeJudge ChargeReason = "cascade-judge"
)

// KindCascadeRejected is the Attempt kind of a cheap answer a cascade
// rejected and escalated; it is not an error of the request.
const KindCascadeRejected ErrorKind = "cascade_rejected"

// Bill is what a request cost, settled by the account stage once the
// answer is complete (or has failed): the frontends and the ledger read it
// instead of pricing anything themselves.
type Bill struct {
	// Usage is the answer's usage; for a stream cut short before the
	// upstream reported it, Penny's own count (Estimated is then true).
	Usage     Usage
	Estimated bool
	// Cost includes the calls made on the request's behalf (Extra);
	// Baseline is what the request would have cost on its baseline model,
	// on demand, uncached.
	Cost     Money
	Baseline Money
	// ServiceTier is the tier the answer was priced at.
	ServiceTier ServiceTier
	// PriceEstimated is true when a price the catalog does not know (an
	// unpublished tier or batch price) was stood in for: Cost is an
	// estimate, not the bill.
	PriceEstimated bool
}

// Attempt is one failed upstream call of a request that was retried.
type Attempt struct {
	// Model is the catalog id (or upstream id) tried.
	Model string
	Kind  ErrorKind
	// Latency is how long the attempt took.
	Latency time.Duration
}

// CacheStatus is the response cache's verdict, sent as x-penny-cache.
type CacheStatus string

const (
	CacheMiss   CacheStatus = "miss"
	CacheHit    CacheStatus = "hit"
	CacheBypass CacheStatus = "bypass"
)

// LastUserText returns the text of the last user message, or "".
func (r *Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := r.Messages[i]
		if m.Role != RoleUser {
			continue
		}
		var s string
		for _, b := range m.Content {
			if b.Type == BlockText {
				if s != "" {
					s += "\n"
				}
				s += b.Text
			}
		}
		return s
	}
	return ""
}

// HasImages reports whether any message carries an image.
func (r *Request) HasImages() bool {
	for _, m := range r.Messages {
		for _, b := range m.Content {
			if b.Type == BlockImage {
				return true
			}
			if b.Type == BlockToolResult && b.ToolResult != nil {
				for _, c := range b.ToolResult.Content {
					if c.Image != nil {
						return true
					}
				}
			}
		}
	}
	return false
}
