// Package responseswire is the OpenAI Responses API's wire format (POST
// /v1/responses and the objects it returns) and its translation to and
// from Penny's llm types. It shares the chat-completions frontend's
// conventions through package openaiwire: the same error shape, the same
// function-tool, image and turn translation, the same refusals of what
// Bedrock cannot do.
//
// Items (messages, function calls and their outputs, reasoning) are
// normalised as they are decoded, so that a stored conversation is written
// back in one shape and always decodes again.
package responseswire

import (
	"bytes"
	"encoding/json"
)

// CreateRequest is the body of POST /v1/responses. Fields Bedrock cannot
// honour are decoded so that they can be refused by name rather than
// silently dropped.
type CreateRequest struct {
	Model              string            `json:"model"`
	Input              json.RawMessage   `json:"input,omitempty"`
	Instructions       *string           `json:"instructions,omitempty"`
	Tools              []json.RawMessage `json:"tools,omitempty"`
	ToolChoice         json.RawMessage   `json:"tool_choice,omitempty"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls,omitempty"`
	MaxOutputTokens    *int              `json:"max_output_tokens,omitempty"`
	MaxToolCalls       *int              `json:"max_tool_calls,omitempty"`
	Temperature        *float64          `json:"temperature,omitempty"`
	TopP               *float64          `json:"top_p,omitempty"`
	TopLogprobs        *int              `json:"top_logprobs,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	User               string            `json:"user,omitempty"`
	SafetyIdentifier   string            `json:"safety_identifier,omitempty"`
	Stream             bool              `json:"stream,omitempty"`
	StreamOptions      *StreamOptions    `json:"stream_options,omitempty"`
	Store              *bool             `json:"store,omitempty"`
	PreviousResponseID string            `json:"previous_response_id,omitempty"`
	Text               *TextConfig       `json:"text,omitempty"`
	Reasoning          *Reasoning        `json:"reasoning,omitempty"`
	Truncation         *string           `json:"truncation,omitempty"`
	Include            []string          `json:"include,omitempty"`
	ServiceTier        *string           `json:"service_tier,omitempty"`
	// PromptCacheKey is OpenAI's cache-routing hint. Bedrock caches at
	// explicit cache points instead, so it is accepted and ignored, as in
	// chat completions.
	PromptCacheKey       string  `json:"prompt_cache_key,omitempty"`
	PromptCacheRetention *string `json:"prompt_cache_retention,omitempty"`

	// Refused unless null or false.
	Background         *bool           `json:"background,omitempty"`
	Conversation       json.RawMessage `json:"conversation,omitempty"`
	Prompt             json.RawMessage `json:"prompt,omitempty"`
	PromptCacheOptions json.RawMessage `json:"prompt_cache_options,omitempty"`
	ContextManagement  json.RawMessage `json:"context_management,omitempty"`
	Moderation         json.RawMessage `json:"moderation,omitempty"`
	AccessPrograms     json.RawMessage `json:"access_programs,omitempty"`
}

// StreamOptions is stream_options.
type StreamOptions struct {
	// IncludeObfuscation is accepted for the official SDKs' sake and
	// ignored: Penny never pads its events.
	IncludeObfuscation *bool `json:"include_obfuscation,omitempty"`
}

// TextConfig is text: the output format.
type TextConfig struct {
	Format    *TextFormat `json:"format,omitempty"`
	Verbosity *string     `json:"verbosity,omitempty"`
}

// TextFormat is text.format.
type TextFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Description string          `json:"description,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Reasoning is the reasoning configuration.
type Reasoning struct {
	Effort          *string `json:"effort"`
	Summary         *string `json:"summary"`
	GenerateSummary *string `json:"generate_summary,omitempty"`
}

// FunctionTool is an entry of tools of type "function".
type FunctionTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	// Strict is accepted and echoed, as chat completions' strict is:
	// Bedrock has no strict mode, and the Responses API defaults it to
	// true, so refusing it would refuse nearly every agent.
	Strict *bool `json:"strict,omitempty"`
}

// Item is one conversation item: a message, a function call, a function
// call's output or reasoning. Which fields are set depends on Type; it
// marshals to exactly the fields of its type.
type Item struct {
	Type   string
	ID     string
	Status string
	// Role and Content are a message's; Content is also reasoning's
	// reasoning_text parts.
	Role    string
	Content []Part
	// CallID is a function call's and its output's; Name and Arguments
	// are the call's.
	CallID    string
	Name      string
	Arguments string
	// Output is a function call output's: a string, or Parts when
	// OutputParts is true.
	Output      string
	OutputParts []Part
	// Summary and EncryptedContent are reasoning's; EncryptedContent
	// carries Bedrock's reasoning signature, so that the reasoning can be
	// sent back.
	Summary          []Part
	EncryptedContent string
}

// Item types.
const (
	TypeMessage            = "message"
	TypeFunctionCall       = "function_call"
	TypeFunctionCallOutput = "function_call_output"
	TypeReasoning          = "reasoning"
)

// Part is one content part: input_text, input_image, output_text, refusal,
// reasoning_text or summary_text.
type Part struct {
	Type     string
	Text     string // input_text, output_text, reasoning_text, summary_text
	ImageURL string // input_image: a base64 data URL
	Detail   string // input_image
	Refusal  string // refusal
}

