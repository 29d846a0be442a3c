package responseswire

import (
	"encoding/json"
	"strconv"

	"github.com/penny-gateway/penny/internal/llm"
)

// Start returns the response as it is before any output: in progress,
// with the request's settings echoed as OpenAI echoes them. id is the
// response's id ("resp_…"), created its Unix time, model the model that
// answers, stored whether it will be stored.
func (c *Create) Start(id string, created int64, model string, stored bool) *Response {
	w := &c.Wire
	r := &Response{
		ID: id, Object: "response", CreatedAt: created, Status: "in_progress",
		Instructions: w.Instructions, MaxOutputTokens: w.MaxOutputTokens, MaxToolCalls: w.MaxToolCalls,
		Model: model, Output: []Item{}, ParallelToolCalls: true,
		ServiceTier: "default", Store: stored, Temperature: w.Temperature, TopP: w.TopP,
		Text:       TextConfig{Format: &TextFormat{Type: "text"}, Verbosity: ptr("medium")},
		ToolChoice: c.choiceJSON, Tools: make([]FunctionTool, len(c.Tools)), Truncation: "disabled",
		Metadata: w.Metadata,
	}
	if w.PreviousResponseID != "" {
		r.PreviousResponseID = &w.PreviousResponseID
	}
	if w.User != "" {
		r.User = &w.User
	}
	if w.SafetyIdentifier != "" {
		r.SafetyIdentifier = &w.SafetyIdentifier
	}
	if w.PromptCacheKey != "" {
		r.PromptCacheKey = &w.PromptCacheKey
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	for i, t := range c.Tools {
		if t.Strict == nil {
			t.Strict = ptr(true) // the Responses API's default
		}
		r.Tools[i] = t
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// Complete fills r with a complete answer: its output items (ids made from
// base, the response id without its prefix), status and usage. now is the
// Unix time it completed.
func (r *Response) Complete(resp *llm.Response, base string, now int64) {
	r.Output = OutputItems(resp.Message, base)
	r.Finish(resp.StopReason, resp.Usage, resp.ServiceTier, now)
}

// OutputItems turns an answer's content into output items: reasoning
// items, messages (consecutive text blocks are the output_text parts of
// one message) and function calls, in the order the model produced them.
func OutputItems(msg llm.Message, base string) []Item {
	out := []Item{}
	open := -1 // index in out of the message collecting text, or -1
	for _, b := range msg.Content {
		switch b.Type {
		case llm.BlockText:
			if open < 0 {
				open = len(out)
				out = append(out, Item{Type: TypeMessage, ID: OutputID(TypeMessage, base, open), Role: "assistant", Status: "completed"})
			}
			out[open].Content = append(out[open].Content, Part{Type: "output_text", Text: b.Text})
		case llm.BlockToolUse:
			open = -1
			args := string(b.ToolUse.Input)
			if args == "" {
				args = "{}"
			}
			out = append(out, Item{Type: TypeFunctionCall, ID: OutputID(TypeFunctionCall, base, len(out)), Status: "completed",
				CallID: b.ToolUse.ID, Name: b.ToolUse.Name, Arguments: args})
		case llm.BlockReasoning:
			open = -1
			out = append(out, reasoningItem(OutputID(TypeReasoning, base, len(out)), b.Text, b.Signature))
		}
	}
	return out
}

func reasoningItem(id, text, signature string) Item {
	it := Item{Type: TypeReasoning, ID: id, EncryptedContent: signature}
	if text != "" {
		it.Content = []Part{{Type: "reasoning_text", Text: text}}
	}
	return it
}

// OutputID is the id of output item n of the response whose id is
// "resp_"+base.
func OutputID(typ, base string, n int) string {
	return itemPrefix(typ) + "_" + base + "_" + strconv.Itoa(n)
}

// Finish sets the status (incomplete when the model stopped at the token
// limit or was filtered, with the reason), the usage, the service tier
// served ("" is the default tier) and the completion time.
func (r *Response) Finish(stop llm.StopReason, u llm.Usage, tier llm.ServiceTier, now int64) {
	r.Status = "completed"
	switch stop {
	case llm.StopMaxTokens, llm.StopContextWindow:
		r.IncompleteDetails = &IncompleteDetails{Reason: "max_output_tokens"}
	case llm.StopContentFilter, llm.StopGuardrail:
		r.IncompleteDetails = &IncompleteDetails{Reason: "content_filter"}
	}
	if r.IncompleteDetails != nil {
		r.Status = "incomplete"
		for i := range r.Output {
			if r.Output[i].Type == TypeMessage {
				r.Output[i].Status = "incomplete"
			}
		}
	} else {
		r.CompletedAt = &now
	}
	if tier != "" {
		r.ServiceTier = string(tier)
	}
	r.Usage = UsageOf(u)
}

// UsageOf reports u in the Responses API's terms.
func UsageOf(u llm.Usage) *Usage {
	return &Usage{
		InputTokens:        u.TotalInput(),
		InputTokensDetails: InputDetails{CachedTokens: u.CacheReadTokens, CacheWriteTokens: u.CacheWriteTokens},
		OutputTokens:       u.OutputTokens,
		TotalTokens:        u.Total(),
	}
}

// Fail marks r failed with err (its OpenAI error code and message).
func (r *Response) Fail(code, message string) {
	r.Status = "failed"
	r.Error = &ErrorObject{Code: code, Message: message}
	for i := range r.Output {
		if r.Output[i].Status == "in_progress" {
			r.Output[i].Status = "incomplete"
		}
	}
}

// Items encodes items for storage, each as Item marshals it.
func Items(items []Item) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(items))
	for i, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
