package openaiwire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/jsonstrict"
	"github.com/penny-gateway/penny/internal/llm"
)

// TemplateKey is the metadata entry that names a managed prompt template
// (package templates); the other metadata entries are its variables.
const TemplateKey = "penny_template"

// Options are the parts of a chat request that shape the answer rather than
// the model call.
type Options struct {
	Stream       bool
	IncludeUsage bool
}

// DecodeRequest parses and validates a chat-completions body and translates
// it to an llm.Request. Errors are *llm.Error: KindValidation for malformed
// or invalid input, KindUnsupported for valid OpenAI features Bedrock cannot
// honour. Every message names the offending parameter.
func DecodeRequest(body []byte) (*llm.Request, Options, error) {
	var cr ChatRequest
	if err := DecodeStrict(body, &cr, locateField); err != nil {
		return nil, Options{}, err
	}
	return Translate(&cr)
}

// DecodeStrict decodes body, a single JSON object, into v; a field v does
// not have is an error. Errors are precise validation errors (*llm.Error)
// for the client; locate, if not nil, finds where an unknown field sits in
// body (its parent's path, "" at the top level), because encoding/json
// names the field but not where it is.
//
// A large body is decoded without a copy of it (see package jsonstrict).
func DecodeStrict(body []byte, v any, locate func(body []byte, name string) string) error {
	err := jsonstrict.Decode(body, v)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jsonstrict.ErrTrailing):
		return llm.Errorf(llm.KindValidation, "request body must be a single JSON object")
	}
	return jsonError(err, body, locate)
}

// jsonError turns an encoding/json error into a precise validation error.
// body is only read again to locate an unknown field.
func jsonError(err error, body []byte, locate func([]byte, string) string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return llm.Errorf(llm.KindValidation, "request body is empty: expected a JSON object")
	case errors.As(err, &syn):
		return llm.Errorf(llm.KindValidation, "request body is not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return llm.Errorf(llm.KindValidation, "request body is not valid JSON: unexpected end of input")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return llm.Errorf(llm.KindValidation, "request body must be a JSON object, not %s", typ.Value)
		}
		return &llm.Error{Kind: llm.KindValidation, Param: field, Message: fmt.Sprintf("invalid type for '%s': expected %s, got %s", field, expectedFor(field, typ.Type.Kind().String()), typ.Value)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name := strings.Trim(f, `"`)
		if locate != nil {
			if at := locate(body, name); at != "" {
				return invalid(at, "unrecognized field %q", name)
			}
		}
		return &llm.Error{Kind: llm.KindValidation, Param: name, Message: "unrecognized request argument supplied: " + name}
	}
	return llm.Errorf(llm.KindValidation, "invalid request body: %s", strings.TrimPrefix(msg, "json: "))
}

// expectedFor names what a field accepts. Fields with a custom decoder
// accept more than one JSON type, which the reflect kind does not say.
func expectedFor(field, kind string) string {
	switch {
	case field == "stop":
		return "a string or an array of strings"
	case field == "tool_choice":
		return "a string or an object"
	case field == "input":
		return "a string or an array of input items"
	case strings.HasSuffix(field, ".content"):
		return "a string or an array of content parts"
	}
	return jsonKind(kind)
}

// locateField finds where an unknown field sits in body: "" when it is a
// top-level argument (or cannot be found), else its parent's path, e.g.
// "messages[2]". encoding/json names the field but not where it is.
func locateField(body []byte, name string) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return ""
	}
	if _, ok := top[name]; ok {
		return ""
	}
	// Only the strictly decoded objects can hold an unknown field; free-form
	// values (metadata, schemas, content parts) are never searched.
	var msgs []map[string]json.RawMessage
	_ = json.Unmarshal(top["messages"], &msgs)
	for i, m := range msgs {
		p := fmt.Sprintf("messages[%d]", i)
		if _, ok := m[name]; ok {
			return p
		}
		var calls []map[string]json.RawMessage
		_ = json.Unmarshal(m["tool_calls"], &calls)
		for j, c := range calls {
			q := fmt.Sprintf("%s.tool_calls[%d]", p, j)
			if _, ok := c[name]; ok {
				return q
			}
			if has(c["function"], name) {
				return q + ".function"
			}
		}
	}
	var tools []map[string]json.RawMessage
	_ = json.Unmarshal(top["tools"], &tools)
	for i, t := range tools {
		p := fmt.Sprintf("tools[%d]", i)
		if _, ok := t[name]; ok {
			return p
		}
		if has(t["function"], name) {
			return p + ".function"
		}
	}
	for _, k := range []string{"stream_options", "response_format"} {
		if has(top[k], name) {
			return k
		}
	}
	return ""
}

