package cache

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// entryVersion is the stored format's version. An entry of another version
// is treated as a miss (and overwritten by the fresh answer).
const entryVersion = 1

// entry is a stored answer. It has its own JSON shape, independent of the
// field names of package llm, because entries outlive a Penny binary in a
// shared Redis. Cost fields are not stored: the account stage prices every
// answer, and prices a hit at zero.
type entry struct {
	V         int          `json:"v"`
	Model     string       `json:"model,omitempty"`
	StoredAt  int64        `json:"stored_at,omitempty"` // Unix milliseconds
	Role      string       `json:"role"`
	Content   []entryBlock `json:"content"`
	Stop      string       `json:"stop"`
	Usage     entryUsage   `json:"usage"`
	LatencyNS int64        `json:"latency_ns,omitempty"`
	Invoked   string       `json:"invoked,omitempty"`
	// Embeddings answer an embeddings request.
	Embeddings [][]float32 `json:"embeddings,omitempty"`
}

type entryUsage struct {
	In         int `json:"in,omitempty"`
	Out        int `json:"out,omitempty"`
	CacheRead  int `json:"cache_read,omitempty"`
	CacheWrite int `json:"cache_write,omitempty"`
	// CacheWrite1h is the part of CacheWrite written with the 1-hour TTL.
	CacheWrite1h int `json:"cache_write_1h,omitempty"`
}

type entryBlock struct {
	Type       string           `json:"type"`
	Text       string           `json:"text,omitempty"`
	Signature  string           `json:"sig,omitempty"`
	Image      *entryMedia      `json:"image,omitempty"`
	Document   *entryMedia      `json:"doc,omitempty"`
	ToolUse    *entryToolUse    `json:"tool_use,omitempty"`
	ToolResult *entryToolResult `json:"tool_result,omitempty"`
	CachePoint *entryCachePoint `json:"cache_point,omitempty"`
}

type entryMedia struct {
	Format string `json:"format"`
	Name   string `json:"name,omitempty"`
	Bytes  []byte `json:"bytes"`
}

type entryToolUse struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Input string `json:"input,omitempty"` // a string, to keep the bytes exactly
}

type entryToolResult struct {
	ToolUseID string                `json:"tool_use_id"`
	Status    string                `json:"status,omitempty"`
	Content   []entryToolResultPart `json:"content,omitempty"`
}

type entryToolResultPart struct {
	Text  string      `json:"text,omitempty"`
	JSON  string      `json:"json,omitempty"`
	Image *entryMedia `json:"image,omitempty"`
}

type entryCachePoint struct {
	TTL string `json:"ttl,omitempty"`
}

// encodeEntry returns the stored form of resp, answered by model.
func encodeEntry(model string, resp *llm.Response, storedAt time.Time) ([]byte, error) {
	e := entry{
		V:        entryVersion,
		Model:    model,
		StoredAt: storedAt.UnixMilli(),
		Role:     string(resp.Message.Role),
		Content:  make([]entryBlock, len(resp.Message.Content)),
		Stop:     string(resp.StopReason),
		Usage: entryUsage{In: resp.Usage.InputTokens, Out: resp.Usage.OutputTokens, CacheRead: resp.Usage.CacheReadTokens,
			CacheWrite: resp.Usage.CacheWriteTokens, CacheWrite1h: resp.Usage.CacheWrite1hTokens},
		LatencyNS:  int64(resp.Latency),
		Invoked:    resp.InvokedModel,
		Embeddings: resp.Embeddings,
	}
	for i, b := range resp.Message.Content {
		eb := entryBlock{Type: string(b.Type), Text: b.Text, Signature: b.Signature, Image: fromImage(b.Image)}
		if d := b.Document; d != nil {
			eb.Document = &entryMedia{Format: d.Format, Name: d.Name, Bytes: d.Bytes}
		}
		if tu := b.ToolUse; tu != nil {
			eb.ToolUse = &entryToolUse{ID: tu.ID, Name: tu.Name, Input: string(tu.Input)}
		}
		if tr := b.ToolResult; tr != nil {
			r := &entryToolResult{ToolUseID: tr.ToolUseID, Status: tr.Status}
			for _, c := range tr.Content {
				r.Content = append(r.Content, entryToolResultPart{Text: c.Text, JSON: string(c.JSON), Image: fromImage(c.Image)})
			}
			eb.ToolResult = r
		}
		if cp := b.CachePoint; cp != nil {
			eb.CachePoint = &entryCachePoint{TTL: cp.TTL}
		}
		e.Content[i] = eb
	}
	return json.Marshal(&e)
}

// decodeEntry parses a stored entry. It fails for malformed data and for
// entries of another format version.
func decodeEntry(data []byte) (model string, resp *llm.Response, err error) {
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return "", nil, fmt.Errorf("decoding cache entry: %w", err)
	}
	if e.V != entryVersion {
		return "", nil, fmt.Errorf("cache entry has format version %d, want %d", e.V, entryVersion)
	}
	resp = &llm.Response{
		Message:    llm.Message{Role: llm.Role(e.Role), Content: make([]llm.Block, len(e.Content))},
		StopReason: llm.StopReason(e.Stop),
		Usage: llm.Usage{InputTokens: e.Usage.In, OutputTokens: e.Usage.Out, CacheReadTokens: e.Usage.CacheRead,
			CacheWriteTokens: e.Usage.CacheWrite, CacheWrite1hTokens: e.Usage.CacheWrite1h},
		Latency:      time.Duration(e.LatencyNS),
		InvokedModel: e.Invoked,
		Embeddings:   e.Embeddings,
	}
	for i, eb := range e.Content {
		b := llm.Block{Type: llm.BlockType(eb.Type), Text: eb.Text, Signature: eb.Signature, Image: toImage(eb.Image)}
		if d := eb.Document; d != nil {
			b.Document = &llm.Document{Format: d.Format, Name: d.Name, Bytes: d.Bytes}
		}
		if tu := eb.ToolUse; tu != nil {
			b.ToolUse = &llm.ToolUse{ID: tu.ID, Name: tu.Name, Input: rawJSON(tu.Input)}
		}
		if tr := eb.ToolResult; tr != nil {
			r := &llm.ToolResult{ToolUseID: tr.ToolUseID, Status: tr.Status}
			for _, c := range tr.Content {
				r.Content = append(r.Content, llm.ToolResultContent{Text: c.Text, JSON: rawJSON(c.JSON), Image: toImage(c.Image)})
			}
			b.ToolResult = r
		}
		if cp := eb.CachePoint; cp != nil {
			b.CachePoint = &llm.CachePoint{TTL: cp.TTL}
		}
		resp.Message.Content[i] = b
	}
	return e.Model, resp, nil
}

func fromImage(img *llm.Image) *entryMedia {
	if img == nil {
		return nil
	}
	return &entryMedia{Format: img.Format, Bytes: img.Bytes}
}

func toImage(m *entryMedia) *llm.Image {
	if m == nil {
		return nil
	}
	return &llm.Image{Format: m.Format, Bytes: m.Bytes}
}

func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}
