package anthropicwire

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// unsupportedBlocks are Anthropic content block types Bedrock's Converse
// API has no form for.
var unsupportedBlocks = map[string]string{
	"redacted_thinking":      "redacted thinking blocks cannot be passed back through Bedrock's Converse API",
	"server_tool_use":        "server tools are not served through Bedrock's Converse API",
	"web_search_tool_result": "server tools are not served through Bedrock's Converse API",
	"web_fetch_tool_result":  "server tools are not served through Bedrock's Converse API",
	"search_result":          "search result blocks are not supported by Penny",
	"container_upload":       "containers are not served by Bedrock",
	"mcp_tool_use":           "the MCP connector is not served by Bedrock",
	"mcp_tool_result":        "the MCP connector is not served by Bedrock",
}

// block decodes one content block; f is the block's members, for the
// caller to read its cache_control.
func (d *decoder) block(path string, raw json.RawMessage) (llm.Block, fields, error) {
	var b llm.Block
	f, err := object(path, raw)
	if err != nil {
		return b, f, err
	}
	var typ string
	if _, err := f.get("type", &typ); err != nil {
		return b, f, err
	}
	if why, ok := unsupportedBlocks[typ]; ok {
		return b, f, unsupported(dot(path, "type"), "%q: %s", typ, why)
	}
	switch typ {
	case "text":
		err = d.textBlock(path, f, &b)
	case "image":
		b.Type = llm.BlockImage
		if err = f.check("type", "source", "cache_control"); err == nil {
			b.Image, err = image(dot(path, "source"), f.m["source"])
		}
	case "document":
		b.Type = llm.BlockDocument
		b.Document, err = d.document(path, f)
	case "tool_use":
		b.Type = llm.BlockToolUse
		b.ToolUse, err = toolUse(path, f)
	case "tool_result":
		b.Type = llm.BlockToolResult
		b.ToolResult, err = d.toolResult(path, f)
	case "thinking":
		b.Type = llm.BlockReasoning
		if err = f.check("type", "thinking", "signature", "cache_control"); err == nil {
			if _, err = f.get("thinking", &b.Text); err == nil {
				_, err = f.get("signature", &b.Signature)
			}
		}
	case "":
		err = invalid(dot(path, "type"), "field required")
	default:
		err = invalid(dot(path, "type"), "unknown content block type %q", typ)
	}
	return b, f, err
}

func (d *decoder) textBlock(path string, f fields, b *llm.Block) error {
	if err := f.check("type", "text", "cache_control", "citations"); err != nil {
		return err
	}
	if f.has("citations") {
		return unsupported(dot(path, "citations"), "citations are not supported by Penny")
	}
	*b = llm.Block{Type: llm.BlockText}
	if _, err := f.get("text", &b.Text); err != nil {
		return err
	}
	if b.Text == "" {
		return invalid(dot(path, "text"), "text content blocks must be non-empty")
	}
	return nil
}

// source is an image or document source.
type source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
	FileID    string `json:"file_id"`
}

func decodeSource(path string, raw json.RawMessage) (source, error) {
	var s source
	if len(raw) == 0 {
		return s, invalid(path, "field required")
	}
	if err := decodeValue(path, raw, &s); err != nil {
		return s, err
	}
	switch s.Type {
	case "url":
		return s, unsupported(dot(path, "type"), "URL sources are not supported: Bedrock takes the bytes and Penny does not fetch URLs; send base64 data")
	case "file":
		return s, unsupported(dot(path, "type"), "the Files API is not served by Bedrock; send base64 data")
	}
	return s, nil
}

func image(path string, raw json.RawMessage) (*llm.Image, error) {
	s, err := decodeSource(path, raw)
	if err != nil {
		return nil, err
	}
	if s.Type != "base64" {
		return nil, invalid(dot(path, "type"), "must be \"base64\", got %q", s.Type)
	}
	format, ok := strings.CutPrefix(s.MediaType, "image/")
	switch {
	case !ok:
	case format == "png", format == "jpeg", format == "gif", format == "webp":
	default:
		ok = false
	}
	if !ok {
		return nil, invalid(dot(path, "media_type"), "must be image/jpeg, image/png, image/gif or image/webp; got %q", s.MediaType)
	}
	data, err := base64Data(dot(path, "data"), s.Data)
	if err != nil {
		return nil, err
	}
	return &llm.Image{Format: format, Bytes: data}, nil
}

func base64Data(path, s string) ([]byte, error) {
	if s == "" {
		return nil, invalid(path, "field required")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, invalid(path, "invalid base64 data: %v", err)
	}
	return b, nil
}