// has reports whether raw is an object with the key name.
func has(raw json.RawMessage, name string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m[name]
	return ok
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "uint", "uint64":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return k
}

// path names a place in the request for an error message. It is a function
// so that the name is only formatted when an error needs it.
type path func() string

// index returns the path of element i of the list named by p.
func index(p string, i int) path {
	return func() string { return p + "[" + strconv.Itoa(i) + "]" }
}

// sub returns the path of element i of the list field of p.
func (p path) sub(field string, i int) path {
	return func() string { return p() + "." + field + "[" + strconv.Itoa(i) + "]" }
}

func invalid(param, format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindValidation, Param: param, Message: param + ": " + fmt.Sprintf(format, args...)}
}

func unsupported(param, format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindUnsupported, Param: param, Message: param + ": " + fmt.Sprintf(format, args...)}
}

// Invalid is a validation error of the request parameter param (a path
// such as "input[2].content"): its message starts with param, and OpenAI's
// error.param is set to it. The other OpenAI frontends use it so that
// their errors read the same.
func Invalid(param, format string, args ...any) *llm.Error { return invalid(param, format, args...) }

// Unsupported is Invalid for a valid OpenAI parameter Bedrock cannot
// honour (code unsupported_parameter).
func Unsupported(param, format string, args ...any) *llm.Error {
	return unsupported(param, format, args...)
}

// Tags are the ledger tags of an OpenAI request: its metadata, and its
// user and safety_identifier under those names; nil when there are none.
func Tags(metadata map[string]string, user, safetyIdentifier string) map[string]string {
	if user == "" && safetyIdentifier == "" && len(metadata) == 0 {
		return nil
	}
	tags := make(map[string]string, len(metadata)+2)
	for k, v := range metadata {
		tags[k] = v
	}
	if user != "" {
		tags["user"] = user
	}
	if safetyIdentifier != "" {
		tags["safety_identifier"] = safetyIdentifier
	}
	return tags
}

