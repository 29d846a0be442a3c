package converse

import (
	"encoding/json"

	"github.com/penny-gateway/penny/internal/llm"
)

// The types in this file are Bedrock's Converse and ConverseStream JSON
// bodies, field for field, with Bedrock's exact names. Unions (content
// blocks, system blocks, tools, tool choice, deltas) are structs of pointers
// of which exactly one is set; encoding/json's omitempty then writes exactly
// one key, as Bedrock does.
//
// They are what EncodeRequest, EncodeResponse and EventWriter write and what
// DecodeResponse and EventReader read. DecodeRequest does not use them: it
// walks the body itself so that every error names the exact field path.

// Request is the body of POST /model/{modelId}/converse and
// /converse-stream. Only the fields llm.Request can carry are listed;
// DecodeRequest refuses the others by name.
type Request struct {
	Messages                     []Message        `json:"messages"`
	System                       []SystemBlock    `json:"system,omitempty"`
	InferenceConfig              *InferenceConfig `json:"inferenceConfig,omitempty"`
	ToolConfig                   *ToolConfig      `json:"toolConfig,omitempty"`
	AdditionalModelRequestFields json.RawMessage  `json:"additionalModelRequestFields,omitempty"`
	ServiceTier                  *ServiceTier     `json:"serviceTier,omitempty"`
}

// Message is one conversation turn.
type Message struct {
	Role    string         `json:"role"`
	Content []ContentBlock `json:"content"`
}

// ContentBlock is a union: exactly one field is set.
type ContentBlock struct {
	Text             *string           `json:"text,omitempty"`
	Image            *Image            `json:"image,omitempty"`
	Document         *Document         `json:"document,omitempty"`
	ToolUse          *ToolUse          `json:"toolUse,omitempty"`
	ToolResult       *ToolResult       `json:"toolResult,omitempty"`
	CachePoint       *CachePoint       `json:"cachePoint,omitempty"`
	ReasoningContent *ReasoningContent `json:"reasoningContent,omitempty"`
}

// Image is an image block; Source.Bytes travels base64-encoded.
type Image struct {
	Format string      `json:"format"`
	Source ImageSource `json:"source"`
}

// ImageSource is a union of which Penny supports only inline bytes.
type ImageSource struct {
	Bytes []byte `json:"bytes"`
}

// Document is a document block.
type Document struct {
	Format string         `json:"format"`
	Name   string         `json:"name"`
	Source DocumentSource `json:"source"`
}

// DocumentSource is a union of which Penny supports only inline bytes.
type DocumentSource struct {
	Bytes []byte `json:"bytes"`
}

// ToolUse is the model's call of a tool; Input is a JSON document.
type ToolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

// ToolResult answers a ToolUse.
type ToolResult struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []ToolResultContent `json:"content"`
	Status    string              `json:"status,omitempty"`
}

// ToolResultContent is a union: text, json or image.
type ToolResultContent struct {
	Text  *string         `json:"text,omitempty"`
	JSON  json.RawMessage `json:"json,omitempty"`
	Image *Image          `json:"image,omitempty"`
}

// CachePoint is a prompt-cache checkpoint. Type is always "default"; TTL is
// "", "5m" or "1h".
type CachePoint struct {
	Type string `json:"type"`
	TTL  string `json:"ttl,omitempty"`
}

// ReasoningContent is a union of which Penny supports reasoningText.
type ReasoningContent struct {
	ReasoningText *ReasoningText `json:"reasoningText,omitempty"`
}

// ReasoningText is a model's visible reasoning and its signature.
type ReasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

// SystemBlock is a union: text or cachePoint.
type SystemBlock struct {
	Text       *string     `json:"text,omitempty"`
	CachePoint *CachePoint `json:"cachePoint,omitempty"`
}

// InferenceConfig is Converse's inferenceConfig.
type InferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

// ToolConfig lists the tools and how the model must use them.
type ToolConfig struct {
	Tools      []Tool      `json:"tools"`
	ToolChoice *ToolChoice `json:"toolChoice,omitempty"`
}

// Tool is a union: toolSpec or cachePoint.
type Tool struct {
	ToolSpec   *ToolSpec   `json:"toolSpec,omitempty"`
	CachePoint *CachePoint `json:"cachePoint,omitempty"`
}

// ToolSpec describes one tool.
type ToolSpec struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	InputSchema InputSchema `json:"inputSchema"`
}

// InputSchema is a union of which Bedrock defines only json.
type InputSchema struct {
	JSON json.RawMessage `json:"json"`
}

// ToolChoice is a union: auto, any or tool.
type ToolChoice struct {
	Auto *struct{}     `json:"auto,omitempty"`
	Any  *struct{}     `json:"any,omitempty"`
	Tool *SpecificTool `json:"tool,omitempty"`
}

