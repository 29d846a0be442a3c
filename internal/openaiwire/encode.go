package openaiwire

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/penny-gateway/penny/internal/llm"
)

// FinishReason maps a Bedrock stop reason to OpenAI's finish_reason.
func FinishReason(s llm.StopReason) string {
	switch s {
	case llm.StopMaxTokens, llm.StopContextWindow:
		return "length"
	case llm.StopToolUse:
		return "tool_calls"
	case llm.StopGuardrail, llm.StopContentFilter:
		return "content_filter"
	}
	return "stop"
}

// UsageOf reports u in OpenAI's terms: prompt tokens include cached ones.
func UsageOf(u llm.Usage) *Usage {
	out := &Usage{PromptTokens: u.TotalInput(), CompletionTokens: u.OutputTokens, TotalTokens: u.Total(),
		PromptTokensDetails: &TokenDetails{CachedTokens: u.CacheReadTokens, CacheWriteTokens: u.CacheWriteTokens}}
	return out
}

// EncodeResponse builds the chat.completion answer for resp.
func EncodeResponse(resp *llm.Response, id, model string, created int64) *ChatResponse {
	msg := &AnswerMessage{Role: "assistant"}
	text := ""
	hasText := false
	var calls []ToolCall
	for _, b := range resp.Message.Content {
		switch b.Type {
		case llm.BlockText:
			text += b.Text
			hasText = true
		case llm.BlockToolUse:
			args := string(b.ToolUse.Input)
			if args == "" {
				args = "{}"
			}
			calls = append(calls, ToolCall{ID: b.ToolUse.ID, Type: "function", Function: FunctionCall{Name: b.ToolUse.Name, Arguments: args}})
		}
	}
	if hasText || len(calls) == 0 {
		msg.Content = &text
	}
	msg.ToolCalls = calls
	fr := FinishReason(resp.StopReason)
	return &ChatResponse{
		ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices: []Choice{{Index: 0, Message: msg, FinishReason: &fr}},
		Usage:   UsageOf(resp.Usage),
	}
}

// ChunkEncoder turns stream events into chat.completion.chunk objects. It
// keeps the state needed to number tool calls; use one per stream.
type ChunkEncoder struct {
	ID           string
	Model        string
	Created      int64
	IncludeUsage bool

	toolIndex map[int]int // Converse block index → OpenAI tool call index
	stop      string
}

func (c *ChunkEncoder) chunk(delta *AnswerMessage, finish *string) ChatResponse {
	return ChatResponse{ID: c.ID, Object: "chat.completion.chunk", Created: c.Created, Model: c.Model,
		Choices: []Choice{{Index: 0, Delta: delta, FinishReason: finish}}}
}

// Encode returns the chunks to send for ev, possibly none.
func (c *ChunkEncoder) Encode(ev llm.Event) []ChatResponse {
	switch ev.Type {
	case llm.EventMessageStart:
		empty := ""
		return []ChatResponse{c.chunk(&AnswerMessage{Role: "assistant", Content: &empty}, nil)}
	case llm.EventBlockStart:
		if ev.ToolUse == nil {
			return nil
		}
		if c.toolIndex == nil {
			c.toolIndex = map[int]int{}
		}
		i := len(c.toolIndex)
		c.toolIndex[ev.Index] = i
		return []ChatResponse{c.chunk(&AnswerMessage{ToolCalls: []ToolCall{{Index: &i, ID: ev.ToolUse.ID, Type: "function",
			Function: FunctionCall{Name: ev.ToolUse.Name, Arguments: ""}}}}, nil)}
	case llm.EventBlockDelta:
		if ev.Delta.ToolInput != "" {
			i, ok := c.toolIndex[ev.Index]
			if !ok {
				return nil
			}
			return []ChatResponse{c.chunk(&AnswerMessage{ToolCalls: []ToolCall{{Index: &i, Function: FunctionCall{Arguments: ev.Delta.ToolInput}}}}, nil)}
		}
		if ev.Delta.Text == "" {
			return nil
		}
		t := ev.Delta.Text
		return []ChatResponse{c.chunk(&AnswerMessage{Content: &t}, nil)}
	case llm.EventMessageStop:
		c.stop = FinishReason(ev.StopReason)
		fr := c.stop
		return []ChatResponse{c.chunk(&AnswerMessage{}, &fr)}
	case llm.EventMetadata:
		if !c.IncludeUsage || ev.Usage == nil {
			return nil
		}
		out := ChatResponse{ID: c.ID, Object: "chat.completion.chunk", Created: c.Created, Model: c.Model,
			Choices: []Choice{}, Usage: UsageOf(*ev.Usage)}
		return []ChatResponse{out}
	}
	return nil
}