// Translate validates a decoded ChatRequest and converts it.
func Translate(cr *ChatRequest) (*llm.Request, Options, error) {
	opts := Options{Stream: cr.Stream}
	if cr.StreamOptions != nil {
		if !cr.Stream {
			return nil, opts, invalid("stream_options", "only allowed when stream is true")
		}
		opts.IncludeUsage = cr.StreamOptions.IncludeUsage
	}
	if strings.TrimSpace(cr.Model) == "" {
		return nil, opts, invalid("model", "is required")
	}
	if err := refuseUnsupported(cr); err != nil {
		return nil, opts, err
	}
	req := &llm.Request{Model: cr.Model}
	req.Meta.Stream = cr.Stream
	req.Meta.Tags = Tags(cr.Metadata, cr.User, cr.SafetyIdentifier)

	// Inference settings.
	// max_completion_tokens replaces the deprecated max_tokens and wins
	// when both are given.
	mtName := "max_tokens"
	req.Config.MaxTokens = cr.MaxTokens
	if cr.MaxCompletionTokens != nil {
		mtName = "max_completion_tokens"
		req.Config.MaxTokens = cr.MaxCompletionTokens
	}
	if mt := req.Config.MaxTokens; mt != nil && *mt < 1 {
		return nil, opts, invalid(mtName, "must be at least 1, got %d", *mt)
	}
	if t := cr.Temperature; t != nil && (*t < 0 || *t > 2) {
		return nil, opts, invalid("temperature", "must be between 0 and 2, got %g", *t)
	}
	if t := cr.Temperature; t != nil && *t > 1 {
		return nil, opts, unsupported("temperature", "Bedrock accepts 0 to 1, got %g", *t)
	}
	req.Config.Temperature = cr.Temperature
	if p := cr.TopP; p != nil && (*p < 0 || *p > 1) {
		return nil, opts, invalid("top_p", "must be between 0 and 1, got %g", *p)
	}
	req.Config.TopP = cr.TopP
	if cr.Stop != nil {
		if len(*cr.Stop) > 4 {
			return nil, opts, invalid("stop", "at most 4 sequences, got %d", len(*cr.Stop))
		}
		for i, s := range *cr.Stop {
			if s == "" {
				return nil, opts, invalid(fmt.Sprintf("stop[%d]", i), "must not be empty")
			}
		}
		req.Config.StopSequences = []string(*cr.Stop)
	}

	// Tools.
	if err := translateTools(cr, req); err != nil {
		return nil, opts, err
	}

	// Messages. A request naming a managed prompt template in its metadata
	// may send none: the template supplies the user message.
	templated := cr.Metadata[TemplateKey] != ""
	if len(cr.Messages) == 0 && !templated {
		return nil, opts, invalid("messages", "must contain at least one message (or name a prompt template in metadata.%s)", TemplateKey)
	}
	for i := range cr.Messages {
		if err := addMessage(req, &cr.Messages[i], index("messages", i)); err != nil {
			return nil, opts, err
		}
	}
	if len(req.Messages) == 0 {
		if templated {
			return req, opts, nil
		}
		return nil, opts, invalid("messages", "must contain at least one user message besides system messages")
	}
	if req.Messages[0].Role != llm.RoleUser {
		return nil, opts, invalid("messages", "the first non-system message must be from the user (Bedrock requires conversations to start with a user turn)")
	}
	return req, opts, nil
}

func refuseUnsupported(cr *ChatRequest) error {
	switch {
	case cr.N != nil && *cr.N < 1:
		return invalid("n", "must be at least 1, got %d", *cr.N)
	case cr.N != nil && *cr.N != 1:
		return unsupported("n", "Bedrock returns one choice per request; send %d requests instead", *cr.N)
	case cr.PresencePenalty != nil && *cr.PresencePenalty != 0:
		return unsupported("presence_penalty", "not supported by Bedrock's Converse API")
	case cr.FrequencyPenalty != nil && *cr.FrequencyPenalty != 0:
		return unsupported("frequency_penalty", "not supported by Bedrock's Converse API")
	case len(cr.LogitBias) > 0:
		return unsupported("logit_bias", "not supported by Bedrock's Converse API")
	case cr.Logprobs != nil && *cr.Logprobs, cr.TopLogprobs != nil && *cr.TopLogprobs > 0:
		return unsupported("logprobs", "Bedrock does not return token log probabilities")
	case cr.Seed != nil:
		return unsupported("seed", "Bedrock has no sampling seed; remove it or set temperature 0 for repeatable answers")
	case cr.ReasoningEffort != nil:
		return unsupported("reasoning_effort", "not supported yet; pass reasoning settings through the Converse API's additionalModelRequestFields")
	case len(cr.Modalities) > 0 && !(len(cr.Modalities) == 1 && cr.Modalities[0] == "text"):
		return unsupported("modalities", "only text output is supported")
	case len(cr.Audio) > 0 && string(cr.Audio) != "null":
		return unsupported("audio", "audio output is not supported")
	case len(cr.Prediction) > 0 && string(cr.Prediction) != "null":
		return unsupported("prediction", "predicted outputs are not supported by Bedrock")
	case len(cr.WebSearchOptions) > 0 && string(cr.WebSearchOptions) != "null":
		return unsupported("web_search_options", "web search is not supported by Bedrock")
	case len(cr.Functions) > 0 || len(cr.FunctionCall) > 0:
		return unsupported("functions", "the deprecated functions API is not supported; use tools")
	case cr.ParallelToolCalls != nil && !*cr.ParallelToolCalls:
		return unsupported("parallel_tool_calls", "false is not supported: Bedrock models may call several tools in one turn")
	case cr.ResponseFormat != nil && cr.ResponseFormat.Type != "" && cr.ResponseFormat.Type != "text":
		return unsupported("response_format", "type %q is not supported by Bedrock's Converse API; ask for JSON in the prompt or use a tool with an input schema", cr.ResponseFormat.Type)
	case cr.Verbosity != nil && *cr.Verbosity != "medium":
		return unsupported("verbosity", "%q is not supported by Bedrock; ask for shorter or longer answers in the prompt", *cr.Verbosity)
	case cr.ServiceTier != nil && *cr.ServiceTier != "auto" && *cr.ServiceTier != "default":
		return unsupported("service_tier", "%q is not supported", *cr.ServiceTier)
	}
	return nil
}

