package anthropicwire

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// Options says how a Messages body was sent, for DecodeRequest.
type Options struct {
	Dialect Dialect
	// Betas are the anthropic-beta header's values (API dialect); they
	// join the body's anthropic_beta list.
	Betas []string
}

// Top-level members of a Messages body, by what becomes of them.
var (
	// translated into llm.Request's own fields.
	requestFields = []string{"model", "messages", "system", "max_tokens", "metadata", "stop_sequences",
		"stream", "temperature", "top_p", "tools", "tool_choice", "service_tier", "cache_control",
		"anthropic_version", "anthropic_beta"}
	// passed to Bedrock in additionalModelRequestFields, which Bedrock's
	// Converse merges into the Claude request as they are.
	additionalFields = []string{"top_k", "thinking", "context_management", "output_config"}
	// Anthropic features Bedrock does not serve; refused by name.
	refusedFields = map[string]string{
		"container":             "code-execution containers are an Anthropic API feature Bedrock does not serve",
		"mcp_servers":           "the MCP connector is an Anthropic API feature Bedrock does not serve",
		"inference_geo":         "Bedrock picks the region by the model id: use a us., eu., apac. or global. inference profile",
		"speed":                 "fast mode is not served by Bedrock",
		"diagnostics":           "request diagnostics are not served by Bedrock",
		"output_format":         "use output_config, which Bedrock takes",
		"fallbacks":             "use a Penny route's fallbacks instead",
		"fallback_credit_token": "not served by Bedrock",
		"thread":                "message threads are not served by Bedrock",
		"compaction":            "server-side compaction is not served by Bedrock",
		"billing_policy":        "not served by Bedrock",
		"user_profile_id":       "user profiles are not served by Bedrock",
	}
)

// localBetas are anthropic-beta values that only mark a client or an API
// feature Penny provides itself; they change nothing Bedrock does and are
// not forwarded (Bedrock refuses beta names it does not know). Every other
// beta is passed to Bedrock in anthropic_beta.
var localBetas = []string{"claude-code-", "oauth-", "prompt-caching-", "extended-cache-ttl-", "token-counting-"}

// maxCachePoints is how many cache_control marks Anthropic and Bedrock
// allow in one request.
const maxCachePoints = 4

// maxToolNameLen is Bedrock Converse's limit on tool names.
const maxToolNameLen = 64

// DecodeRequest parses and validates a Messages body and translates it to
// an llm.Request. Errors are *llm.Error whose message names the parameter:
// KindValidation for malformed or invalid input (unknown members
// included), KindUnsupported for Anthropic features Bedrock cannot serve.
// Nothing is dropped silently; what Converse has no field for (top_k,
// thinking, context_management, output_config, betas) goes to Bedrock in
// Request.Additional. In the API dialect Request.Model and Meta.Stream come
// from the body; in the Bedrock dialect the caller sets them.
func DecodeRequest(body []byte, o Options) (*llm.Request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, invalid("request body", "is empty: expected a JSON object")
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		return nil, invalid("request body", "is not valid JSON: %v", err)
	}
	top, err := object("", body)
	if err != nil {
		return nil, err
	}
	d := &decoder{o: o, req: &llm.Request{}, additional: map[string]json.RawMessage{}}
	if err := d.top(top); err != nil {
		return nil, err
	}
	return d.req, nil
}

type decoder struct {
	o          Options
	req        *llm.Request
	additional map[string]json.RawMessage
	// cachePoints counts cache_control marks; seen5m is the path of the
	// first 5-minute one, after which no 1-hour mark may come.
	cachePoints int
	seen5m      string
	docs        int
}

