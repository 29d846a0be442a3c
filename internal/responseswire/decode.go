package responseswire

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// Create is a decoded, validated POST /v1/responses request. Turning it
// into an llm.Request needs the conversation it continues, if any
// (previous_response_id), which the caller loads: see Request.
type Create struct {
	Wire CreateRequest
	// Input is the request's own input items, normalised; ids are given
	// to those without by AssignIDs.
	Input []Item
	// Tools are the function tools, as they are echoed in the answer.
	Tools []FunctionTool
	// Store says whether the response is to be stored (default true).
	Store bool
	// ServiceTier is the Bedrock tier asked for ("" = the default).
	ServiceTier llm.ServiceTier

	choice     *openaiwire.ToolChoice
	choiceJSON json.RawMessage
}

// Decode parses and validates a POST /v1/responses body. Errors are
// *llm.Error naming the parameter: KindValidation for malformed or invalid
// input, KindUnsupported for valid Responses API features Bedrock cannot
// honour (built-in tools, background mode, conversations, prompt
// templates, structured outputs, …).
func Decode(body []byte) (*Create, error) {
	c := &Create{}
	if err := openaiwire.DecodeStrict(body, &c.Wire, locateField); err != nil {
		return nil, err
	}
	w := &c.Wire
	if strings.TrimSpace(w.Model) == "" {
		return nil, openaiwire.Invalid("model", "is required")
	}
	if err := refuseUnsupported(w); err != nil {
		return nil, err
	}
	if w.StreamOptions != nil && !w.Stream {
		return nil, openaiwire.Invalid("stream_options", "only allowed when stream is true")
	}
	c.Store = w.Store == nil || *w.Store
	if err := c.checkSettings(); err != nil {
		return nil, err
	}
	if err := c.decodeTools(); err != nil {
		return nil, err
	}
	items, err := decodeInput(w.Input)
	if err != nil {
		return nil, err
	}
	c.Input = items
	if len(items) == 0 && w.Metadata[openaiwire.TemplateKey] == "" {
		return nil, openaiwire.Invalid("input", "is required (or name a prompt template in metadata.%s)", openaiwire.TemplateKey)
	}
	return c, nil
}

// refuseUnsupported refuses what Bedrock cannot do, by name.
func refuseUnsupported(w *CreateRequest) error {
	u := openaiwire.Unsupported
	switch {
	case w.Background != nil && *w.Background:
		return u("background", "background responses are not supported: Penny answers while the request is open; stream the answer instead")
	case !isNull(w.Conversation):
		return u("conversation", "conversations are not supported; continue a response with previous_response_id")
	case !isNull(w.Prompt):
		return u("prompt", "OpenAI's stored prompt templates are not supported; use Penny's managed templates (metadata.%s)", openaiwire.TemplateKey)
	case !isNull(w.PromptCacheOptions):
		return u("prompt_cache_options", "Penny places Bedrock prompt-cache checkpoints itself (the prompt_cache setting)")
	case w.PromptCacheRetention != nil && *w.PromptCacheRetention != "in_memory":
		return u("prompt_cache_retention", "%q is not supported: Bedrock keeps cached prefixes for 5 minutes (or 1 hour where a route asks for it)", *w.PromptCacheRetention)
	case !isNull(w.ContextManagement):
		return u("context_management", "server-side compaction is not supported")
	case !isNull(w.Moderation):
		return u("moderation", "moderated completions are not supported; use a Bedrock guardrail")
	case !isNull(w.AccessPrograms):
		return u("access_programs", "not supported by Bedrock")
	case w.TopLogprobs != nil && *w.TopLogprobs > 0:
		return u("top_logprobs", "Bedrock does not return token log probabilities")
	case w.ParallelToolCalls != nil && !*w.ParallelToolCalls:
		return u("parallel_tool_calls", "false is not supported: Bedrock models may call several tools in one turn")
	case w.Truncation != nil && *w.Truncation == "auto":
		return u("truncation", "\"auto\" is not supported: Penny does not drop conversation items; Bedrock refuses input longer than the model's context window")
	case w.Truncation != nil && *w.Truncation != "disabled":
		return openaiwire.Invalid("truncation", "must be \"auto\" or \"disabled\", got %q", *w.Truncation)
	case w.Reasoning != nil && (w.Reasoning.Effort != nil && *w.Reasoning.Effort != "none" || w.Reasoning.Summary != nil || w.Reasoning.GenerateSummary != nil):
		return u("reasoning", "not supported yet; pass reasoning settings through the Converse API's additionalModelRequestFields")
	}
	if t := w.Text; t != nil {
		if f := t.Format; f != nil && f.Type != "" && f.Type != "text" {
			return u("text.format", "type %q is not supported by Bedrock's Converse API; ask for JSON in the prompt or use a function tool with a parameters schema", f.Type)
		}
		if v := t.Verbosity; v != nil && *v != "medium" {
			return u("text.verbosity", "%q is not supported by Bedrock; ask for shorter or longer answers in the prompt", *v)
		}
	}
	for i, inc := range w.Include {
		p := "include[" + strconv.Itoa(i) + "]"
		switch inc {
		case "reasoning.encrypted_content", "message.input_image.image_url":
			// Always included: reasoning carries Bedrock's signature, and
			// input images are kept as the data URLs they were sent as.
		case "message.output_text.logprobs":
			return u(p, "Bedrock does not return token log probabilities")
		case "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
			"code_interpreter_call.outputs", "computer_call_output.output.image_url":
			return u(p, "%q belongs to a built-in tool, which Penny does not run", inc)
		default:
			return openaiwire.Invalid(p, "unknown value %q", inc)
		}
	}
	return nil
}