func translateTools(cr *ChatRequest, req *llm.Request) error {
	fns := make([]FunctionDef, len(cr.Tools))
	for i, t := range cr.Tools {
		if t.Type != "function" {
			return unsupported(index("tools", i)()+".type", "only \"function\" tools are supported, got %q", t.Type)
		}
		fns[i] = t.Function
	}
	tc, err := FunctionTools(fns, cr.ToolChoice, ToolNames{
		Field:      func(i int, f string) string { return index("tools", i)() + ".function." + f },
		ChoiceName: "tool_choice.function.name",
	})
	req.Tools = tc
	return err
}

// ToolNames say how a request names what FunctionTools checks, for its
// error messages.
type ToolNames struct {
	// Field names field f ("name", "parameters") of tool i.
	Field func(i int, f string) string
	// ChoiceName names the function a tool choice forces.
	ChoiceName string
}

// FunctionTools translates function tools and a tool choice (nil when not
// given) to Converse's toolConfig; it returns nil when no tools are to be
// offered. A tool without parameters gets an empty object schema;
// "required" becomes "any"; "none" forbids tool calls, which Bedrock has no
// choice for, so the (valid) tools are not offered at all, to the same
// effect. Errors are *llm.Error naming the parameter.
func FunctionTools(fns []FunctionDef, choice *ToolChoice, names ToolNames) (*llm.ToolConfig, error) {
	none := choice != nil && choice.Mode == "none" && choice.Function == ""
	if len(fns) == 0 {
		if choice != nil && !none && choice.Mode != "auto" {
			return nil, invalid("tool_choice", "is only allowed when tools are given")
		}
		return nil, nil
	}
	tc := &llm.ToolConfig{}
	seen := map[string]bool{}
	for i, fn := range fns {
		name := fn.Name
		if name == "" {
			return nil, invalid(names.Field(i, "name"), "is required")
		}
		if seen[name] {
			return nil, invalid(names.Field(i, "name"), "duplicate tool name %q", name)
		}
		seen[name] = true
		schema := fn.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		} else if !IsJSONObject(schema) {
			return nil, invalid(names.Field(i, "parameters"), "must be a JSON Schema object")
		}
		tc.Tools = append(tc.Tools, llm.Tool{Name: name, Description: fn.Description, InputSchema: schema})
	}
	if none {
		return nil, nil
	}
	if c := choice; c != nil {
		switch c.Mode {
		case "auto", "":
			tc.Choice.Mode = llm.ToolChoiceAuto
		case "required":
			tc.Choice.Mode = llm.ToolChoiceAny
		case "function":
			if !seen[c.Function] {
				return nil, invalid(names.ChoiceName, "names no tool in tools: %q", c.Function)
			}
			tc.Choice = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: c.Function}
		case "allowed_tools", "custom":
			return nil, unsupported("tool_choice", "type %q is not supported; use \"auto\", \"required\" or a function", c.Mode)
		default:
			return nil, invalid("tool_choice", "must be \"none\", \"auto\", \"required\" or a function, got %q", c.Mode)
		}
	}
	return tc, nil
}