func (d *decoder) top(top fields) error {
	for _, name := range slices.Sorted(maps.Keys(refusedFields)) {
		if top.has(name) {
			return unsupported(name, "%s", refusedFields[name])
		}
	}
	if err := top.check(append(slices.Clone(requestFields), additionalFields...)...); err != nil {
		return err
	}
	req := d.req
	switch d.o.Dialect {
	case API:
		if top.has("anthropic_version") {
			return invalid("anthropic_version", "extra inputs are not permitted: send the anthropic-version header")
		}
		if top.has("anthropic_beta") {
			return invalid("anthropic_beta", "extra inputs are not permitted: send the anthropic-beta header")
		}
		if _, err := top.get("model", &req.Model); err != nil {
			return err
		}
		if strings.TrimSpace(req.Model) == "" {
			return invalid("model", "field required")
		}
		if _, err := top.get("stream", &req.Meta.Stream); err != nil {
			return err
		}
	case Bedrock:
		var v string
		if ok, err := top.get("anthropic_version", &v); err != nil {
			return err
		} else if !ok || v == "" {
			return invalid("anthropic_version", "field required (Bedrock's Anthropic body carries \"anthropic_version\": \"bedrock-2023-05-31\")")
		}
		if top.has("model") {
			return invalid("model", "extra inputs are not permitted: InvokeModel takes the model from the path")
		}
		if top.has("stream") {
			return invalid("stream", "extra inputs are not permitted: call invoke-with-response-stream for a streamed answer")
		}
	}
	if err := d.betas(top); err != nil {
		return err
	}
	var maxTokens int
	if ok, err := top.get("max_tokens", &maxTokens); err != nil {
		return err
	} else if !ok {
		return invalid("max_tokens", "field required")
	}
	if maxTokens < 1 {
		return invalid("max_tokens", "must be at least 1, got %d", maxTokens)
	}
	req.Config.MaxTokens = &maxTokens
	if err := d.sampling(top); err != nil {
		return err
	}
	if err := d.metadata(top); err != nil {
		return err
	}
	if err := d.serviceTier(top); err != nil {
		return err
	}
	// Tools, system, messages: the order Claude reads the prompt in, which
	// is the order cache_control TTLs are checked in.
	if err := d.tools(top); err != nil {
		return err
	}
	if raw, ok := top.m["system"]; ok {
		if err := d.system(raw); err != nil {
			return err
		}
	}
	raw, ok := top.m["messages"]
	if !ok {
		return invalid("messages", "field required")
	}
	if err := d.messages(raw); err != nil {
		return err
	}
	if raw, ok := top.m["cache_control"]; ok {
		// Automatic caching: the mark applies to the last block.
		cp, err := d.cacheControl("cache_control", raw)
		if err != nil {
			return err
		}
		last := &req.Messages[len(req.Messages)-1]
		last.Content = append(last.Content, llm.Block{Type: llm.BlockCachePoint, CachePoint: cp})
	}
	for _, name := range additionalFields {
		if raw, ok := top.m[name]; ok {
			if err := checkAdditional(name, raw); err != nil {
				return err
			}
			d.additional[name] = bytes.Clone(raw)
		}
	}
	if len(d.additional) > 0 {
		req.Additional, _ = json.Marshal(d.additional)
	}
	return nil
}

// betas joins the body's anthropic_beta list and the header's values,
// leaving out the ones that only concern Penny (localBetas).
func (d *decoder) betas(top fields) error {
	var list []string
	if _, err := top.get("anthropic_beta", &list); err != nil {
		return err
	}
	for _, h := range d.o.Betas {
		for _, b := range strings.Split(h, ",") {
			list = append(list, b)
		}
	}
	var keep []string
	for _, b := range list {
		b = strings.TrimSpace(b)
		if b == "" || slices.Contains(keep, b) || slices.ContainsFunc(localBetas, func(p string) bool { return strings.HasPrefix(b, p) }) {
			continue
		}
		keep = append(keep, b)
	}
	if len(keep) > 0 {
		d.additional["anthropic_beta"], _ = json.Marshal(keep)
	}
	return nil
}

func (d *decoder) sampling(top fields) error {
	c := &d.req.Config
	for _, f := range []struct {
		name string
		dst  **float64
	}{{"temperature", &c.Temperature}, {"top_p", &c.TopP}} {
		var x float64
		ok, err := top.get(f.name, &x)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if x < 0 || x > 1 {
			return invalid(f.name, "must be between 0 and 1, got %g", x)
		}
		*f.dst = &x
	}
	var stops []string
	if _, err := top.get("stop_sequences", &stops); err != nil {
		return err
	}
	for i, s := range stops {
		if strings.TrimSpace(s) == "" {
			return invalid(at("stop_sequences", i), "must contain non-whitespace")
		}
	}
	c.StopSequences = stops
	return nil
}