// document decodes a PDF (base64) or plain-text document. Converse names
// every document; the title is used when it is a name Converse accepts.
func (d *decoder) document(path string, f fields) (*llm.Document, error) {
	if err := f.check("type", "source", "title", "context", "citations", "cache_control"); err != nil {
		return nil, err
	}
	if f.has("citations") {
		var c struct {
			Enabled bool `json:"enabled"`
		}
		if _, err := f.get("citations", &c); err != nil {
			return nil, err
		}
		if c.Enabled {
			return nil, unsupported(dot(path, "citations"), "citations are not supported by Penny")
		}
	}
	if f.has("context") {
		return nil, unsupported(dot(path, "context"), "document context is not supported by Bedrock's Converse API; put it in a text block")
	}
	s, err := decodeSource(dot(path, "source"), f.m["source"])
	if err != nil {
		return nil, err
	}
	var title string
	if _, err := f.get("title", &title); err != nil {
		return nil, err
	}
	d.docs++
	doc := &llm.Document{Name: documentName(title, d.docs)}
	switch {
	case s.Type == "base64" && s.MediaType == "application/pdf":
		doc.Format = "pdf"
		if doc.Bytes, err = base64Data(dot(path, "source.data"), s.Data); err != nil {
			return nil, err
		}
	case s.Type == "text" && s.MediaType == "text/plain":
		if s.Data == "" {
			return nil, invalid(dot(path, "source.data"), "field required")
		}
		doc.Format, doc.Bytes = "txt", []byte(s.Data)
	case s.Type == "content":
		return nil, unsupported(dot(path, "source.type"), "content-block document sources are not supported by Penny; send text/plain or a PDF")
	default:
		return nil, invalid(dot(path, "source"), "must be a base64 application/pdf or a text/plain source, got type %q media_type %q", s.Type, s.MediaType)
	}
	return doc, nil
}

// documentName keeps the characters Converse allows in a document name
// (letters, digits, single spaces, hyphens, parentheses, brackets).
func documentName(title string, n int) string {
	var b strings.Builder
	space := false
	for _, c := range title {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-()[]", c)
		switch {
		case ok:
			b.WriteRune(c)
			space = false
		case (c == ' ' || c == '\t') && !space && b.Len() > 0:
			b.WriteByte(' ')
			space = true
		}
	}
	name := strings.TrimSpace(b.String())
	if name == "" {
		return "document-" + strconv.Itoa(n)
	}
	return name
}

func toolUse(path string, f fields) (*llm.ToolUse, error) {
	if err := f.check("type", "id", "name", "input", "cache_control", "caller"); err != nil {
		return nil, err
	}
	tu := &llm.ToolUse{}
	if _, err := f.get("id", &tu.ID); err != nil {
		return nil, err
	}
	if tu.ID == "" {
		return nil, invalid(dot(path, "id"), "field required")
	}
	if _, err := f.get("name", &tu.Name); err != nil {
		return nil, err
	}
	if tu.Name == "" {
		return nil, invalid(dot(path, "name"), "field required")
	}
	in, ok := f.m["input"]
	if !ok {
		return nil, invalid(dot(path, "input"), "field required")
	}
	if _, err := object(dot(path, "input"), in); err != nil {
		return nil, err
	}
	tu.Input = append(json.RawMessage(nil), in...)
	return tu, nil
}

func (d *decoder) toolResult(path string, f fields) (*llm.ToolResult, error) {
	if err := f.check("type", "tool_use_id", "content", "is_error", "cache_control"); err != nil {
		return nil, err
	}
	tr := &llm.ToolResult{}
	if _, err := f.get("tool_use_id", &tr.ToolUseID); err != nil {
		return nil, err
	}
	if tr.ToolUseID == "" {
		return nil, invalid(dot(path, "tool_use_id"), "field required")
	}
	var isErr bool
	if _, err := f.get("is_error", &isErr); err != nil {
		return nil, err
	}
	if isErr {
		tr.Status = "error"
	}
	raw, ok := f.m["content"]
	if !ok {
		// Converse needs content; an empty result is an empty text.
		tr.Content = []llm.ToolResultContent{{Text: ""}}
		return tr, nil
	}
	p := dot(path, "content")
	s, isString, err := stringOrArray(p, raw)
	if err != nil {
		return nil, err
	}
	if isString {
		tr.Content = []llm.ToolResultContent{{Text: s}}
		return tr, nil
	}
	items, err := array(p, raw)
	if err != nil {
		return nil, err
	}
	for i, item := range items {
		q := at(p, i)
		cf, err := object(q, item)
		if err != nil {
			return nil, err
		}
		var typ string
		if _, err := cf.get("type", &typ); err != nil {
			return nil, err
		}
		var c llm.ToolResultContent
		switch typ {
		case "text":
			if err := cf.check("type", "text", "cache_control", "citations"); err != nil {
				return nil, err
			}
			if _, err := cf.get("text", &c.Text); err != nil {
				return nil, err
			}
		case "image":
			if err := cf.check("type", "source", "cache_control"); err != nil {
				return nil, err
			}
			if c.Image, err = image(dot(q, "source"), cf.m["source"]); err != nil {
				return nil, err
			}
		default:
			return nil, unsupported(dot(q, "type"), "tool results may hold text and images through Bedrock's Converse API, not %q", typ)
		}
		if cf.has("cache_control") {
			return nil, unsupported(dot(q, "cache_control"), "put cache_control on the tool_result block itself")
		}
		tr.Content = append(tr.Content, c)
	}
	if len(tr.Content) == 0 {
		tr.Content = []llm.ToolResultContent{{Text: ""}}
	}
	return tr, nil
}