// SpecificTool names the tool the model must call.
type SpecificTool struct {
	Name string `json:"name"`
}

// Response is the body of a successful Converse answer.
type Response struct {
	Output      Output       `json:"output"`
	StopReason  string       `json:"stopReason"`
	Usage       Usage        `json:"usage"`
	Metrics     Metrics      `json:"metrics"`
	Trace       *Trace       `json:"trace,omitempty"`
	ServiceTier *ServiceTier `json:"serviceTier,omitempty"`
}

// ServiceTier is the tier asked for, or in an answer the tier served.
type ServiceTier struct {
	Type string `json:"type"`
}

func serviceTierWire(t llm.ServiceTier) *ServiceTier {
	if t == "" {
		return nil
	}
	return &ServiceTier{Type: string(t)}
}

func serviceTierFromWire(t *ServiceTier) llm.ServiceTier {
	if t == nil {
		return ""
	}
	return llm.ServiceTier(t.Type)
}

// Output is a union of which Bedrock defines only message.
type Output struct {
	Message *Message `json:"message,omitempty"`
}

// Usage counts tokens. InputTokens excludes cached tokens; TotalTokens is
// every input (uncached, cache read, cache write) plus output token.
type Usage struct {
	InputTokens           int  `json:"inputTokens"`
	OutputTokens          int  `json:"outputTokens"`
	TotalTokens           int  `json:"totalTokens"`
	CacheReadInputTokens  *int `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens *int `json:"cacheWriteInputTokens,omitempty"`
	// CacheDetails splits the cache writes by TTL ("5m", "1h").
	CacheDetails []CacheDetail `json:"cacheDetails,omitempty"`
}

// CacheDetail is the cache-write tokens of one TTL.
type CacheDetail struct {
	InputTokens int    `json:"inputTokens"`
	TTL         string `json:"ttl"`
}

// Metrics is the upstream latency in milliseconds.
type Metrics struct {
	LatencyMs int64 `json:"latencyMs"`
}

// Trace carries the prompt router's choice.
type Trace struct {
	PromptRouter *PromptRouterTrace `json:"promptRouter,omitempty"`
}

// PromptRouterTrace names the model a prompt router invoked.
type PromptRouterTrace struct {
	InvokedModelID string `json:"invokedModelId,omitempty"`
}

// ConverseStream event payloads. Each frame's payload is one of these, with
// no wrapper object; the frame's :event-type header names which.

// MessageStartEvent is the payload of a messageStart frame.
type MessageStartEvent struct {
	Role string `json:"role"`
}

// ContentBlockStartEvent is the payload of a contentBlockStart frame.
type ContentBlockStartEvent struct {
	ContentBlockIndex int               `json:"contentBlockIndex"`
	Start             ContentBlockStart `json:"start"`
}

// ContentBlockStart is a union of which Penny supports toolUse.
type ContentBlockStart struct {
	ToolUse *ToolUseStart `json:"toolUse,omitempty"`
}

// ToolUseStart opens a tool-use block; its input follows in deltas.
type ToolUseStart struct {
	ToolUseID string `json:"toolUseId"`
	Name      string `json:"name"`
}

// ContentBlockDeltaEvent is the payload of a contentBlockDelta frame.
type ContentBlockDeltaEvent struct {
	ContentBlockIndex int               `json:"contentBlockIndex"`
	Delta             ContentBlockDelta `json:"delta"`
}

// ContentBlockDelta is a union: text, toolUse or reasoningContent.
type ContentBlockDelta struct {
	Text             *string         `json:"text,omitempty"`
	ToolUse          *ToolUseDelta   `json:"toolUse,omitempty"`
	ReasoningContent *ReasoningDelta `json:"reasoningContent,omitempty"`
}

// ToolUseDelta is a fragment of a tool use's JSON input.
type ToolUseDelta struct {
	Input string `json:"input"`
}

// ReasoningDelta is a union: text or signature (redactedContent is not
// supported).
type ReasoningDelta struct {
	Text      *string `json:"text,omitempty"`
	Signature *string `json:"signature,omitempty"`
}

// ContentBlockStopEvent is the payload of a contentBlockStop frame.
type ContentBlockStopEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
}

// MessageStopEvent is the payload of a messageStop frame.
type MessageStopEvent struct {
	StopReason string `json:"stopReason"`
}

// MetadataEvent is the payload of the final metadata frame.
type MetadataEvent struct {
	Usage       Usage        `json:"usage"`
	Metrics     Metrics      `json:"metrics"`
	Trace       *Trace       `json:"trace,omitempty"`
	ServiceTier *ServiceTier `json:"serviceTier,omitempty"`
}

// ErrorBody is the JSON body of an error answer and the payload of an
// exception frame.
type ErrorBody struct {
	Message string `json:"message"`
}