func (d *decoder) metadata(top fields) error {
	var md struct {
		UserID *string `json:"user_id"`
	}
	if _, err := top.get("metadata", &md); err != nil {
		return err
	}
	if md.UserID != nil && *md.UserID != "" {
		d.req.Meta.Tags = map[string]string{"user": *md.UserID}
	}
	return nil
}

// serviceTier takes Anthropic's "auto" (the default) and "standard_only",
// and Bedrock's tiers, which an InvokeModel body may name.
func (d *decoder) serviceTier(top fields) error {
	var s string
	if ok, err := top.get("service_tier", &s); err != nil || !ok {
		return err
	}
	switch t := llm.ServiceTier(s); {
	case s == "auto":
	case s == "standard_only":
		d.req.ServiceTier = llm.TierDefault
	case s != "" && t.Valid():
		d.req.ServiceTier = t
	default:
		return invalid("service_tier", "must be one of auto, standard_only, default, priority, flex, reserved; got %q", s)
	}
	return nil
}

// checkAdditional validates the shape of the members passed to Bedrock,
// so that a typo fails here with a clear message rather than upstream.
func checkAdditional(name string, raw json.RawMessage) error {
	switch name {
	case "top_k":
		var k int
		if err := decodeValue(name, raw, &k); err != nil {
			return err
		}
		if k < 0 {
			return invalid(name, "must be at least 0, got %d", k)
		}
	case "thinking":
		f, err := object(name, raw)
		if err != nil {
			return err
		}
		var typ string
		if _, err := f.get("type", &typ); err != nil {
			return err
		}
		switch typ {
		case "enabled":
			var budget int
			if ok, err := f.get("budget_tokens", &budget); err != nil {
				return err
			} else if !ok {
				return invalid("thinking.budget_tokens", "field required")
			}
			if budget < 1024 {
				return invalid("thinking.budget_tokens", "must be at least 1024, got %d", budget)
			}
		case "disabled", "adaptive":
		default:
			return invalid("thinking.type", "must be enabled, disabled or adaptive; got %q", typ)
		}
	default:
		if _, err := object(name, raw); err != nil {
			return err
		}
	}
	return nil
}

// cacheControl decodes a cache_control mark, enforcing Anthropic's limits:
// at most four marks, and no 1-hour mark after a 5-minute one in the order
// tools, system, messages.
func (d *decoder) cacheControl(path string, raw json.RawMessage) (*llm.CachePoint, error) {
	var cc struct {
		Type string `json:"type"`
		TTL  string `json:"ttl"`
	}
	if err := decodeValue(path, raw, &cc); err != nil {
		return nil, err
	}
	if cc.Type != "ephemeral" {
		return nil, invalid(dot(path, "type"), "must be \"ephemeral\", got %q", cc.Type)
	}
	switch cc.TTL {
	case "", "5m":
		if d.seen5m == "" {
			d.seen5m = path
		}
	case "1h":
		if d.seen5m != "" {
			return nil, invalid(dot(path, "ttl"), "a cache_control block with ttl \"1h\" must not come after one with ttl \"5m\" (%s); blocks are processed in the order tools, system, messages", d.seen5m)
		}
	default:
		return nil, invalid(dot(path, "ttl"), "must be \"5m\" or \"1h\", got %q", cc.TTL)
	}
	d.cachePoints++
	if d.cachePoints > maxCachePoints {
		return nil, invalid(path, "a maximum of %d blocks with cache_control may be provided", maxCachePoints)
	}
	return &llm.CachePoint{TTL: cc.TTL}, nil
}