// checkSettings validates the inference settings and the service tier.
func (c *Create) checkSettings() error {
	w := &c.Wire
	if mt := w.MaxOutputTokens; mt != nil && *mt < 1 {
		return openaiwire.Invalid("max_output_tokens", "must be at least 1, got %d", *mt)
	}
	if mt := w.MaxToolCalls; mt != nil && *mt < 1 {
		return openaiwire.Invalid("max_tool_calls", "must be at least 1, got %d", *mt)
	}
	if t := w.Temperature; t != nil && (*t < 0 || *t > 2) {
		return openaiwire.Invalid("temperature", "must be between 0 and 2, got %g", *t)
	}
	if t := w.Temperature; t != nil && *t > 1 {
		return openaiwire.Unsupported("temperature", "Bedrock accepts 0 to 1, got %g", *t)
	}
	if p := w.TopP; p != nil && (*p < 0 || *p > 1) {
		return openaiwire.Invalid("top_p", "must be between 0 and 1, got %g", *p)
	}
	if w.ServiceTier != nil {
		switch *w.ServiceTier {
		case "auto":
		case "default":
			c.ServiceTier = llm.TierDefault
		case "flex":
			c.ServiceTier = llm.TierFlex
		case "priority", "fast":
			// OpenAI documents "fast" as priority processing.
			c.ServiceTier = llm.TierPriority
		case "scale", "ultrafast":
			return openaiwire.Unsupported("service_tier", "%q is not a Bedrock service tier (default, flex, priority)", *w.ServiceTier)
		default:
			return openaiwire.Invalid("service_tier", "must be auto, default, flex or priority, got %q", *w.ServiceTier)
		}
	}
	return nil
}

// builtinTools are the Responses API's hosted tools and tool types other
// than function, which Penny does not run.
var builtinTools = map[string]bool{
	"file_search": true, "web_search": true, "web_search_preview": true, "web_search_2025_08_26": true,
	"web_search_preview_2025_03_11": true, "computer": true, "computer_use": true, "computer_use_preview": true,
	"code_interpreter": true, "image_generation": true, "mcp": true, "local_shell": true, "shell": true,
	"custom": true, "apply_patch": true, "namespace": true, "tool_search": true,
}

// decodeTools checks tools and tool_choice and keeps them for Request and
// for the answer's echo.
func (c *Create) decodeTools() error {
	w := &c.Wire
	c.Tools = make([]FunctionTool, 0, len(w.Tools))
	for i, raw := range w.Tools {
		p := "tools[" + strconv.Itoa(i) + "]"
		typ := peekType(raw)
		switch {
		case typ == "function":
		case builtinTools[typ]:
			return openaiwire.Unsupported(p+".type", "%q tools are not supported: Penny serves function tools only, which your code runs", typ)
		case typ == "":
			return openaiwire.Invalid(p+".type", "is required")
		default:
			return openaiwire.Invalid(p+".type", "unknown tool type %q", typ)
		}
		var t FunctionTool
		if err := decodeAt(raw, &t, p); err != nil {
			return err
		}
		c.Tools = append(c.Tools, t)
	}
	choice, echo, err := decodeToolChoice(w.ToolChoice)
	if err != nil {
		return err
	}
	c.choice, c.choiceJSON = choice, echo
	// Check the tools now, so that the errors come before any upstream
	// call; Request translates them again.
	_, err = c.toolConfig()
	return err
}