// MarshalJSON writes the fields of the part's type.
func (p Part) MarshalJSON() ([]byte, error) {
	switch p.Type {
	case "input_image":
		detail := p.Detail
		if detail == "" {
			detail = "auto"
		}
		return json.Marshal(struct {
			Type     string `json:"type"`
			ImageURL string `json:"image_url"`
			Detail   string `json:"detail"`
		}{p.Type, p.ImageURL, detail})
	case "output_text":
		return json.Marshal(struct {
			Type        string     `json:"type"`
			Text        string     `json:"text"`
			Annotations []struct{} `json:"annotations"`
			Logprobs    []struct{} `json:"logprobs"`
		}{p.Type, p.Text, []struct{}{}, []struct{}{}})
	case "refusal":
		return json.Marshal(struct {
			Type    string `json:"type"`
			Refusal string `json:"refusal"`
		}{p.Type, p.Refusal})
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{p.Type, p.Text})
}

// MarshalJSON writes the fields of the item's type, in the shape OpenAI
// returns them (output items) and lists them (input items).
func (it Item) MarshalJSON() ([]byte, error) {
	content := it.Content
	if content == nil {
		content = []Part{}
	}
	switch it.Type {
	case TypeFunctionCall:
		return json.Marshal(struct {
			Type      string `json:"type"`
			ID        string `json:"id,omitempty"`
			CallID    string `json:"call_id"`
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
			Status    string `json:"status,omitempty"`
		}{it.Type, it.ID, it.CallID, it.Name, it.Arguments, it.Status})
	case TypeFunctionCallOutput:
		var out any = it.Output
		if it.OutputParts != nil {
			out = it.OutputParts
		}
		return json.Marshal(struct {
			Type   string `json:"type"`
			ID     string `json:"id,omitempty"`
			CallID string `json:"call_id"`
			Output any    `json:"output"`
			Status string `json:"status,omitempty"`
		}{it.Type, it.ID, it.CallID, out, it.Status})
	case TypeReasoning:
		summary := it.Summary
		if summary == nil {
			summary = []Part{}
		}
		var enc *string
		if it.EncryptedContent != "" {
			enc = &it.EncryptedContent
		}
		return json.Marshal(struct {
			Type             string  `json:"type"`
			ID               string  `json:"id,omitempty"`
			Summary          []Part  `json:"summary"`
			Content          []Part  `json:"content,omitempty"`
			EncryptedContent *string `json:"encrypted_content"`
			Status           string  `json:"status,omitempty"`
		}{it.Type, it.ID, summary, it.Content, enc, it.Status})
	}
	return json.Marshal(struct {
		Type    string `json:"type"`
		ID      string `json:"id,omitempty"`
		Status  string `json:"status,omitempty"`
		Role    string `json:"role"`
		Content []Part `json:"content"`
	}{it.Type, it.ID, it.Status, it.Role, content})
}

// Response is the Response object: the answer of POST /v1/responses and
// GET /v1/responses/{id}, and the payload of the stream's lifecycle
// events.
type Response struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	CompletedAt        *int64             `json:"completed_at"`
	Background         bool               `json:"background"`
	Error              *ErrorObject       `json:"error"`
	IncompleteDetails  *IncompleteDetails `json:"incomplete_details"`
	Instructions       *string            `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	MaxToolCalls       *int               `json:"max_tool_calls"`
	Model              string             `json:"model"`
	Output             []Item             `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          Reasoning          `json:"reasoning"`
	ServiceTier        string             `json:"service_tier"`
	Store              bool               `json:"store"`
	Temperature        *float64           `json:"temperature"`
	Text               TextConfig         `json:"text"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              []FunctionTool     `json:"tools"`
	TopLogprobs        int                `json:"top_logprobs"`
	TopP               *float64           `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *Usage             `json:"usage"`
	User               *string            `json:"user"`
	SafetyIdentifier   *string            `json:"safety_identifier"`
	PromptCacheKey     *string            `json:"prompt_cache_key"`
	Metadata           map[string]string  `json:"metadata"`
}

// ErrorObject is a failed response's error.
type ErrorObject struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IncompleteDetails says why a response is incomplete: "max_output_tokens"
// or "content_filter".
type IncompleteDetails struct {
	Reason string `json:"reason"`
}

// Usage reports tokens the way the Responses API does: input_tokens
// includes cached tokens, and input_tokens_details.cached_tokens says how
// many were read from Bedrock's prompt cache.
type Usage struct {
	InputTokens         int           `json:"input_tokens"`
	InputTokensDetails  InputDetails  `json:"input_tokens_details"`
	OutputTokens        int           `json:"output_tokens"`
	OutputTokensDetails OutputDetails `json:"output_tokens_details"`
	TotalTokens         int           `json:"total_tokens"`
}

// InputDetails breaks input tokens down.
type InputDetails struct {
	CachedTokens int `json:"cached_tokens"`
	// CacheWriteTokens is Penny's extension, as in chat completions:
	// tokens written to Bedrock's prompt cache (billed differently).
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

// OutputDetails breaks output tokens down. Bedrock does not count
// reasoning tokens apart from the others, so ReasoningTokens is 0 and any
// reasoning is in OutputTokens.
type OutputDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// Deleted is the answer of DELETE /v1/responses/{id}.
type Deleted struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// ItemList is the answer of GET /v1/responses/{id}/input_items.
type ItemList struct {
	Object  string            `json:"object"`
	Data    []json.RawMessage `json:"data"`
	FirstID *string           `json:"first_id"`
	LastID  *string           `json:"last_id"`
	HasMore bool              `json:"has_more"`
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}