func (d *decoder) tools(top fields) error {
	raw, ok := top.m["tools"]
	var choice struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
	}
	hasChoice, err := top.get("tool_choice", &choice)
	if err != nil {
		return err
	}
	if !ok {
		if hasChoice && choice.Type != "auto" && choice.Type != "none" {
			return invalid("tool_choice", "requires tools")
		}
		return nil
	}
	items, err := array("tools", raw)
	if err != nil {
		return err
	}
	tc := &llm.ToolConfig{}
	names := map[string]bool{}
	for i, item := range items {
		p := at("tools", i)
		f, err := object(p, item)
		if err != nil {
			return err
		}
		var typ string
		if _, err := f.get("type", &typ); err != nil {
			return err
		}
		if typ != "" && typ != "custom" {
			return unsupported(dot(p, "type"), "Anthropic server and client tools (%q) are not served through Bedrock's Converse API; define the tool with a name and an input_schema", typ)
		}
		if f.has("strict") {
			var strict bool
			if _, err := f.get("strict", &strict); err != nil {
				return err
			}
			if strict {
				return unsupported(dot(p, "strict"), "strict tool use is not supported by Penny")
			}
		}
		if err := refuseToolOptions(p, f); err != nil {
			return err
		}
		if err := f.check("type", "name", "description", "input_schema", "cache_control", "strict",
			"eager_input_streaming", "defer_loading", "allowed_callers"); err != nil {
			return err
		}
		var t llm.Tool
		if _, err := f.get("name", &t.Name); err != nil {
			return err
		}
		if err := checkToolName(dot(p, "name"), t.Name); err != nil {
			return err
		}
		if names[t.Name] {
			return invalid(dot(p, "name"), "tool names must be unique, %q is repeated", t.Name)
		}
		names[t.Name] = true
		if _, err := f.get("description", &t.Description); err != nil {
			return err
		}
		schema, ok := f.m["input_schema"]
		if !ok {
			return invalid(dot(p, "input_schema"), "field required")
		}
		if _, err := object(dot(p, "input_schema"), schema); err != nil {
			return err
		}
		t.InputSchema = bytes.Clone(schema)
		tc.Tools = append(tc.Tools, t)
		if raw, ok := f.m["cache_control"]; ok {
			cp, err := d.cacheControl(dot(p, "cache_control"), raw)
			if err != nil {
				return err
			}
			tc.Tools = append(tc.Tools, llm.Tool{CachePoint: cp})
		}
	}
	if hasChoice {
		if choice.DisableParallelToolUse != nil && *choice.DisableParallelToolUse {
			return unsupported("tool_choice.disable_parallel_tool_use", "Bedrock's Converse API cannot forbid parallel tool calls")
		}
		switch choice.Type {
		case "auto":
			tc.Choice.Mode = llm.ToolChoiceAuto
		case "any":
			tc.Choice.Mode = llm.ToolChoiceAny
		case "tool":
			if !names[choice.Name] {
				return invalid("tool_choice.name", "names no tool in tools: %q", choice.Name)
			}
			tc.Choice = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: choice.Name}
		case "none":
			// Converse has no "none": the tools are not offered, which
			// has the same effect on the answer.
			return nil
		default:
			return invalid("tool_choice.type", "must be auto, any, tool or none; got %q", choice.Type)
		}
	}
	if len(items) > 0 {
		d.req.Tools = tc
	}
	return nil
}

// refuseToolOptions refuses the tool options Converse cannot carry. One is
// accepted as a no-op: eager_input_streaming only says how finely the
// tool's input is streamed, which does not change the answer.
func refuseToolOptions(p string, f fields) error {
	var deferLoading bool
	if _, err := f.get("defer_loading", &deferLoading); err != nil {
		return err
	}
	if deferLoading {
		return unsupported(dot(p, "defer_loading"), "tool search is not served through Bedrock's Converse API")
	}
	var callers []string
	if _, err := f.get("allowed_callers", &callers); err != nil {
		return err
	}
	if len(callers) > 0 {
		return unsupported(dot(p, "allowed_callers"), "programmatic tool calling is not served through Bedrock's Converse API")
	}
	var eager bool
	_, err := f.get("eager_input_streaming", &eager)
	return err
}