// toolConfig translates the function tools through openaiwire, as chat
// completions' are.
func (c *Create) toolConfig() (*llm.ToolConfig, error) {
	fns := make([]openaiwire.FunctionDef, len(c.Tools))
	for i, t := range c.Tools {
		fns[i] = openaiwire.FunctionDef{Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict}
	}
	return openaiwire.FunctionTools(fns, c.choice, openaiwire.ToolNames{
		Field:      func(i int, f string) string { return "tools[" + strconv.Itoa(i) + "]." + f },
		ChoiceName: "tool_choice.name",
	})
}

// decodeToolChoice reads "none", "auto", "required", {"type":"function",
// "name":…} and the other object forms, which are refused by name. It
// returns the choice (nil when not given) and its normalised echo.
func decodeToolChoice(raw json.RawMessage) (*openaiwire.ToolChoice, json.RawMessage, error) {
	if isNull(raw) {
		return nil, json.RawMessage(`"auto"`), nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "none", "auto", "required":
			echo, _ := json.Marshal(mode)
			return &openaiwire.ToolChoice{Mode: mode}, echo, nil
		}
		return nil, nil, openaiwire.Invalid("tool_choice", "must be \"none\", \"auto\", \"required\" or an object, got %q", mode)
	}
	if !openaiwire.IsJSONObject(raw) {
		return nil, nil, openaiwire.Invalid("tool_choice", "must be a string or an object")
	}
	var obj struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	switch json.Unmarshal(raw, &obj); {
	case obj.Type == "function":
		if err := decodeAt(raw, &obj, "tool_choice"); err != nil {
			return nil, nil, err
		}
		if obj.Name == "" {
			return nil, nil, openaiwire.Invalid("tool_choice.name", "is required")
		}
		echo, _ := json.Marshal(obj)
		return &openaiwire.ToolChoice{Mode: "function", Function: obj.Name}, echo, nil
	case obj.Type == "allowed_tools":
		return nil, nil, openaiwire.Unsupported("tool_choice", "type \"allowed_tools\" is not supported; offer only the tools the model may call")
	case builtinTools[obj.Type]:
		return nil, nil, openaiwire.Unsupported("tool_choice", "type %q is not supported: Penny serves function tools only", obj.Type)
	case obj.Type == "":
		return nil, nil, openaiwire.Invalid("tool_choice.type", "is required")
	}
	return nil, nil, openaiwire.Invalid("tool_choice.type", "unknown type %q", obj.Type)
}

// peekType returns the "type" member of a JSON object, or "".
func peekType(raw json.RawMessage) string {
	var v struct {
		Type string `json:"type"`
	}
	json.Unmarshal(raw, &v)
	return v.Type
}

// decodeAt decodes raw strictly into v; errors name their place under p.
func decodeAt(raw json.RawMessage, v any, p string) error {
	err := openaiwire.DecodeStrict(raw, v, func(b []byte, name string) string { return locateIn(b, name, p) })
	if err == nil {
		return nil
	}
	e, ok := err.(*llm.Error)
	if !ok || strings.HasPrefix(e.Param, p) {
		return err // an unknown field, located by locateIn
	}
	param := p
	if e.Param != "" {
		param += "." + e.Param
	}
	return &llm.Error{Kind: e.Kind, Param: param, Message: p + ": " + strings.TrimPrefix(e.Message, "request body ")}
}

// locateIn finds the parent of an unknown field in the object b, which
// sits at p: p itself, or one of its content or summary parts.
func locateIn(b []byte, name, p string) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return ""
	}
	if _, ok := obj[name]; ok {
		return p
	}
	for _, list := range []string{"content", "summary", "output"} {
		var parts []map[string]json.RawMessage
		if json.Unmarshal(obj[list], &parts) != nil {
			continue
		}
		for j, part := range parts {
			if _, ok := part[name]; ok {
				return fmt.Sprintf("%s.%s[%d]", p, list, j)
			}
		}
	}
	return p
}

// locateField finds where an unknown field of a whole body sits: "" at the
// top level, else its parent's path.
func locateField(body []byte, name string) string {
	obj := func(raw json.RawMessage) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		json.Unmarshal(raw, &m)
		return m
	}
	top := obj(body)
	if _, ok := top[name]; ok {
		return ""
	}
	text := obj(top["text"])
	for _, in := range []struct {
		path string
		m    map[string]json.RawMessage
	}{{"text", text}, {"text.format", obj(text["format"])}, {"reasoning", obj(top["reasoning"])}, {"stream_options", obj(top["stream_options"])}} {
		if _, ok := in.m[name]; ok {
			return in.path
		}
	}
	return ""
}
