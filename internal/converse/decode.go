package converse

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/penny-gateway/penny/internal/llm"
)

// Field sets of the request body. "known" members are translated into
// llm.Request; "unsupported" members are real Bedrock fields llm.Request
// cannot carry, refused with KindUnsupported rather than dropped.
var (
	requestFields = fieldSet{
		known: []string{"messages", "system", "inferenceConfig", "toolConfig",
			"additionalModelRequestFields", "requestMetadata", "performanceConfig", "serviceTier"},
		unsupported: []string{"guardrailConfig", "promptVariables",
			"additionalModelResponseFieldPaths", "outputConfig"},
	}
	messageFields = fieldSet{known: []string{"role", "content"}}
	blockKinds    = fieldSet{
		known: []string{"text", "image", "document", "toolUse", "toolResult", "cachePoint", "reasoningContent"},
		unsupported: []string{"video", "audio", "guardContent", "citationsContent", "searchResult",
			"toolAddition", "toolRemoval"},
	}
	imageFields       = fieldSet{known: []string{"format", "source"}, unsupported: []string{"error"}}
	imageSourceKinds  = fieldSet{known: []string{"bytes"}, unsupported: []string{"s3Location"}}
	documentFields    = fieldSet{known: []string{"format", "name", "source"}, unsupported: []string{"context", "citations"}}
	docSourceKinds    = fieldSet{known: []string{"bytes"}, unsupported: []string{"text", "content", "s3Location"}}
	toolUseFields     = fieldSet{known: []string{"toolUseId", "name", "input"}, unsupported: []string{"type"}}
	toolResultFields  = fieldSet{known: []string{"toolUseId", "content", "status"}, unsupported: []string{"type"}}
	toolResultKinds   = fieldSet{known: []string{"text", "json", "image"}, unsupported: []string{"document", "video", "searchResult"}}
	cachePointFields  = fieldSet{known: []string{"type", "ttl"}}
	reasoningKinds    = fieldSet{known: []string{"reasoningText"}, unsupported: []string{"redactedContent"}}
	reasoningFields   = fieldSet{known: []string{"text", "signature"}}
	systemKinds       = fieldSet{known: []string{"text", "cachePoint"}, unsupported: []string{"guardContent"}}
	inferenceFields   = fieldSet{known: []string{"maxTokens", "temperature", "topP", "stopSequences"}}
	toolConfigFields  = fieldSet{known: []string{"tools", "toolChoice"}}
	toolKinds         = fieldSet{known: []string{"toolSpec", "cachePoint"}, unsupported: []string{"systemTool"}}
	toolSpecFields    = fieldSet{known: []string{"name", "description", "inputSchema", "strict"}}
	inputSchemaKinds  = fieldSet{known: []string{"json"}}
	toolChoiceKinds   = fieldSet{known: []string{"auto", "any", "tool"}}
	specificToolField = fieldSet{known: []string{"name"}}
	performanceFields = fieldSet{known: []string{"latency"}}
	serviceTierFields = fieldSet{known: []string{"type"}}
)

// Limits Bedrock documents for requestMetadata.
const (
	maxMetadataPairs = 16
	maxMetadataLen   = 256
	maxToolNameLen   = 64
)

// DecodeRequest decodes and validates a Converse or ConverseStream request
// body. It returns an *llm.Error: KindValidation, naming the field path like
// "messages[0].content[1].image.format: ...", when the body is malformed or
// breaks a Bedrock rule; KindUnsupported, naming the field, when the body
// uses a Bedrock feature llm.Request cannot carry (guardrails, prompt
// variables, video, audio, S3 sources, citations, ...). Nothing is dropped
// silently, with these documented exceptions:
//
//   - requestMetadata becomes Meta.Tags: Penny records it with the request
//     (it is for filtering logs, which is what Penny's ledger is) but, as all
//     of Meta, it is not forwarded to Bedrock.
//   - performanceConfig.latency "standard", serviceTier.type "default" and
//     toolSpec.strict false are Bedrock's defaults and are accepted as no-ops;
//     any other value is unsupported.
//
// Request.Model is left empty: the model id is in the URL, not the body.
func DecodeRequest(body []byte) (*llm.Request, error) {
	req, err := decodeRequest(body)
	if err != nil {
		return nil, err
	}
	return req, nil
}