func checkToolName(path, name string) error {
	if name == "" {
		return invalid(path, "field required")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return invalid(path, "%q must match ^[a-zA-Z0-9_-]+$", name)
		}
	}
	if len(name) > maxToolNameLen {
		return unsupported(path, "Bedrock's Converse API allows tool names of at most %d characters, %q has %d", maxToolNameLen, name, len(name))
	}
	return nil
}

func (d *decoder) system(raw json.RawMessage) error {
	s, isString, err := stringOrArray("system", raw)
	if err != nil {
		return err
	}
	if isString {
		if s != "" {
			d.req.System = []llm.SystemBlock{{Text: s}}
		}
		return nil
	}
	items, err := array("system", raw)
	if err != nil {
		return err
	}
	for i, item := range items {
		p := at("system", i)
		f, err := object(p, item)
		if err != nil {
			return err
		}
		if err := f.check("type", "text", "cache_control", "citations"); err != nil {
			return err
		}
		var typ, text string
		if _, err := f.get("type", &typ); err != nil {
			return err
		}
		if typ != "text" {
			return invalid(dot(p, "type"), "system blocks must be of type \"text\", got %q", typ)
		}
		if f.has("citations") {
			return unsupported(dot(p, "citations"), "citations are not supported by Penny")
		}
		if _, err := f.get("text", &text); err != nil {
			return err
		}
		if text == "" {
			return invalid(dot(p, "text"), "text content blocks must be non-empty")
		}
		d.req.System = append(d.req.System, llm.SystemBlock{Text: text})
		if raw, ok := f.m["cache_control"]; ok {
			cp, err := d.cacheControl(dot(p, "cache_control"), raw)
			if err != nil {
				return err
			}
			d.req.System = append(d.req.System, llm.SystemBlock{CachePoint: cp})
		}
	}
	return nil
}

// messages decodes the conversation. Consecutive turns of one role are
// merged, as Anthropic does, since Bedrock requires roles to alternate.
func (d *decoder) messages(raw json.RawMessage) error {
	items, err := array("messages", raw)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return invalid("messages", "at least one message is required")
	}
	for i, item := range items {
		p := at("messages", i)
		f, err := object(p, item)
		if err != nil {
			return err
		}
		if err := f.check("role", "content"); err != nil {
			return err
		}
		var role string
		if _, err := f.get("role", &role); err != nil {
			return err
		}
		if role != "user" && role != "assistant" {
			return invalid(dot(p, "role"), "must be \"user\" or \"assistant\", got %q", role)
		}
		c, ok := f.m["content"]
		if !ok {
			return invalid(dot(p, "content"), "field required")
		}
		blocks, err := d.content(dot(p, "content"), c)
		if err != nil {
			return err
		}
		msgs := d.req.Messages
		if n := len(msgs); n > 0 && msgs[n-1].Role == llm.Role(role) {
			msgs[n-1].Content = append(msgs[n-1].Content, blocks...)
			continue
		}
		d.req.Messages = append(msgs, llm.Message{Role: llm.Role(role), Content: blocks})
	}
	if d.req.Messages[0].Role != llm.RoleUser {
		return invalid("messages[0].role", "the first message must use the \"user\" role")
	}
	return nil
}

func (d *decoder) content(path string, raw json.RawMessage) ([]llm.Block, error) {
	s, isString, err := stringOrArray(path, raw)
	if err != nil {
		return nil, err
	}
	if isString {
		if s == "" {
			return nil, invalid(path, "text content must be non-empty")
		}
		return []llm.Block{llm.TextBlock(s)}, nil
	}
	items, err := array(path, raw)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, invalid(path, "at least one content block is required")
	}
	var out []llm.Block
	for i, item := range items {
		p := at(path, i)
		b, f, err := d.block(p, item)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		if raw, ok := f.m["cache_control"]; ok {
			cp, err := d.cacheControl(dot(p, "cache_control"), raw)
			if err != nil {
				return nil, err
			}
			out = append(out, llm.Block{Type: llm.BlockCachePoint, CachePoint: cp})
		}
	}
	return out, nil
}
