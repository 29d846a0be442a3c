package openaiwire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// This file is the reverse of decode.go: it writes an llm.Request as a
// chat-completions body for an OpenAI-compatible upstream (vLLM, Ollama,
// LiteLLM, OpenAI).

// EncodeOptions adjust how a request is written for a particular upstream,
// after protojson.MarshalOptions: EncodeOptions{Stream: true}.Encode(req).
type EncodeOptions struct {
	// Stream asks for a streamed answer with the usage in a last chunk
	// (stream_options.include_usage).
	Stream bool
	// MaxCompletionTokens writes the token limit as max_completion_tokens,
	// which OpenAI's reasoning models require, instead of max_tokens, which
	// every OpenAI-compatible server understands.
	MaxCompletionTokens bool
}

// EncodeRequest writes req as a chat-completions body; see
// EncodeOptions.Encode.
func EncodeRequest(req *llm.Request, stream bool) ([]byte, error) {
	return EncodeOptions{Stream: stream}.Encode(req)
}

// Encode writes req as a chat-completions body. req.Model is sent as the
// upstream model name.
//
// The translation:
//   - system blocks become one system message, their texts joined by "\n";
//   - a user turn's tool results become "tool" messages, sent before the
//     rest of the turn (OpenAI wants them right after the assistant's
//     tool_calls); images inside tool results, which tool messages cannot
//     carry, move to the user message that follows;
//   - images become base64 data URLs; PDF documents become "file" parts;
//     other document formats are refused (KindUnsupported);
//   - toolUse blocks become the assistant's tool_calls;
//   - cache points are dropped: they are Bedrock's prompt-cache hints and
//     OpenAI-compatible servers cache prefixes on their own, if at all;
//   - reasoning blocks are dropped: chat completions take no reasoning input;
//   - req.Additional (Converse's additionalModelRequestFields) is merged into
//     the top level of the body, as the OpenAI SDKs' extra_body is, which is
//     how vLLM and Ollama take parameters such as top_k; it cannot override a
//     field Penny writes itself.
//
// Errors are *llm.Error of kind KindValidation or KindUnsupported.
func (o EncodeOptions) Encode(req *llm.Request) ([]byte, error) {
	cr, err := o.chatRequest(req)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Prompts are full of <, > and &; escaping them only makes them longer.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cr); err != nil {
		return nil, llm.Errorf(llm.KindValidation, "encoding request: %w", err)
	}
	body := bytes.TrimRight(buf.Bytes(), "\n")
	if len(req.Additional) == 0 || string(bytes.TrimSpace(req.Additional)) == "null" {
		return body, nil
	}
	return mergeAdditional(body, req.Additional)
}

