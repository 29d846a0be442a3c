package tokens

import (
	"bytes"
	"encoding/json"
	"image"
	_ "image/gif" // register decoders so image.DecodeConfig can read sizes
	_ "image/jpeg"
	_ "image/png"

	"github.com/penny-gateway/penny/internal/llm"
)

// Estimates for the parts of a request that are not plain text. Chat
// templates wrap every turn in role markers the client never sees; these
// follow OpenAI's published accounting for chat models and are estimates.
const (
	// MessageOverhead is added once per message, and once for the system
	// prompt when it has text.
	MessageOverhead = 4
	// ToolOverhead is added once per tool specification, on top of its JSON.
	ToolOverhead = 8
	// ImageTokens is the count for an image whose size cannot be read
	// cheaply (webp, or a corrupt file): the most Bedrock's Claude models
	// spend on one image, which they resize to about 1.15 megapixels.
	ImageTokens = 1600
	// maxImageEdge is the long edge Claude resizes larger images down to.
	maxImageEdge = 1568
	// binaryDocBytesPerToken estimates a binary document (pdf, docx, xlsx…)
	// whose text Bedrock extracts server-side: one token per 8 bytes of file.
	binaryDocBytesPerToken = 8
)

// Checkpoint is a cache point of a request with the size of the prompt
// before it.
type Checkpoint struct {
	// Tokens counts the prompt before the cache point, in the order the
	// model reads it: tools, then system, then messages.
	Tokens int
	// TTL is the cache point's TTL: "", "5m" or "1h".
	TTL string
}

// CountRequest estimates the input tokens of r: the system prompt, every
// message's content (text, tool uses and results, images, documents,
// reasoning), the tool specifications as JSON, and MessageOverhead per
// message and ToolOverhead per tool; the texts of an embeddings request;
// a native body as a whole. Cache points count nothing.
func (c *Counter) CountRequest(r *llm.Request) int {
	n, _ := c.CountCheckpoints(r)
	return n
}

// CountCheckpoints returns CountRequest(r) and, for each cache point in r in
// prompt order (tools, system, messages), the tokens before it.
func (c *Counter) CountCheckpoints(r *llm.Request) (total int, cps []Checkpoint) {
	if r.Tools != nil {
		for i := range r.Tools.Tools {
			t := &r.Tools.Tools[i]
			if t.CachePoint != nil {
				cps = append(cps, Checkpoint{Tokens: total, TTL: t.CachePoint.TTL})
				continue
			}
			total += c.CountTool(t)
		}
	}
	overhead := false
	for _, b := range r.System {
		if b.CachePoint != nil {
			cps = append(cps, Checkpoint{Tokens: total, TTL: b.CachePoint.TTL})
			continue
		}
		if !overhead && b.Text != "" {
			total += MessageOverhead
			overhead = true
		}
		total += c.Count(b.Text)
	}
	for i := range r.Messages {
		total += MessageOverhead
		for j := range r.Messages[i].Content {
			b := &r.Messages[i].Content[j]
			if b.Type == llm.BlockCachePoint {
				ttl := ""
				if b.CachePoint != nil {
					ttl = b.CachePoint.TTL
				}
				cps = append(cps, Checkpoint{Tokens: total, TTL: ttl})
				continue
			}
			total += c.CountBlock(b)
		}
	}
	if e := r.Embed; e != nil {
		for _, t := range e.Texts {
			total += c.Count(t)
		}
	}
	if n := r.Native; n != nil {
		// A native body's prompt is somewhere in its JSON: the whole body
		// is an upper bound.
		total += c.Count(string(n.Body))
	}
	return total, cps
}

// CountMessage estimates one message: MessageOverhead plus its blocks.
func (c *Counter) CountMessage(m *llm.Message) int {
	n := MessageOverhead
	for i := range m.Content {
		n += c.CountBlock(&m.Content[i])
	}
	return n
}

// CountBlock estimates one content block.
func (c *Counter) CountBlock(b *llm.Block) int {
	switch b.Type {
	case llm.BlockText, llm.BlockReasoning:
		return c.Count(b.Text)
	case llm.BlockImage:
		return CountImage(b.Image)
	case llm.BlockDocument:
		return c.countDocument(b.Document)
	case llm.BlockToolUse:
		if b.ToolUse == nil {
			return 0
		}
		return c.Count(b.ToolUse.ID) + c.Count(b.ToolUse.Name) + c.Count(string(b.ToolUse.Input))
	case llm.BlockToolResult:
		if b.ToolResult == nil {
			return 0
		}
		n := c.Count(b.ToolResult.ToolUseID)
		for _, rc := range b.ToolResult.Content {
			n += c.Count(rc.Text) + c.Count(string(rc.JSON))
			if rc.Image != nil {
				n += CountImage(rc.Image)
			}
		}
		return n
	}
	return 0
}

// CountTool estimates one tool specification: its JSON form
// {"name","description","inputSchema"} plus ToolOverhead. A cache point
// counts nothing.
func (c *Counter) CountTool(t *llm.Tool) int {
	if t.CachePoint != nil {
		return 0
	}
	spec := struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		InputSchema json.RawMessage `json:"inputSchema,omitempty"`
	}{t.Name, t.Description, t.InputSchema}
	js, err := json.Marshal(spec)
	if err != nil { // the schema is not valid JSON: count its text anyway
		return ToolOverhead + c.Count(t.Name) + c.Count(t.Description) + c.Count(string(t.InputSchema))
	}
	return ToolOverhead + c.Count(string(js))
}

// CountImage estimates an image by Bedrock's rule of thumb for Claude,
// width × height / 750 after shrinking the long edge to 1,568 pixels, at
// most ImageTokens. When the size cannot be read from the header (webp,
// corrupt data) it returns ImageTokens.
func CountImage(img *llm.Image) int {
	if img == nil {
		return 0
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(img.Bytes))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return ImageTokens
	}
	w, h := float64(cfg.Width), float64(cfg.Height)
	if long := max(w, h); long > maxImageEdge {
		w, h = w*maxImageEdge/long, h*maxImageEdge/long
	}
	n := int(w*h/750 + 0.999)
	return min(max(n, 1), ImageTokens)
}

// countDocument counts text formats as text and estimates binary ones from
// their size; the document's name is part of the prompt too.
func (c *Counter) countDocument(d *llm.Document) int {
	if d == nil {
		return 0
	}
	n := c.Count(d.Name)
	switch d.Format {
	case "txt", "md", "csv", "html":
		return n + c.Count(string(d.Bytes))
	}
	return n + (len(d.Bytes)+binaryDocBytesPerToken-1)/binaryDocBytesPerToken
}