// IsJSONObject reports whether b is a valid JSON object.
func IsJSONObject(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// addMessage appends m to req, merging consecutive turns of the same role
// (Bedrock requires user and assistant turns to alternate; OpenAI sends one
// "tool" message per tool result).
func addMessage(req *llm.Request, m *ChatMessage, p path) error {
	switch m.Role {
	case "system", "developer":
		text, err := textOnly(m.Content, p)
		if err != nil {
			return err
		}
		if text != "" {
			req.System = append(req.System, llm.SystemBlock{Text: text})
		}
		return nil
	case "user":
		blocks, err := userBlocks(m.Content, p)
		if err != nil {
			return err
		}
		if len(blocks) == 0 {
			return invalid(p()+".content", "must not be empty")
		}
		AppendTurn(req, llm.RoleUser, blocks)
	case "assistant":
		var blocks []llm.Block
		if m.Content != nil || m.Refusal != nil {
			text, err := assistantText(m, p)
			if err != nil {
				return err
			}
			if strings.TrimSpace(text) != "" {
				blocks = append(blocks, llm.TextBlock(text))
			}
		}
		for j, tc := range m.ToolCalls {
			q := p.sub("tool_calls", j)
			if tc.ID == "" {
				return invalid(q()+".id", "is required")
			}
			if tc.Function.Name == "" {
				return invalid(q()+".function.name", "is required")
			}
			args := strings.TrimSpace(tc.Function.Arguments)
			if args == "" {
				args = "{}"
			}
			if !IsJSONObject(json.RawMessage(args)) {
				return invalid(q()+".function.arguments", "must be a JSON object encoded as a string")
			}
			blocks = append(blocks, llm.Block{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: tc.ID, Name: tc.Function.Name, Input: json.RawMessage(args)}})
		}
		if len(m.FunctionCall) > 0 && string(m.FunctionCall) != "null" {
			return unsupported(p()+".function_call", "the deprecated functions API is not supported; use tool_calls")
		}
		if len(blocks) == 0 {
			return invalid(p(), "an assistant message needs content or tool_calls")
		}
		AppendTurn(req, llm.RoleAssistant, blocks)
	case "tool":
		if m.ToolCallID == "" {
			return invalid(p()+".tool_call_id", "is required for tool messages")
		}
		text, err := textOnly(m.Content, p)
		if err != nil {
			return err
		}
		res := &llm.ToolResult{ToolUseID: m.ToolCallID, Content: []llm.ToolResultContent{{Text: text}}}
		AppendTurn(req, llm.RoleUser, []llm.Block{{Type: llm.BlockToolResult, ToolResult: res}})
	case "function":
		return unsupported(p()+".role", "the deprecated \"function\" role is not supported; use \"tool\"")
	case "":
		return invalid(p()+".role", "is required")
	default:
		return invalid(p()+".role", "must be one of system, developer, user, assistant, tool; got %q", m.Role)
	}
	return nil
}

// AppendTurn appends a turn of role to req, merging it into the last turn
// when that has the same role (Bedrock requires user and assistant turns
// to alternate); tool results go before any text of a merged user turn.
func AppendTurn(req *llm.Request, role llm.Role, blocks []llm.Block) {
	if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == role {
		last := &req.Messages[n-1]
		// Tool results must come before any text in a user turn.
		if role == llm.RoleUser && len(blocks) > 0 && blocks[0].Type == llm.BlockToolResult {
			i := 0
			for i < len(last.Content) && last.Content[i].Type == llm.BlockToolResult {
				i++
			}
			merged := append(append(append([]llm.Block{}, last.Content[:i]...), blocks...), last.Content[i:]...)
			last.Content = merged
			return
		}
		last.Content = append(last.Content, blocks...)
		return
	}
	req.Messages = append(req.Messages, llm.Message{Role: role, Content: blocks})
}