func (o EncodeOptions) chatRequest(req *llm.Request) (*ChatRequest, error) {
	cr := &ChatRequest{Model: req.Model, Stream: o.Stream}
	if o.Stream {
		cr.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	if mt := req.Config.MaxTokens; mt != nil {
		if o.MaxCompletionTokens {
			cr.MaxCompletionTokens = mt
		} else {
			cr.MaxTokens = mt
		}
	}
	cr.Temperature = req.Config.Temperature
	cr.TopP = req.Config.TopP
	if len(req.Config.StopSequences) > 0 {
		stop := StringOrList(req.Config.StopSequences)
		cr.Stop = &stop
	}
	if err := encodeTools(req.Tools, cr); err != nil {
		return nil, err
	}

	var sys []string
	for _, b := range req.System {
		if b.CachePoint == nil && b.Text != "" {
			sys = append(sys, b.Text)
		}
	}
	cr.Messages = make([]ChatMessage, 0, len(req.Messages)+1)
	if len(sys) > 0 {
		cr.Messages = append(cr.Messages, ChatMessage{Role: "system", Content: &Content{Text: strings.Join(sys, "\n")}})
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		p := fmt.Sprintf("messages[%d]", i)
		var err error
		switch m.Role {
		case llm.RoleUser:
			cr.Messages, err = appendUser(cr.Messages, m, p)
		case llm.RoleAssistant:
			cr.Messages, err = appendAssistant(cr.Messages, m, p)
		default:
			err = invalid(p+".role", "must be user or assistant, got %q", m.Role)
		}
		if err != nil {
			return nil, err
		}
	}
	return cr, nil
}

func encodeTools(tc *llm.ToolConfig, cr *ChatRequest) error {
	if tc == nil {
		return nil
	}
	for _, t := range tc.Tools {
		if t.CachePoint != nil || t.Name == "" {
			continue
		}
		cr.Tools = append(cr.Tools, ToolDef{Type: "function", Function: FunctionDef{
			Name: t.Name, Description: t.Description, Parameters: t.InputSchema}})
	}
	if len(cr.Tools) == 0 {
		return nil
	}
	switch tc.Choice.Mode {
	case llm.ToolChoiceDefault:
	case llm.ToolChoiceAuto:
		cr.ToolChoice = &ToolChoice{Mode: "auto"}
	case llm.ToolChoiceAny:
		cr.ToolChoice = &ToolChoice{Mode: "required"}
	case llm.ToolChoiceTool:
		if tc.Choice.Name == "" {
			return invalid("toolChoice.tool.name", "is required")
		}
		cr.ToolChoice = &ToolChoice{Mode: "function", Function: tc.Choice.Name}
	default:
		return invalid("toolChoice", "unknown mode %q", tc.Choice.Mode)
	}
	return nil
}

func appendUser(out []ChatMessage, m *llm.Message, p string) ([]ChatMessage, error) {
	var parts []ContentPart
	for j, b := range m.Content {
		q := fmt.Sprintf("%s.content[%d]", p, j)
		switch b.Type {
		case llm.BlockText:
			if b.Text != "" {
				parts = append(parts, ContentPart{Type: "text", Text: b.Text})
			}
		case llm.BlockImage:
			part, err := imagePart(b.Image, q)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
		case llm.BlockDocument:
			part, err := documentPart(b.Document, q)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
		case llm.BlockToolResult:
			if b.ToolResult == nil {
				return nil, invalid(q+".toolResult", "is required")
			}
			msg, images, err := toolMessage(b.ToolResult, q)
			if err != nil {
				return nil, err
			}
			out = append(out, msg)
			parts = append(parts, images...)
		case llm.BlockCachePoint:
		default:
			return nil, unsupported(q, "%s blocks cannot be sent in a user message", b.Type)
		}
	}
	switch {
	case len(parts) == 0:
	case len(parts) == 1 && parts[0].Type == "text":
		// A plain string is understood by every server, parts are not.
		out = append(out, ChatMessage{Role: "user", Content: &Content{Text: parts[0].Text}})
	default:
		out = append(out, ChatMessage{Role: "user", Content: &Content{Parts: parts, IsParts: true}})
	}
	return out, nil
}

// toolMessage turns a tool result into a "tool" message. Text and JSON
// parts are joined by "\n"; images are returned for the next user message.
func toolMessage(r *llm.ToolResult, p string) (ChatMessage, []ContentPart, error) {
	if r.ToolUseID == "" {
		return ChatMessage{}, nil, invalid(p+".toolResult.toolUseId", "is required")
	}
	var texts []string
	var images []ContentPart
	for k, c := range r.Content {
		switch {
		case c.Image != nil:
			part, err := imagePart(c.Image, fmt.Sprintf("%s.toolResult.content[%d]", p, k))
			if err != nil {
				return ChatMessage{}, nil, err
			}
			images = append(images, part)
		case len(c.JSON) > 0:
			var buf bytes.Buffer
			if err := json.Compact(&buf, c.JSON); err != nil {
				return ChatMessage{}, nil, invalid(fmt.Sprintf("%s.toolResult.content[%d].json", p, k), "is not valid JSON")
			}
			texts = append(texts, buf.String())
		default:
			texts = append(texts, c.Text)
		}
	}
	return ChatMessage{Role: "tool", ToolCallID: r.ToolUseID, Content: &Content{Text: strings.Join(texts, "\n")}}, images, nil
}

func appendAssistant(out []ChatMessage, m *llm.Message, p string) ([]ChatMessage, error) {
	var text strings.Builder
	hasText := false
	var calls []ToolCall
	for j, b := range m.Content {
		q := fmt.Sprintf("%s.content[%d]", p, j)
		switch b.Type {
		case llm.BlockText:
			text.WriteString(b.Text)
			hasText = true
		case llm.BlockToolUse:
			if b.ToolUse == nil || b.ToolUse.ID == "" || b.ToolUse.Name == "" {
				return nil, invalid(q+".toolUse", "needs a toolUseId and a name")
			}
			args := string(bytes.TrimSpace(b.ToolUse.Input))
			if args == "" || args == "null" {
				args = "{}"
			}
			calls = append(calls, ToolCall{ID: b.ToolUse.ID, Type: "function", Function: FunctionCall{Name: b.ToolUse.Name, Arguments: args}})
		case llm.BlockReasoning, llm.BlockCachePoint:
		default:
			return nil, unsupported(q, "%s blocks cannot be sent in an assistant message", b.Type)
		}
	}
	msg := ChatMessage{Role: "assistant", ToolCalls: calls}
	if hasText || len(calls) == 0 {
		msg.Content = &Content{Text: text.String()}
	}
	return append(out, msg), nil
}

func imagePart(img *llm.Image, p string) (ContentPart, error) {
	if img == nil {
		return ContentPart{}, invalid(p+".image", "is required")
	}
	switch img.Format {
	case "png", "jpeg", "gif", "webp":
	default:
		return ContentPart{}, unsupported(p+".image.format", "%q is not supported (png, jpeg, gif, webp)", img.Format)
	}
	return ContentPart{Type: "image_url", ImageURL: &ImageURL{URL: dataURL("image/"+img.Format, img.Bytes)}}, nil
}

// documentPart sends a PDF as OpenAI's "file" part. Chat completions take
// no other document type.
func documentPart(d *llm.Document, p string) (ContentPart, error) {
	if d == nil {
		return ContentPart{}, invalid(p+".document", "is required")
	}
	if d.Format != "pdf" {
		return ContentPart{}, unsupported(p+".document.format", "%q documents cannot be sent to an OpenAI-compatible upstream (pdf only)", d.Format)
	}
	name := d.Name
	if name == "" {
		name = "document"
	}
	if !strings.HasSuffix(strings.ToLower(name), ".pdf") {
		name += ".pdf"
	}
	file, err := json.Marshal(map[string]string{"filename": name, "file_data": dataURL("application/pdf", d.Bytes)})
	if err != nil {
		return ContentPart{}, invalid(p+".document", "%v", err)
	}
	return ContentPart{Type: "file", File: file}, nil
}

func dataURL(mime string, b []byte) string {
	const sep = ";base64,"
	buf := make([]byte, 0, len("data:")+len(mime)+len(sep)+base64.StdEncoding.EncodedLen(len(b)))
	buf = append(buf, "data:"...)
	buf = append(buf, mime...)
	buf = append(buf, sep...)
	buf = base64.StdEncoding.AppendEncode(buf, b)
	return string(buf)
}

// mergeAdditional adds the fields of the JSON object extra to the encoded
// object body, skipping those body already has. Keys are added in sorted
// order so that the same request always gives the same bytes.
func mergeAdditional(body, extra json.RawMessage) ([]byte, error) {
	var add map[string]json.RawMessage
	if err := json.Unmarshal(extra, &add); err != nil || add == nil {
		return nil, invalid("additionalModelRequestFields", "must be a JSON object")
	}
	var have map[string]json.RawMessage
	if err := json.Unmarshal(body, &have); err != nil {
		return nil, llm.Errorf(llm.KindInternal, "encoded request is not an object: %w", err)
	}
	keys := make([]string, 0, len(add))
	for k := range add {
		if _, ok := have[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return body, nil
	}
	slices.Sort(keys)
	out := bytes.NewBuffer(make([]byte, 0, len(body)+len(extra)))
	out.Write(body[:len(body)-1]) // without the closing brace
	for _, k := range keys {
		out.WriteByte(',')
		name, _ := json.Marshal(k)
		out.Write(name)
		out.WriteByte(':')
		if err := json.Compact(out, add[k]); err != nil {
			return nil, invalid("additionalModelRequestFields."+k, "is not valid JSON")
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}
