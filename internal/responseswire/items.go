package responseswire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/openaiwire"
)

// wireItem is an input item as clients send it: every field any supported
// item type may carry, so that unknown fields are still errors.
type wireItem struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Status  string          `json:"status"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	// Phase labels an assistant message of OpenAI's own models
	// (commentary or final answer); it does not change the message.
	Phase            *string         `json:"phase"`
	CallID           string          `json:"call_id"`
	Name             string          `json:"name"`
	Arguments        *string         `json:"arguments"`
	Output           json.RawMessage `json:"output"`
	Summary          []wirePart      `json:"summary"`
	EncryptedContent *string         `json:"encrypted_content"`
	// Namespace, Caller and Async belong to OpenAI's namespace tools and
	// programmatic tool calling; only their neutral values are accepted.
	Namespace *string         `json:"namespace"`
	Caller    json.RawMessage `json:"caller"`
	Async     *bool           `json:"async"`
}

// wirePart is a content part as clients send it.
type wirePart struct {
	Type        string          `json:"type"`
	Text        *string         `json:"text"`
	ImageURL    *string         `json:"image_url"`
	FileID      *string         `json:"file_id"`
	Detail      string          `json:"detail"`
	Annotations json.RawMessage `json:"annotations"`
	Logprobs    json.RawMessage `json:"logprobs"`
	Refusal     *string         `json:"refusal"`
	FileData    *string         `json:"file_data"`
	FileURL     *string         `json:"file_url"`
	Filename    *string         `json:"filename"`
	InputAudio  json.RawMessage `json:"input_audio"`
	// PromptCacheBreakpoint is refused unless null: Penny places Bedrock's
	// checkpoints itself.
	PromptCacheBreakpoint json.RawMessage `json:"prompt_cache_breakpoint"`
}

// unsupportedItems are item types of the Responses API's built-in tools
// and server-side features, which Penny does not run.
var unsupportedItems = map[string]string{
	"item_reference":          "item references are not supported; send the items themselves, or continue a stored response with previous_response_id",
	"file_search_call":        "",
	"computer_call":           "",
	"computer_call_output":    "",
	"web_search_call":         "",
	"image_generation_call":   "",
	"code_interpreter_call":   "",
	"local_shell_call":        "",
	"local_shell_call_output": "",
	"shell_call":              "",
	"shell_call_output":       "",
	"apply_patch_call":        "",
	"apply_patch_call_output": "",
	"mcp_list_tools":          "",
	"mcp_approval_request":    "",
	"mcp_approval_response":   "",
	"mcp_call":                "",
	"custom_tool_call":        "",
	"custom_tool_call_output": "",
	"tool_search_call":        "",
	"tool_search_output":      "",
	"compaction":              "server-side compaction is not supported",
}

// decodeInput reads input: a string (one user message) or a list of items.
func decodeInput(raw json.RawMessage) ([]Item, error) {
	if isNull(raw) {
		return nil, nil
	}
	raw = bytes.TrimSpace(raw)
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, openaiwire.Invalid("input", "is not a valid string")
		}
		if s == "" {
			return nil, openaiwire.Invalid("input", "must not be empty")
		}
		return []Item{{Type: TypeMessage, Role: "user", Content: []Part{{Type: "input_text", Text: s}}}}, nil
	}
	var list []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, openaiwire.Invalid("input", "must be a string or an array of input items")
	}
	return decodeItems(list, func(i int) string { return "input[" + strconv.Itoa(i) + "]" })
}

// ParseItems decodes items stored by an earlier response (their JSON as
// Item marshals it), for a request that continues it.
func ParseItems(list []json.RawMessage) ([]Item, error) {
	return decodeItems(list, func(i int) string { return "previous_response_id: stored item " + strconv.Itoa(i) })
}

func decodeItems(list []json.RawMessage, name func(int) string) ([]Item, error) {
	items := make([]Item, 0, len(list))
	for i, raw := range list {
		it, err := decodeItem(raw, name(i))
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// decodeItem reads one input item at path p and normalises it.
func decodeItem(raw json.RawMessage, p string) (Item, error) {
	if !openaiwire.IsJSONObject(raw) {
		return Item{}, openaiwire.Invalid(p, "must be an object")
	}
	typ := peekType(raw)
	if why, ok := unsupportedItems[typ]; ok {
		if why == "" {
			why = "items of built-in tools are not supported: Penny serves function tools only"
		}
		return Item{}, openaiwire.Unsupported(p+".type", "%q: %s", typ, why)
	}
	var w wireItem
	if err := decodeAt(raw, &w, p); err != nil {
		return Item{}, err
	}
	switch {
	case w.Namespace != nil && *w.Namespace != "":
		return Item{}, openaiwire.Unsupported(p+".namespace", "namespace tools are not supported")
	case w.Async != nil && *w.Async:
		return Item{}, openaiwire.Unsupported(p+".async", "asynchronous tool calls are not supported")
	case !isNull(w.Caller) && peekType(w.Caller) != "direct":
		return Item{}, openaiwire.Unsupported(p+".caller", "programmatic tool calling is not supported")
	}
	it := Item{Type: w.Type, ID: w.ID, Status: w.Status}
	switch w.Type {
	case "", TypeMessage:
		it.Type = TypeMessage
		return it, decodeMessage(&w, &it, p)
	case TypeFunctionCall:
		if w.CallID == "" {
			return it, openaiwire.Invalid(p+".call_id", "is required")
		}
		if w.Name == "" {
			return it, openaiwire.Invalid(p+".name", "is required")
		}
		args := "{}"
		if w.Arguments != nil && strings.TrimSpace(*w.Arguments) != "" {
			args = *w.Arguments
		}
		if !openaiwire.IsJSONObject(json.RawMessage(args)) {
			return it, openaiwire.Invalid(p+".arguments", "must be a JSON object encoded as a string")
		}
		it.CallID, it.Name, it.Arguments = w.CallID, w.Name, args
	case TypeFunctionCallOutput:
		if w.CallID == "" {
			return it, openaiwire.Invalid(p+".call_id", "is required")
		}
		it.CallID = w.CallID
		if err := decodeToolOutput(w.Output, &it, p+".output"); err != nil {
			return it, err
		}
	case TypeReasoning:
		for j, sp := range w.Summary {
			q := p + ".summary[" + strconv.Itoa(j) + "]"
			if sp.Type != "summary_text" || sp.Text == nil {
				return it, openaiwire.Invalid(q, "must be a summary_text part with text")
			}
			it.Summary = append(it.Summary, Part{Type: "summary_text", Text: *sp.Text})
		}
		if !isNull(w.Content) {
			parts, err := decodeParts(w.Content, p+".content", "reasoning_text")
			if err != nil {
				return it, err
			}
			it.Content = parts
		}
		if w.EncryptedContent != nil {
			it.EncryptedContent = *w.EncryptedContent
		}
	default:
		return it, openaiwire.Invalid(p+".type", "unknown item type %q", w.Type)
	}
	return it, nil
}

// decodeMessage reads a message's role and content.
func decodeMessage(w *wireItem, it *Item, p string) error {
	var allowed []string
	switch w.Role {
	case "user":
		allowed = []string{"input_text", "input_image"}
	case "system", "developer":
		allowed = []string{"input_text"}
	case "assistant":
		allowed = []string{"output_text", "refusal", "input_text"}
	case "":
		return openaiwire.Invalid(p+".role", "is required")
	default:
		return openaiwire.Invalid(p+".role", "must be one of user, assistant, system, developer; got %q", w.Role)
	}
	it.Role = w.Role
	if isNull(w.Content) {
		return openaiwire.Invalid(p+".content", "is required")
	}
	if c := bytes.TrimSpace(w.Content); c[0] == '"' {
		var s string
		json.Unmarshal(c, &s)
		typ := "input_text"
		if w.Role == "assistant" {
			typ = "output_text"
		}
		it.Content = []Part{{Type: typ, Text: s}}
		return nil
	}
	parts, err := decodeParts(w.Content, p+".content", allowed...)
	it.Content = parts
	return err
}

// decodeToolOutput reads a function call output: a string or a list of
// input_text and input_image parts.
func decodeToolOutput(raw json.RawMessage, it *Item, p string) error {
	if isNull(raw) {
		return openaiwire.Invalid(p, "is required")
	}
	if c := bytes.TrimSpace(raw); c[0] == '"' {
		return json.Unmarshal(c, &it.Output)
	}
	parts, err := decodeParts(raw, p, "input_text", "input_image")
	if err == nil && parts == nil {
		parts = []Part{}
	}
	it.OutputParts = parts
	return err
}

// decodeParts reads a list of content parts of the allowed types.
func decodeParts(raw json.RawMessage, p string, allowed ...string) ([]Part, error) {
	var list []json.RawMessage
	if bytes.TrimSpace(raw)[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, openaiwire.Invalid(p, "must be a string or an array of content parts")
	}
	var out []Part
	for j, raw := range list {
		q := p + "[" + strconv.Itoa(j) + "]"
		var w wirePart
		if err := decodeAt(raw, &w, q); err != nil {
			return nil, err
		}
		part, err := checkPart(&w, q, allowed)
		if err != nil {
			return nil, err
		}
		out = append(out, part)
	}
	return out, nil
}

// checkPart validates one part and normalises it.
func checkPart(w *wirePart, q string, allowed []string) (Part, error) {
	if !isNull(w.PromptCacheBreakpoint) {
		return Part{}, openaiwire.Unsupported(q+".prompt_cache_breakpoint", "Penny places Bedrock prompt-cache checkpoints itself (the prompt_cache setting)")
	}
	switch w.Type {
	case "input_file":
		return Part{}, openaiwire.Unsupported(q+".type", "file inputs are not supported yet; send documents through the Converse API")
	case "input_audio":
		return Part{}, openaiwire.Unsupported(q+".type", "audio input is not supported by Bedrock's Converse API for chat models")
	case "":
		return Part{}, openaiwire.Invalid(q+".type", "is required")
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == w.Type
	}
	if !ok {
		if w.Type == "input_image" {
			// As in chat completions: Bedrock takes images in user turns only.
			return Part{}, openaiwire.Unsupported(q+".type", "%q parts are only supported in user messages and function call outputs", w.Type)
		}
		return Part{}, openaiwire.Invalid(q+".type", "%q parts are not allowed here (%s)", w.Type, strings.Join(allowed, ", "))
	}
	part := Part{Type: w.Type}
	switch w.Type {
	case "input_image":
		if w.FileID != nil && *w.FileID != "" {
			return part, openaiwire.Unsupported(q+".file_id", "file ids are not supported: send the image as a base64 data URL in image_url")
		}
		if w.ImageURL == nil || *w.ImageURL == "" {
			return part, openaiwire.Invalid(q+".image_url", "is required")
		}
		part.ImageURL, part.Detail = *w.ImageURL, w.Detail
	case "refusal":
		if w.Refusal == nil {
			return part, openaiwire.Invalid(q+".refusal", "is required")
		}
		part.Refusal = *w.Refusal
	default:
		if w.Text == nil {
			return part, openaiwire.Invalid(q+".text", "is required")
		}
		part.Text = *w.Text
	}
	return part, nil
}
