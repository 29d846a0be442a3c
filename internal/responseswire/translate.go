package responseswire

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// Request translates the request to an llm.Request: the conversation it
// continues (conv: a stored response's input and output items, nil when
// there is none), then its own input, with instructions as the first
// system block. The previous response's instructions are not carried
// over, as in OpenAI's API: they are not among its items.
//
// Messages become Converse turns (system and developer messages system
// blocks), function calls toolUse blocks of the assistant, their outputs
// toolResult blocks of the user, reasoning reasoningContent blocks with
// their signature; consecutive turns of one role are merged, as Bedrock
// requires. Errors are *llm.Error naming the item.
func (c *Create) Request(conv []Item) (*llm.Request, error) {
	w := &c.Wire
	req := &llm.Request{Model: w.Model, ServiceTier: c.ServiceTier}
	req.Meta.Stream = w.Stream
	req.Meta.Tags = openaiwire.Tags(w.Metadata, w.User, w.SafetyIdentifier)
	req.Config.MaxTokens = w.MaxOutputTokens
	req.Config.Temperature = w.Temperature
	req.Config.TopP = w.TopP
	if w.Instructions != nil && *w.Instructions != "" {
		req.System = append(req.System, llm.SystemBlock{Text: *w.Instructions})
	}
	tc, err := c.toolConfig()
	if err != nil {
		return nil, err
	}
	req.Tools = tc
	for j := range conv {
		if err := addItem(req, &conv[j], "previous_response_id: stored item "+strconv.Itoa(j)); err != nil {
			return nil, err
		}
	}
	for i := range c.Input {
		if err := addItem(req, &c.Input[i], "input["+strconv.Itoa(i)+"]"); err != nil {
			return nil, err
		}
	}
	if len(req.Messages) == 0 {
		if w.Metadata[openaiwire.TemplateKey] != "" {
			return req, nil
		}
		return nil, openaiwire.Invalid("input", "must contain at least one user message besides system and developer messages")
	}
	if req.Messages[0].Role != llm.RoleUser {
		return nil, openaiwire.Invalid("input", "the first item besides system and developer messages must be a user message (Bedrock requires conversations to start with a user turn)")
	}
	return req, nil
}

// addItem appends one item to req.
func addItem(req *llm.Request, it *Item, p string) error {
	switch it.Type {
	case TypeMessage:
		return addMessage(req, it, p)
	case TypeFunctionCall:
		openaiwire.AppendTurn(req, llm.RoleAssistant, []llm.Block{{Type: llm.BlockToolUse,
			ToolUse: &llm.ToolUse{ID: it.CallID, Name: it.Name, Input: json.RawMessage(it.Arguments)}}})
	case TypeFunctionCallOutput:
		res := &llm.ToolResult{ToolUseID: it.CallID}
		if it.OutputParts == nil {
			res.Content = []llm.ToolResultContent{{Text: it.Output}}
		}
		for j, part := range it.OutputParts {
			q := p + ".output[" + strconv.Itoa(j) + "]"
			switch part.Type {
			case "input_image":
				img, err := openaiwire.DecodeDataURL(part.ImageURL, func() string { return q + ".image_url" })
				if err != nil {
					return err
				}
				res.Content = append(res.Content, llm.ToolResultContent{Image: img})
			default:
				res.Content = append(res.Content, llm.ToolResultContent{Text: part.Text})
			}
		}
		if len(res.Content) == 0 {
			res.Content = []llm.ToolResultContent{{Text: ""}}
		}
		openaiwire.AppendTurn(req, llm.RoleUser, []llm.Block{{Type: llm.BlockToolResult, ToolResult: res}})
	case TypeReasoning:
		text := joinText(it.Content)
		if text == "" {
			text = joinText(it.Summary)
		}
		if text == "" && it.EncryptedContent == "" {
			return nil // nothing to send back
		}
		openaiwire.AppendTurn(req, llm.RoleAssistant, []llm.Block{{Type: llm.BlockReasoning, Text: text, Signature: it.EncryptedContent}})
	}
	return nil
}

// addMessage appends a message: system blocks, or a user or assistant turn.
func addMessage(req *llm.Request, it *Item, p string) error {
	switch it.Role {
	case "system", "developer":
		if text := joinText(it.Content); text != "" {
			req.System = append(req.System, llm.SystemBlock{Text: text})
		}
	case "assistant":
		var b strings.Builder
		for _, part := range it.Content {
			t := part.Text
			if part.Type == "refusal" {
				t = part.Refusal // what the model said
			}
			if t == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(t)
		}
		if strings.TrimSpace(b.String()) != "" {
			openaiwire.AppendTurn(req, llm.RoleAssistant, []llm.Block{llm.TextBlock(b.String())})
		}
	default:
		var blocks []llm.Block
		for j, part := range it.Content {
			switch part.Type {
			case "input_image":
				q := p + ".content[" + strconv.Itoa(j) + "].image_url"
				img, err := openaiwire.DecodeDataURL(part.ImageURL, func() string { return q })
				if err != nil {
					return err
				}
				blocks = append(blocks, llm.Block{Type: llm.BlockImage, Image: img})
			default:
				if part.Text != "" {
					blocks = append(blocks, llm.TextBlock(part.Text))
				}
			}
		}
		if len(blocks) == 0 {
			return openaiwire.Invalid(p+".content", "must not be empty")
		}
		openaiwire.AppendTurn(req, llm.RoleUser, blocks)
	}
	return nil
}

// joinText joins the texts of parts with newlines.
func joinText(parts []Part) string {
	var b strings.Builder
	for _, part := range parts {
		if part.Text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(part.Text)
	}
	return b.String()
}

// AssignIDs gives the request's input items without an id one made from
// base (the response's own id without its prefix), and marks them
// completed, as OpenAI lists them.
func (c *Create) AssignIDs(base string) {
	for i := range c.Input {
		it := &c.Input[i]
		if it.ID == "" {
			it.ID = itemPrefix(it.Type) + "_" + base + "_in" + strconv.Itoa(i)
		}
		if it.Status == "" && it.Type != TypeReasoning {
			it.Status = "completed"
		}
	}
}

// itemPrefix is the id prefix of an item type, after OpenAI's.
func itemPrefix(typ string) string {
	switch typ {
	case TypeFunctionCall:
		return "fc"
	case TypeFunctionCallOutput:
		return "fco"
	case TypeReasoning:
		return "rs"
	}
	return "msg"
}