// errorMap is the one table from error kind to OpenAI status, type and code.
var errorMap = map[llm.ErrorKind]struct {
	status int
	typ    string
	code   string
}{
	llm.KindValidation:    {http.StatusBadRequest, "invalid_request_error", "invalid_request"},
	llm.KindUnsupported:   {http.StatusBadRequest, "invalid_request_error", "unsupported_parameter"},
	llm.KindUnauthorized:  {http.StatusUnauthorized, "authentication_error", "invalid_api_key"},
	llm.KindForbidden:     {http.StatusForbidden, "permission_error", "permission_denied"},
	llm.KindNotFound:      {http.StatusNotFound, "invalid_request_error", "model_not_found"},
	llm.KindTooLarge:      {http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large"},
	llm.KindThrottled:     {http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded"},
	llm.KindModelNotReady: {http.StatusServiceUnavailable, "server_error", "model_not_ready"},
	llm.KindBudget:        {http.StatusTooManyRequests, "insufficient_quota", "budget_exceeded"},
	llm.KindTimeout:       {http.StatusGatewayTimeout, "timeout_error", "upstream_timeout"},
	llm.KindModelError:    {http.StatusBadGateway, "server_error", "model_error"},
	llm.KindUnavailable:   {http.StatusServiceUnavailable, "server_error", "upstream_unavailable"},
	llm.KindCanceled:      {499, "invalid_request_error", "client_closed_request"},
	llm.KindSlowClient:    {http.StatusRequestTimeout, "invalid_request_error", "request_timeout"},
	llm.KindInternal:      {http.StatusInternalServerError, "server_error", "internal_error"},
}

// ErrorFor returns the HTTP status and OpenAI error body for err. A nil err
// is reported as an internal error rather than a panic.
func ErrorFor(err error) (int, *ErrorBody) {
	if err == nil {
		err = llm.Errorf(llm.KindInternal, "unknown error")
	}
	kind := llm.KindOf(err)
	m, ok := errorMap[kind]
	if !ok {
		m = errorMap[llm.KindInternal]
	}
	msg := err.Error()
	code := m.code
	var param *string
	var e *llm.Error
	if errors.As(err, &e) {
		if e.Upstream != "" {
			msg += " (upstream: " + e.Upstream + ")"
		}
		if e.Code != "" {
			code = e.Code
		}
		if e.Param != "" {
			param = &e.Param
		}
	}
	return m.status, &ErrorBody{Error: ErrorDetail{Message: msg, Type: m.typ, Param: param, Code: &code}}
}

// StatusFor is ErrorFor's status alone.
func StatusFor(kind llm.ErrorKind) int {
	if m, ok := errorMap[kind]; ok {
		return m.status
	}
	return http.StatusInternalServerError
}

// KindForStatus maps an upstream OpenAI-compatible HTTP status to a kind.
func KindForStatus(status int) llm.ErrorKind {
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		return llm.KindValidation
	case status == http.StatusUnauthorized:
		return llm.KindUnauthorized
	case status == http.StatusForbidden:
		return llm.KindForbidden
	case status == http.StatusNotFound:
		return llm.KindNotFound
	case status == http.StatusRequestEntityTooLarge:
		return llm.KindTooLarge
	case status == http.StatusTooManyRequests:
		return llm.KindThrottled
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return llm.KindTimeout
	case status >= 500:
		return llm.KindUnavailable
	}
	return llm.KindInternal
}

// RetryAfterHeader formats a retry delay in whole seconds, at least 1.
func RetryAfterHeader(e *llm.Error) string {
	s := int(e.RetryAfter.Seconds() + 0.999)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}