// assistantText is an assistant message's text. A refusal (the refusal
// field or "refusal" parts) is what the model said, so it is kept as text.
func assistantText(m *ChatMessage, p path) (string, error) {
	c := m.Content
	var b strings.Builder
	if c != nil && !c.IsParts {
		b.WriteString(c.Text)
	}
	if c != nil && c.IsParts {
		for j, part := range c.Parts {
			var t string
			switch part.Type {
			case "text":
				t = part.Text
			case "refusal":
				t = part.Refusal
			default:
				return "", unsupported(p.sub("content", j)()+".type", "%q parts are only supported in user messages", part.Type)
			}
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(t)
		}
	}
	if m.Refusal != nil && *m.Refusal != "" && strings.TrimSpace(b.String()) == "" {
		b.Reset()
		b.WriteString(*m.Refusal)
	}
	return b.String(), nil
}

func textOnly(c *Content, p path) (string, error) {
	if c == nil {
		return "", nil
	}
	if !c.IsParts {
		return c.Text, nil
	}
	var b strings.Builder
	for j, part := range c.Parts {
		if part.Type != "text" {
			return "", unsupported(p.sub("content", j)()+".type", "%q parts are only supported in user messages", part.Type)
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(part.Text)
	}
	return b.String(), nil
}

func userBlocks(c *Content, p path) ([]llm.Block, error) {
	if c == nil {
		return nil, invalid(p()+".content", "is required")
	}
	if !c.IsParts {
		if c.Text == "" {
			return nil, nil
		}
		return []llm.Block{llm.TextBlock(c.Text)}, nil
	}
	var out []llm.Block
	for j, part := range c.Parts {
		q := p.sub("content", j)
		switch part.Type {
		case "text":
			if part.Text != "" {
				out = append(out, llm.TextBlock(part.Text))
			}
		case "image_url":
			if part.ImageURL == nil || part.ImageURL.URL == "" {
				return nil, invalid(q()+".image_url.url", "is required")
			}
			img, err := DecodeDataURL(part.ImageURL.URL, func() string { return q() + ".image_url.url" })
			if err != nil {
				return nil, err
			}
			out = append(out, llm.Block{Type: llm.BlockImage, Image: img})
		case "input_audio":
			return nil, unsupported(q()+".type", "audio input is not supported by Bedrock's Converse API for chat models")
		case "file":
			return nil, unsupported(q()+".type", "file parts are not supported yet; send documents through the Converse API")
		case "":
			return nil, invalid(q()+".type", "is required")
		default:
			return nil, invalid(q()+".type", "unknown content part type %q", part.Type)
		}
	}
	return out, nil
}

// DecodeDataURL accepts data:image/(png|jpeg|gif|webp);base64,…. Bedrock
// takes image bytes, not URLs, and Penny does not fetch remote URLs. p
// names the parameter in errors.
func DecodeDataURL(u string, p func() string) (*llm.Image, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return nil, unsupported(p(), "only base64 data URLs (data:image/png;base64,...) are supported: Bedrock takes image bytes and Penny does not fetch remote URLs")
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return nil, invalid(p(), "data URL must be base64-encoded")
	}
	mime := strings.ToLower(strings.TrimSuffix(meta, ";base64"))
	format := ""
	switch mime {
	case "image/png":
		format = "png"
	case "image/jpeg", "image/jpg":
		format = "jpeg"
	case "image/gif":
		format = "gif"
	case "image/webp":
		format = "webp"
	default:
		return nil, unsupported(p(), "image type %q is not supported (png, jpeg, gif, webp)", mime)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil && !strings.HasSuffix(data, "=") {
		// Some clients drop the padding.
		raw, err = base64.RawStdEncoding.DecodeString(data)
	}
	if err != nil {
		return nil, invalid(p(), "invalid base64 image data: %v", err)
	}
	if len(raw) == 0 {
		return nil, invalid(p(), "image data is empty")
	}
	return &llm.Image{Format: format, Bytes: raw}, nil
}
