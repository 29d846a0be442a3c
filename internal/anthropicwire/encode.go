package anthropicwire

import (
	"encoding/json"

	"github.com/penny-gateway/penny/internal/llm"
)

// EncodeResponse writes resp as an Anthropic Message with the given id and
// model. stops are the request's stop_sequences: Bedrock does not say
// which one matched, so stop_sequence is set only when there is exactly
// one to have matched.
func EncodeResponse(resp *llm.Response, id, model string, stops []string) Message {
	m := Message{ID: id, Type: "message", Role: "assistant", Model: model, Content: []ContentBlock{}}
	for _, b := range resp.Message.Content {
		if cb, ok := contentBlock(b); ok {
			m.Content = append(m.Content, cb)
		}
	}
	reason := StopReason(resp.StopReason)
	m.StopReason = &reason
	m.StopSequence = stopSequence(resp.StopReason, stops)
	m.Usage = EncodeUsage(resp.Usage, resp.ServiceTier)
	return m
}

func contentBlock(b llm.Block) (ContentBlock, bool) {
	switch b.Type {
	case llm.BlockText:
		return ContentBlock{Type: "text", Text: &b.Text}, true
	case llm.BlockToolUse:
		in := b.ToolUse.Input
		if len(in) == 0 {
			in = json.RawMessage("{}")
		}
		return ContentBlock{Type: "tool_use", ID: b.ToolUse.ID, Name: b.ToolUse.Name, Input: in}, true
	case llm.BlockReasoning:
		return ContentBlock{Type: "thinking", Thinking: &b.Text, Signature: &b.Signature}, true
	}
	return ContentBlock{}, false
}

func stopSequence(reason llm.StopReason, stops []string) *string {
	if reason == llm.StopSequence && len(stops) == 1 {
		return &stops[0]
	}
	return nil
}

// StopReason maps a Converse stop reason to Anthropic's: the guardrail
// and content-filter stops are Anthropic's "refusal"; a malformed output
// ends the turn.
func StopReason(r llm.StopReason) string {
	switch r {
	case llm.StopToolUse, llm.StopMaxTokens, llm.StopSequence, llm.StopContextWindow:
		return string(r)
	case llm.StopGuardrail, llm.StopContentFilter:
		return "refusal"
	}
	return "end_turn"
}

// EncodeUsage writes u the Anthropic way, with cache writes split by TTL;
// service_tier is "priority" for Bedrock's priority tier and "standard"
// otherwise.
func EncodeUsage(u llm.Usage, tier llm.ServiceTier) Usage {
	out := Usage{
		InputTokens:              u.InputTokens,
		CacheCreationInputTokens: u.CacheWriteTokens,
		CacheReadInputTokens:     u.CacheReadTokens,
		CacheCreation:            &CacheCreation{Ephemeral5m: u.CacheWriteTokens - u.CacheWrite1hTokens, Ephemeral1h: u.CacheWrite1hTokens},
		OutputTokens:             u.OutputTokens,
		ServiceTier:              "standard",
	}
	if tier == llm.TierPriority {
		out.ServiceTier = "priority"
	}
	return out
}
