// Package anthropicwire is Anthropic's Messages API wire format and its
// translation to and from Penny's llm types: requests as POST /v1/messages
// takes them and as Bedrock's InvokeModel takes them for Claude (the same
// body with "anthropic_version" instead of "model"), answers as a Message,
// streams as Anthropic's event sequence, and errors in Anthropic's shape.
// The gateway's Anthropic Messages and InvokeModel frontends share it.
package anthropicwire

import "encoding/json"

// Dialect says which API a Messages body was sent to.
type Dialect int

const (
	// API is Anthropic's own POST /v1/messages: "model" and "stream" are
	// in the body, betas in the anthropic-beta header.
	API Dialect = iota
	// Bedrock is InvokeModel and InvokeModelWithResponseStream: the model
	// is in the path, the operation says whether the answer streams, and
	// the body carries "anthropic_version" and an "anthropic_beta" list.
	Bedrock
)

// Message is a complete answer: Anthropic's Message object.
type Message struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []ContentBlock `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        Usage          `json:"usage"`
}

// ContentBlock is one block of an answer: text, tool_use or thinking.
// Pointers keep empty strings that Anthropic sends ("text": "" when a text
// block starts).
type ContentBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
}

// Usage is Anthropic's usage object. InputTokens excludes the tokens read
// from or written to the prompt cache, as Bedrock's own counts do.
type Usage struct {
	InputTokens              int            `json:"input_tokens"`
	CacheCreationInputTokens int            `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int            `json:"cache_read_input_tokens"`
	CacheCreation            *CacheCreation `json:"cache_creation,omitempty"`
	OutputTokens             int            `json:"output_tokens"`
	ServiceTier              string         `json:"service_tier,omitempty"`
}

// CacheCreation splits cache writes by TTL.
type CacheCreation struct {
	Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
}

// ErrorBody is Anthropic's error answer, and the payload of a stream's
// error event.
type ErrorBody struct {
	Type      string      `json:"type"`
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// ErrorDetail names the error type and says what went wrong.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ModelList is GET /v1/models in Anthropic's shape.
type ModelList struct {
	Data    []ModelInfo `json:"data"`
	HasMore bool        `json:"has_more"`
	FirstID *string     `json:"first_id"`
	LastID  *string     `json:"last_id"`
}

// ModelInfo is one model of a ModelList.
type ModelInfo struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// TokenCount is the answer of POST /v1/messages/count_tokens.
type TokenCount struct {
	InputTokens int `json:"input_tokens"`
}
