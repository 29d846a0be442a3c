// Package openaiwire is the OpenAI chat-completions wire format: its JSON
// shapes, and their translation to and from Penny's llm types. The gateway's
// OpenAI frontend decodes requests and encodes answers with it; the
// OpenAI-compatible provider does the reverse.
package openaiwire

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// ChatRequest is the body of POST /v1/chat/completions. Fields Penny cannot
// honour on Bedrock are decoded so that they can be refused by name rather
// than silently dropped.
type ChatRequest struct {
	Model               string            `json:"model"`
	Messages            []ChatMessage     `json:"messages"`
	MaxTokens           *int              `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int              `json:"max_completion_tokens,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	Stop                *StringOrList     `json:"stop,omitempty"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *StreamOptions    `json:"stream_options,omitempty"`
	Tools               []ToolDef         `json:"tools,omitempty"`
	ToolChoice          *ToolChoice       `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls,omitempty"`
	N                   *int              `json:"n,omitempty"`
	User                string            `json:"user,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	Store               *bool             `json:"store,omitempty"`
	ResponseFormat      *ResponseFormat   `json:"response_format,omitempty"`
	// SafetyIdentifier replaces user in newer OpenAI clients; like user it
	// becomes a tag.
	SafetyIdentifier string `json:"safety_identifier,omitempty"`
	// PromptCacheKey is OpenAI's cache-routing hint. Bedrock caches at
	// explicit cache points instead, so it is accepted and ignored.
	PromptCacheKey string `json:"prompt_cache_key,omitempty"`

	// Accepted only at their neutral values; anything else is refused.
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	LogitBias        map[string]int  `json:"logit_bias,omitempty"`
	Logprobs         *bool           `json:"logprobs,omitempty"`
	TopLogprobs      *int            `json:"top_logprobs,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	ServiceTier      *string         `json:"service_tier,omitempty"`
	ReasoningEffort  *string         `json:"reasoning_effort,omitempty"`
	Verbosity        *string         `json:"verbosity,omitempty"`
	Modalities       []string        `json:"modalities,omitempty"`
	Audio            json.RawMessage `json:"audio,omitempty"`
	Prediction       json.RawMessage `json:"prediction,omitempty"`
	WebSearchOptions json.RawMessage `json:"web_search_options,omitempty"`
	Functions        json.RawMessage `json:"functions,omitempty"`
	FunctionCall     json.RawMessage `json:"function_call,omitempty"`
}

// StreamOptions is stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
	// IncludeObfuscation is accepted for the official SDKs' sake and
	// ignored: Penny never pads its chunks.
	IncludeObfuscation *bool `json:"include_obfuscation,omitempty"`
}

// ResponseFormat is response_format.
type ResponseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

// ChatMessage is one message of the conversation.
type ChatMessage struct {
	Role         string          `json:"role"`
	Content      *Content        `json:"content,omitempty"`
	Name         string          `json:"name,omitempty"`
	ToolCalls    []ToolCall      `json:"tool_calls,omitempty"`
	ToolCallID   string          `json:"tool_call_id,omitempty"`
	Refusal      *string         `json:"refusal,omitempty"`
	Audio        json.RawMessage `json:"audio,omitempty"`
	FunctionCall json.RawMessage `json:"function_call,omitempty"`
}

// Content is a message's content: a plain string or a list of parts.
type Content struct {
	Text  string
	Parts []ContentPart
	// IsParts is true when the JSON was an array.
	IsParts bool
}

// UnmarshalJSON accepts a string, an array of parts, or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		c.IsParts = true
		return json.Unmarshal(b, &c.Parts)
	}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	// The decoder hands over only well-formed JSON, so a valid UTF-8 string
	// without escapes is its bytes between the quotes; most content is
	// like that, and this spares a full json.Unmarshal per message.
	if len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		c.Text = string(b[1 : len(b)-1])
		return nil
	}
	return json.Unmarshal(b, &c.Text)
}

// MarshalJSON writes a string unless the content was given as parts.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.IsParts {
		return json.Marshal(c.Parts)
	}
	return json.Marshal(c.Text)
}

// ContentPart is one element of an array content.
type ContentPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text,omitempty"`
	ImageURL   *ImageURL       `json:"image_url,omitempty"`
	Refusal    string          `json:"refusal,omitempty"`
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
	File       json.RawMessage `json:"file,omitempty"`
}

// ImageURL is an image part; Penny accepts base64 data URLs.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// ToolCall is a function call made by the assistant.
type ToolCall struct {
	// Index is set only in streamed deltas.
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and its JSON-encoded arguments.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ToolDef is an entry of tools.
type ToolDef struct {
	Type     string      `json:"type"`
	Function FunctionDef `json:"function"`
}

// FunctionDef declares a callable function.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolChoice is "none", "auto", "required" or {"type":"function","function":{"name":…}}.
type ToolChoice struct {
	Mode     string
	Function string
}

// UnmarshalJSON accepts the string and object forms.
func (t *ToolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &t.Mode)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	t.Mode, t.Function = obj.Type, obj.Function.Name
	return nil
}

// MarshalJSON writes the string form, or the object form for a function.
func (t ToolChoice) MarshalJSON() ([]byte, error) {
	if t.Function == "" {
		return json.Marshal(t.Mode)
	}
	return json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": t.Function}})
}

// StringOrList is a string or an array of strings (stop).
type StringOrList []string

// UnmarshalJSON accepts a string, an array of strings or null.
func (s *StringOrList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = StringOrList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// ChatResponse is a non-streamed answer.
type ChatResponse struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
}

// Choice is one answer; Penny always returns exactly one.
type Choice struct {
	Index        int            `json:"index"`
	Message      *AnswerMessage `json:"message,omitempty"`
	Delta        *AnswerMessage `json:"delta,omitempty"`
	FinishReason *string        `json:"finish_reason"`
	Logprobs     *struct{}      `json:"logprobs"`
}

// AnswerMessage is the assistant message of a choice, or a streamed delta.
type AnswerMessage struct {
	Role      string     `json:"role,omitempty"`
	Content   *string    `json:"content"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	Refusal   *string    `json:"refusal"`
}

// Usage reports tokens the way OpenAI does: prompt_tokens includes cached
// tokens, and prompt_tokens_details.cached_tokens says how many were read
// from the cache.
type Usage struct {
	PromptTokens        int           `json:"prompt_tokens"`
	CompletionTokens    int           `json:"completion_tokens"`
	TotalTokens         int           `json:"total_tokens"`
	PromptTokensDetails *TokenDetails `json:"prompt_tokens_details,omitempty"`
}

// TokenDetails breaks prompt tokens down.
type TokenDetails struct {
	CachedTokens int `json:"cached_tokens"`
	// CacheWriteTokens is Penny's extension: tokens written to Bedrock's
	// prompt cache (billed differently from plain input).
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

// ErrorBody is OpenAI's error envelope.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error object.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// ModelList is the answer of GET /v1/models.
type ModelList struct {
	Object string       `json:"object"`
	Data   []ModelEntry `json:"data"`
}

// ModelEntry is one model of the list.
type ModelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}
