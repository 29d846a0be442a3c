package bedrocktest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/penny-gateway/penny/internal/llm"
)

// Echo is the default Responder: a deterministic answer with plausible
// usage.
//
//   - If the request offers tools and its tool choice is "any" or "tool",
//     and the last message is not a tool result, it calls the chosen tool
//     (or the first one) with input {"query": <last user text>}.
//   - Otherwise it answers "echo: <last user text>", or "tool result: <text>"
//     when the last message carries tool results.
//
// Tokens are counted as one per four bytes of text (at least one per
// block), 100 per image or document. Prompt caching is simulated: the prefix
// up to the last cache point (tools, then system, then messages, Bedrock's
// order) is a cache write the first time this server sees it for the model
// and a cache read afterwards; InputTokens counts only the rest, as Bedrock
// bills. MaxTokens truncates the answer with stop reason max_tokens. The
// service tier asked for is the tier served.
func (s *Server) Echo(modelID string, req *llm.Request) (*llm.Response, error) {
	resp := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant}, StopReason: llm.StopEndTurn, ServiceTier: req.ServiceTier}
	if len(req.Messages) == 0 {
		return nil, llm.Errorf(llm.KindValidation, "messages: must contain at least one message")
	}
	last := req.Messages[len(req.Messages)-1]
	if tool := forcedTool(req); tool != "" && !hasToolResult(last) {
		input, _ := json.Marshal(map[string]string{"query": req.LastUserText()})
		resp.Message.Content = []llm.Block{{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{
			ID: "tooluse_" + shortHash(modelID, req.LastUserText(), tool), Name: tool, Input: input}}}
		resp.StopReason = llm.StopToolUse
		resp.Usage.OutputTokens = tokens(string(input)) + tokens(tool)
	} else {
		text := "echo: " + req.LastUserText()
		if hasToolResult(last) {
			text = "tool result: " + toolResultText(last)
		}
		if limit := req.Config.MaxTokens; limit != nil && tokens(text) > *limit {
			text = truncateTokens(text, *limit)
			resp.StopReason = llm.StopMaxTokens
		}
		resp.Message.Content = []llm.Block{llm.TextBlock(text)}
		resp.Usage.OutputTokens = tokens(text)
	}

	total, prefix, key := promptTokens(req)
	resp.Usage.InputTokens = total - prefix
	if prefix > 0 {
		s.mu.Lock()
		k := modelID + "\x00" + key
		if s.seen[k] {
			resp.Usage.CacheReadTokens = prefix
		} else {
			s.seen[k] = true
			resp.Usage.CacheWriteTokens = prefix
		}
		s.mu.Unlock()
	}
	return resp, nil
}

func forcedTool(req *llm.Request) string {
	if req.Tools == nil {
		return ""
	}
	switch req.Tools.Choice.Mode {
	case llm.ToolChoiceTool:
		return req.Tools.Choice.Name
	case llm.ToolChoiceAny:
		for _, t := range req.Tools.Tools {
			if t.CachePoint == nil {
				return t.Name
			}
		}
	}
	return ""
}

func hasToolResult(m llm.Message) bool {
	for _, b := range m.Content {
		if b.Type == llm.BlockToolResult {
			return true
		}
	}
	return false
}

func toolResultText(m llm.Message) string {
	var parts []string
	for _, b := range m.Content {
		if b.Type != llm.BlockToolResult {
			continue
		}
		for _, c := range b.ToolResult.Content {
			switch {
			case c.Image != nil:
				parts = append(parts, "[image]")
			case len(c.JSON) > 0:
				parts = append(parts, string(c.JSON))
			default:
				parts = append(parts, c.Text)
			}
		}
	}
	return strings.Join(parts, " ")
}

// tokens estimates s's token count: one per four bytes, at least one.
func tokens(s string) int { return max(1, (len(s)+3)/4) }

func truncateTokens(s string, n int) string {
	limit := n * 4
	for limit > 0 && limit < len(s) && !utf8.RuneStart(s[limit]) {
		limit--
	}
	if limit > len(s) {
		return s
	}
	return s[:limit]
}

// promptTokens returns the request's input token count, how many of them
// precede its last cache point, and a key identifying that prefix.
func promptTokens(req *llm.Request) (total, prefix int, key string) {
	h := sha256.New()
	add := func(n int, part any) {
		total += n
		b, _ := json.Marshal(part)
		h.Write(b)
	}
	mark := func() {
		prefix = total
		key = hex.EncodeToString(h.Sum(nil))
	}
	if req.Tools != nil {
		for _, t := range req.Tools.Tools {
			if t.CachePoint != nil {
				mark()
				continue
			}
			add(tokens(t.Name)+tokens(t.Description)+tokens(string(t.InputSchema)), t)
		}
	}
	for _, sb := range req.System {
		if sb.CachePoint != nil {
			mark()
			continue
		}
		add(tokens(sb.Text), sb.Text)
	}
	for _, m := range req.Messages {
		for _, b := range m.Content {
			switch b.Type {
			case llm.BlockCachePoint:
				mark()
			case llm.BlockImage, llm.BlockDocument:
				add(100, b)
			case llm.BlockToolUse:
				add(tokens(b.ToolUse.Name)+tokens(string(b.ToolUse.Input)), b)
			case llm.BlockToolResult:
				add(tokens(toolResultText(llm.Message{Content: []llm.Block{b}})), b)
			default:
				add(tokens(b.Text), b)
			}
		}
	}
	return total, prefix, key
}

func shortHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:6])
}

// Chunk sizes of streamed deltas, small enough that every answer streams in
// several pieces, as Bedrock's do.
const (
	textChunk  = 12
	inputChunk = 10
)

// StreamEvents returns the ConverseStream events the fake sends for resp:
// like llm.EventsOf, but with text, tool input and reasoning split into
// several deltas, and a signature in a delta of its own, as Bedrock streams
// them.
func StreamEvents(resp *llm.Response) []llm.Event {
	evs := []llm.Event{{Type: llm.EventMessageStart, Role: llm.RoleAssistant}}
	for i, b := range resp.Message.Content {
		switch b.Type {
		case llm.BlockText:
			for _, c := range chunks(b.Text, textChunk) {
				evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{Text: c}})
			}
		case llm.BlockToolUse:
			evs = append(evs, llm.Event{Type: llm.EventBlockStart, Index: i, ToolUse: &llm.ToolUse{ID: b.ToolUse.ID, Name: b.ToolUse.Name}})
			for _, c := range chunks(string(b.ToolUse.Input), inputChunk) {
				evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{ToolInput: c}})
			}
		case llm.BlockReasoning:
			for _, c := range chunks(b.Text, textChunk) {
				evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{Reasoning: c}})
			}
			if b.Signature != "" {
				evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: llm.Delta{Signature: b.Signature}})
			}
		default:
			continue
		}
		evs = append(evs, llm.Event{Type: llm.EventBlockStop, Index: i})
	}
	u := resp.Usage
	return append(evs,
		llm.Event{Type: llm.EventMessageStop, StopReason: resp.StopReason},
		llm.Event{Type: llm.EventMetadata, Usage: &u, Latency: resp.Latency, InvokedModel: resp.InvokedModel},
	)
}

// chunks splits s into pieces of about n bytes on rune boundaries; an
// empty s is one empty piece.
func chunks(s string, n int) []string {
	if s == "" {
		return []string{""}
	}
	var out []string
	for len(s) > 0 {
		end := min(n, len(s))
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}