func decodeRequest(body []byte) (*llm.Request, *llm.Error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, &llm.Error{Kind: llm.KindValidation, Message: "request body is empty"}
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		return nil, &llm.Error{Kind: llm.KindValidation, Message: "malformed JSON request body: " + err.Error(), Err: err}
	}
	if body[0] != '{' {
		return nil, &llm.Error{Kind: llm.KindValidation, Message: "request body must be a JSON object, got " + jsonType(body)}
	}
	top, err := parseObject("", body)
	if err != nil {
		return nil, err
	}
	if err := top.check(requestFields); err != nil {
		return nil, err
	}
	req := &llm.Request{}

	raw, ok := top.get("messages")
	if !ok {
		return nil, invalid("messages", "is required")
	}
	if req.Messages, err = decodeMessages("messages", raw); err != nil {
		return nil, err
	}
	if len(req.Messages) == 0 {
		return nil, invalid("messages", "must contain at least one message")
	}
	if req.Messages[0].Role != llm.RoleUser {
		return nil, invalid("messages[0].role", "a conversation must start with a user message")
	}

	if raw, ok := top.get("system"); ok {
		if req.System, err = decodeSystem("system", raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := top.get("inferenceConfig"); ok {
		if req.Config, err = decodeInferenceConfig("inferenceConfig", raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := top.get("toolConfig"); ok {
		if req.Tools, err = decodeToolConfig("toolConfig", raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := top.get("additionalModelRequestFields"); ok {
		if req.Additional, err = parseJSONObject("additionalModelRequestFields", raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := top.get("requestMetadata"); ok {
		if req.Meta.Tags, err = decodeMetadata("requestMetadata", raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := top.get("performanceConfig"); ok {
		if err := decodeDefaultOnly("performanceConfig", raw, performanceFields, "latency", "standard", "optimized"); err != nil {
			return nil, err
		}
	}
	if raw, ok := top.get("serviceTier"); ok {
		o, err := parseObject("serviceTier", raw)
		if err != nil {
			return nil, err
		}
		if err := o.check(serviceTierFields); err != nil {
			return nil, err
		}
		if v, ok := o.get("type"); ok {
			t, err := parseEnum(o.field("type"), v, "default", "priority", "flex", "reserved")
			if err != nil {
				return nil, err
			}
			req.ServiceTier = llm.ServiceTier(t)
		}
	}
	return req, nil
}

// decodeDefaultOnly accepts an object whose one member is either absent or
// def (the first of values); another valid value is unsupported.
func decodeDefaultOnly(path string, raw json.RawMessage, fs fieldSet, member string, values ...string) *llm.Error {
	o, err := parseObject(path, raw)
	if err != nil {
		return err
	}
	if err := o.check(fs); err != nil {
		return err
	}
	v, ok := o.get(member)
	if !ok {
		return nil
	}
	s, err := parseEnum(o.field(member), v, values...)
	if err != nil {
		return err
	}
	if s != values[0] {
		return unsupported(o.field(member), "value "+string(v))
	}
	return nil
}

func decodeMetadata(path string, raw json.RawMessage) (map[string]string, *llm.Error) {
	o, err := parseObject(path, raw)
	if err != nil {
		return nil, err
	}
	if len(o.m) > maxMetadataPairs {
		return nil, invalid(path, "at most %d entries are allowed, got %d", maxMetadataPairs, len(o.m))
	}
	tags := make(map[string]string, len(o.m))
	for k, v := range o.m {
		p := o.field(k)
		if k == "" || utf8.RuneCountInString(k) > maxMetadataLen {
			return nil, invalid(p, "key must be 1 to %d characters", maxMetadataLen)
		}
		s, err := parseString(p, v)
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(s) > maxMetadataLen {
			return nil, invalid(p, "value must be at most %d characters", maxMetadataLen)
		}
		tags[k] = s
	}
	return tags, nil
}

func decodeMessages(path string, raw json.RawMessage) ([]llm.Message, *llm.Error) {
	items, err := parseArray(path, raw)
	if err != nil {
		return nil, err
	}
	msgs := make([]llm.Message, len(items))
	for i, item := range items {
		if msgs[i], err = decodeMessage(index(path, i), item, false); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// decodeMessage decodes one message. lenient relaxes the two rules Bedrock
// applies to requests but not to its own answers: content may be empty, and
// so may a text block.
func decodeMessage(path string, raw json.RawMessage, lenient bool) (llm.Message, *llm.Error) {
	var m llm.Message
	o, err := parseObject(path, raw)
	if err != nil {
		return m, err
	}
	if err := o.check(messageFields); err != nil {
		return m, err
	}
	r, ok := o.get("role")
	if !ok {
		return m, invalid(o.field("role"), "is required")
	}
	role, err := parseEnum(o.field("role"), r, string(llm.RoleUser), string(llm.RoleAssistant))
	if err != nil {
		return m, err
	}
	m.Role = llm.Role(role)
	c, ok := o.get("content")
	if !ok {
		return m, invalid(o.field("content"), "is required")
	}
	items, err := parseArray(o.field("content"), c)
	if err != nil {
		return m, err
	}
	if len(items) == 0 && !lenient {
		return m, invalid(o.field("content"), "must contain at least one content block")
	}
	m.Content = make([]llm.Block, len(items))
	for i, item := range items {
		if m.Content[i], err = decodeBlock(index(o.field("content"), i), item, lenient); err != nil {
			return m, err
		}
	}
	return m, nil
}

func decodeBlock(path string, raw json.RawMessage, lenient bool) (llm.Block, *llm.Error) {
	var b llm.Block
	o, err := parseObject(path, raw)
	if err != nil {
		return b, err
	}
	kind, v, err := o.union("content block", blockKinds)
	if err != nil {
		return b, err
	}
	p := o.field(kind)
	switch kind {
	case "text":
		b.Type = llm.BlockText
		if lenient {
			b.Text, err = parseString(p, v)
		} else {
			b.Text, err = parseNonEmpty(p, v)
		}
	case "image":
		b.Type = llm.BlockImage
		b.Image, err = decodeImage(p, v)
	case "document":
		b.Type = llm.BlockDocument
		b.Document, err = decodeDocument(p, v)
	case "toolUse":
		b.Type = llm.BlockToolUse
		b.ToolUse, err = decodeToolUse(p, v)
	case "toolResult":
		b.Type = llm.BlockToolResult
		b.ToolResult, err = decodeToolResult(p, v)
	case "cachePoint":
		b.Type = llm.BlockCachePoint
		b.CachePoint, err = decodeCachePoint(p, v)
	case "reasoningContent":
		b.Type = llm.BlockReasoning
		b.Text, b.Signature, err = decodeReasoning(p, v)
	}
	return b, err
}

var imageFormats = []string{"png", "jpeg", "gif", "webp"}

func decodeImage(path string, raw json.RawMessage) (*llm.Image, *llm.Error) {
	o, err := parseObject(path, raw)
	if err != nil {
		return nil, err
	}
	if err := o.check(imageFields); err != nil {
		return nil, err
	}
	img := &llm.Image{}
	f, ok := o.get("format")
	if !ok {
		return nil, invalid(o.field("format"), "is required")
	}
	if img.Format, err = parseEnum(o.field("format"), f, imageFormats...); err != nil {
		return nil, err
	}
	if img.Bytes, err = decodeBytesSource(o, imageSourceKinds); err != nil {
		return nil, err
	}
	return img, nil
}

// decodeBytesSource decodes o.source, a union of which only bytes is
// supported.
func decodeBytesSource(o object, kinds fieldSet) ([]byte, *llm.Error) {
	s, ok := o.get("source")
	if !ok {
		return nil, invalid(o.field("source"), "is required")
	}
	so, err := parseObject(o.field("source"), s)
	if err != nil {
		return nil, err
	}
	_, v, err := so.union("source", kinds)
	if err != nil {
		return nil, err
	}
	return parseBase64(so.field("bytes"), v)
}

var documentFormats = []string{"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}

func decodeDocument(path string, raw json.RawMessage) (*llm.Document, *llm.Error) {
	o, err := parseObject(path, raw)
	if err != nil {
		return nil, err
	}
	if err := o.check(documentFields); err != nil {
		return nil, err
	}
	doc := &llm.Document{}
	f, ok := o.get("format")
	if !ok {
		return nil, invalid(o.field("format"), "is required")
	}
	if doc.Format, err = parseEnum(o.field("format"), f, documentFormats...); err != nil {
		return nil, err
	}
	n, ok := o.get("name")
	if !ok {
		return nil, invalid(o.field("name"), "is required")
	}
	if doc.Name, err = parseNonEmpty(o.field("name"), n); err != nil {
		return nil, err
	}
	if doc.Bytes, err = decodeBytesSource(o, docSourceKinds); err != nil {
		return nil, err
	}
	return doc, nil
}

func decodeToolUse(path string, raw json.RawMessage) (*llm.ToolUse, *llm.Error) {
	o, err := parseObject(path, raw)
	if err != nil {
		return nil, err
	}
	if err := o.check(toolUseFields); err != nil {
		return nil, err
	}
	tu := &llm.ToolUse{}
	id, ok := o.get("toolUseId")
	if !ok {
		return nil, invalid(o.field("toolUseId"), "is required")
	}
	if tu.ID, err = parseNonEmpty(o.field("toolUseId"), id); err != nil {
		return nil, err
	}
	n, ok := o.get("name")
	if !ok {
		return nil, invalid(o.field("name"), "is required")
	}
	if tu.Name, err = parseToolName(o.field("name"), n); err != nil {
		return nil, err
	}
	in, ok := o.get("input")
	if !ok {
		return nil, invalid(o.field("input"), "is required")
	}
	if tu.Input, err = parseJSONObject(o.field("input"), in); err != nil {
		return nil, err
	}
	return tu, nil
}

func parseToolName(path string, raw json.RawMessage) (string, *llm.Error) {
	s, err := parseNonEmpty(path, raw)
	if err != nil {
		return "", err
	}
	if len(s) > maxToolNameLen {
		return "", invalid(path, "must be at most %d characters", maxToolNameLen)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "", invalid(path, "%q must match [a-zA-Z0-9_-]+", s)
		}
	}
	return s, nil
}

func decodeToolResult(path string, raw json.RawMessage) (*llm.ToolResult, *llm.Error) {
	o, err := parseObject(path, raw)
	if err != nil {
		return nil, err
	}
	if err := o.check(toolResultFields); err != nil {
		return nil, err
	}
	tr := &llm.ToolResult{}
	id, ok := o.get("toolUseId")
	if !ok {
		return nil, invalid(o.field("toolUseId"), "is required")
	}
	if tr.ToolUseID, err = parseNonEmpty(o.field("toolUseId"), id); err != nil {
		return nil, err
	}
	if st, ok := o.get("status"); ok {
		if tr.Status, err = parseEnum(o.field("status"), st, "success", "error"); err != nil {
			return nil, err
		}
	}
	c, ok := o.get("content")
	if !ok {
		return nil, invalid(o.field("content"), "is required")
	}
	items, err := parseArray(o.field("content"), c)
	if err != nil {
		return nil, err
	}
	tr.Content = make([]llm.ToolResultContent, len(items))
	for i, item := range items {
		p := index(o.field("content"), i)
		co, err := parseObject(p, item)
		if err != nil {
			return nil, err
		}
		kind, v, err := co.union("tool result content", toolResultKinds)
		if err != nil {
			return nil, err
		}
		switch kind {
		case "text":
			tr.Content[i].Text, err = parseString(co.field(kind), v)
		case "json":
			tr.Content[i].JSON, err = parseJSONValue(co.field(kind), v)
		case "image":
			tr.Content[i].Image, err = decodeImage(co.field(kind), v)
		}
		if err != nil {
			return nil, err
		}
	}
	return tr, nil
}

func decodeCachePoint(path string, raw json.RawMessage) (*llm.CachePoint, *llm.Error) {
	o, err := parseObject(path, raw)
	if err != nil {
		return nil, err
	}
	if err := o.check(cachePointFields); err != nil {
		return nil, err
	}
	t, ok := o.get("type")
	if !ok {
		return nil, invalid(o.field("type"), "is required")
	}
	if _, err := parseEnum(o.field("type"), t, "default"); err != nil {
		return nil, err
	}
	cp := &llm.CachePoint{}
	if ttl, ok := o.get("ttl"); ok {
		if cp.TTL, err = parseEnum(o.field("ttl"), ttl, "5m", "1h"); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

func decodeReasoning(path string, raw json.RawMessage) (text, signature string, _ *llm.Error) {
	o, err := parseObject(path, raw)
	if err != nil {
		return "", "", err
	}
	_, v, err := o.union("reasoning content", reasoningKinds)
	if err != nil {
		return "", "", err
	}
	ro, err := parseObject(o.field("reasoningText"), v)
	if err != nil {
		return "", "", err
	}
	if err := ro.check(reasoningFields); err != nil {
		return "", "", err
	}
	t, ok := ro.get("text")
	if !ok {
		return "", "", invalid(ro.field("text"), "is required")
	}
	if text, err = parseString(ro.field("text"), t); err != nil {
		return "", "", err
	}
	if s, ok := ro.get("signature"); ok {
		if signature, err = parseString(ro.field("signature"), s); err != nil {
			return "", "", err
		}
	}
	return text, signature, nil
}

func decodeSystem(path string, raw json.RawMessage) ([]llm.SystemBlock, *llm.Error) {
	items, err := parseArray(path, raw)
	if err != nil {
		return nil, err
	}
	sys := make([]llm.SystemBlock, len(items))
	for i, item := range items {
		o, err := parseObject(index(path, i), item)
		if err != nil {
			return nil, err
		}
		kind, v, err := o.union("system block", systemKinds)
		if err != nil {
			return nil, err
		}
		switch kind {
		case "text":
			sys[i].Text, err = parseNonEmpty(o.field(kind), v)
		case "cachePoint":
			sys[i].CachePoint, err = decodeCachePoint(o.field(kind), v)
		}
		if err != nil {
			return nil, err
		}
	}
	return sys, nil
}

func decodeInferenceConfig(path string, raw json.RawMessage) (llm.InferenceConfig, *llm.Error) {
	var c llm.InferenceConfig
	o, err := parseObject(path, raw)
	if err != nil {
		return c, err
	}
	if err := o.check(inferenceFields); err != nil {
		return c, err
	}
	if v, ok := o.get("maxTokens"); ok {
		n, err := parseInt(o.field("maxTokens"), v)
		if err != nil {
			return c, err
		}
		if n < 1 {
			return c, invalid(o.field("maxTokens"), "must be at least 1, got %d", n)
		}
		c.MaxTokens = &n
	}
	for _, f := range []struct {
		name string
		dst  **float64
	}{{"temperature", &c.Temperature}, {"topP", &c.TopP}} {
		v, ok := o.get(f.name)
		if !ok {
			continue
		}
		x, err := parseNumber(o.field(f.name), v)
		if err != nil {
			return c, err
		}
		if x < 0 || x > 1 {
			return c, invalid(o.field(f.name), "must be between 0 and 1, got %s", v)
		}
		*f.dst = &x
	}
	if v, ok := o.get("stopSequences"); ok {
		items, err := parseArray(o.field("stopSequences"), v)
		if err != nil {
			return c, err
		}
		c.StopSequences = make([]string, len(items))
		for i, item := range items {
			if c.StopSequences[i], err = parseNonEmpty(index(o.field("stopSequences"), i), item); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

func decodeToolConfig(path string, raw json.RawMessage) (*llm.ToolConfig, *llm.Error) {
	o, err := parseObject(path, raw)
	if err != nil {
		return nil, err
	}
	if err := o.check(toolConfigFields); err != nil {
		return nil, err
	}
	tc := &llm.ToolConfig{}
	t, ok := o.get("tools")
	if !ok {
		return nil, invalid(o.field("tools"), "is required")
	}
	items, err := parseArray(o.field("tools"), t)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, invalid(o.field("tools"), "must contain at least one tool")
	}
	tc.Tools = make([]llm.Tool, len(items))
	for i, item := range items {
		if tc.Tools[i], err = decodeTool(index(o.field("tools"), i), item); err != nil {
			return nil, err
		}
	}
	if v, ok := o.get("toolChoice"); ok {
		if tc.Choice, err = decodeToolChoice(o.field("toolChoice"), v); err != nil {
			return nil, err
		}
	}
	return tc, nil
}

func decodeTool(path string, raw json.RawMessage) (llm.Tool, *llm.Error) {
	var t llm.Tool
	o, err := parseObject(path, raw)
	if err != nil {
		return t, err
	}
	kind, v, err := o.union("tool", toolKinds)
	if err != nil {
		return t, err
	}
	if kind == "cachePoint" {
		t.CachePoint, err = decodeCachePoint(o.field(kind), v)
		return t, err
	}
	so, err := parseObject(o.field(kind), v)
	if err != nil {
		return t, err
	}
	if err := so.check(toolSpecFields); err != nil {
		return t, err
	}
	n, ok := so.get("name")
	if !ok {
		return t, invalid(so.field("name"), "is required")
	}
	if t.Name, err = parseToolName(so.field("name"), n); err != nil {
		return t, err
	}
	if d, ok := so.get("description"); ok {
		if t.Description, err = parseNonEmpty(so.field("description"), d); err != nil {
			return t, err
		}
	}
	if s, ok := so.get("strict"); ok {
		switch string(s) {
		case "false":
		case "true":
			return t, unsupported(so.field("strict"), "strict tool use")
		default:
			return t, invalid(so.field("strict"), "expected a boolean, got %s", jsonType(s))
		}
	}
	is, ok := so.get("inputSchema")
	if !ok {
		return t, invalid(so.field("inputSchema"), "is required")
	}
	sc, err := parseObject(so.field("inputSchema"), is)
	if err != nil {
		return t, err
	}
	_, js, err := sc.union("input schema", inputSchemaKinds)
	if err != nil {
		return t, err
	}
	if t.InputSchema, err = parseJSONObject(sc.field("json"), js); err != nil {
		return t, err
	}
	return t, nil
}

func decodeToolChoice(path string, raw json.RawMessage) (llm.ToolChoice, *llm.Error) {
	var c llm.ToolChoice
	o, err := parseObject(path, raw)
	if err != nil {
		return c, err
	}
	kind, v, err := o.union("tool choice", toolChoiceKinds)
	if err != nil {
		return c, err
	}
	co, err := parseObject(o.field(kind), v)
	if err != nil {
		return c, err
	}
	switch kind {
	case "auto", "any":
		if err := co.check(fieldSet{}); err != nil {
			return c, err
		}
		c.Mode = llm.ToolChoiceMode(kind)
	case "tool":
		if err := co.check(specificToolField); err != nil {
			return c, err
		}
		n, ok := co.get("name")
		if !ok {
			return c, invalid(co.field("name"), "is required")
		}
		if c.Name, err = parseToolName(co.field("name"), n); err != nil {
			return c, err
		}
		c.Mode = llm.ToolChoiceTool
	}
	return c, nil
}
