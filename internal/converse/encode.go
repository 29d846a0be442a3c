package converse

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// EncodeRequest writes req as a Converse request body. req.Model and
// req.Meta are not part of the body and are not written. A block whose Type
// does not match its set field is a KindValidation error naming its path.
func EncodeRequest(req *llm.Request) ([]byte, error) {
	w, err := requestWire(req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

func requestWire(req *llm.Request) (*Request, *llm.Error) {
	w := &Request{Messages: make([]Message, len(req.Messages)), ServiceTier: serviceTierWire(req.ServiceTier)}
	for i, m := range req.Messages {
		var err *llm.Error
		if w.Messages[i], err = messageWire(index("messages", i), m); err != nil {
			return nil, err
		}
	}
	for i, s := range req.System {
		switch {
		case s.CachePoint != nil:
			w.System = append(w.System, SystemBlock{CachePoint: cachePointWire(s.CachePoint)})
		default:
			w.System = append(w.System, SystemBlock{Text: &req.System[i].Text})
		}
	}
	c := req.Config
	if c.MaxTokens != nil || c.Temperature != nil || c.TopP != nil || len(c.StopSequences) > 0 {
		w.InferenceConfig = &InferenceConfig{
			MaxTokens:     c.MaxTokens,
			Temperature:   c.Temperature,
			TopP:          c.TopP,
			StopSequences: c.StopSequences,
		}
	}
	if req.Tools != nil {
		tc := &ToolConfig{Tools: make([]Tool, len(req.Tools.Tools))}
		for i, t := range req.Tools.Tools {
			if t.CachePoint != nil {
				tc.Tools[i].CachePoint = cachePointWire(t.CachePoint)
				continue
			}
			schema := t.InputSchema
			if len(schema) == 0 {
				schema = json.RawMessage(`{"type":"object"}`)
			}
			tc.Tools[i].ToolSpec = &ToolSpec{Name: t.Name, Description: t.Description, InputSchema: InputSchema{JSON: schema}}
		}
		switch ch := req.Tools.Choice; ch.Mode {
		case llm.ToolChoiceAuto:
			tc.ToolChoice = &ToolChoice{Auto: &struct{}{}}
		case llm.ToolChoiceAny:
			tc.ToolChoice = &ToolChoice{Any: &struct{}{}}
		case llm.ToolChoiceTool:
			tc.ToolChoice = &ToolChoice{Tool: &SpecificTool{Name: ch.Name}}
		}
		w.ToolConfig = tc
	}
	if len(req.Additional) > 0 && !isNull(req.Additional) {
		w.AdditionalModelRequestFields = req.Additional
	}
	return w, nil
}

func cachePointWire(cp *llm.CachePoint) *CachePoint {
	return &CachePoint{Type: "default", TTL: cp.TTL}
}

func messageWire(path string, m llm.Message) (Message, *llm.Error) {
	w := Message{Role: string(m.Role), Content: make([]ContentBlock, len(m.Content))}
	for i := range m.Content {
		var err *llm.Error
		if w.Content[i], err = blockWire(index(path+".content", i), &m.Content[i]); err != nil {
			return w, err
		}
	}
	return w, nil
}

func blockWire(path string, b *llm.Block) (ContentBlock, *llm.Error) {
	var w ContentBlock
	missing := func() (ContentBlock, *llm.Error) {
		return w, invalid(path, "block of type %q has no %s", b.Type, b.Type)
	}
	switch b.Type {
	case llm.BlockText:
		w.Text = &b.Text
	case llm.BlockImage:
		if b.Image == nil {
			return missing()
		}
		w.Image = imageWire(b.Image)
	case llm.BlockDocument:
		if b.Document == nil {
			return missing()
		}
		d := b.Document
		w.Document = &Document{Format: d.Format, Name: d.Name, Source: DocumentSource{Bytes: d.Bytes}}
	case llm.BlockToolUse:
		if b.ToolUse == nil {
			return missing()
		}
		in := b.ToolUse.Input
		if len(in) == 0 {
			in = json.RawMessage("{}")
		}
		w.ToolUse = &ToolUse{ToolUseID: b.ToolUse.ID, Name: b.ToolUse.Name, Input: in}
	case llm.BlockToolResult:
		if b.ToolResult == nil {
			return missing()
		}
		tr := b.ToolResult
		wr := &ToolResult{ToolUseID: tr.ToolUseID, Status: tr.Status, Content: make([]ToolResultContent, len(tr.Content))}
		for i, c := range tr.Content {
			switch {
			case c.Image != nil:
				wr.Content[i].Image = imageWire(c.Image)
			case len(c.JSON) > 0:
				wr.Content[i].JSON = c.JSON
			default:
				wr.Content[i].Text = &tr.Content[i].Text
			}
		}
		w.ToolResult = wr
	case llm.BlockCachePoint:
		cp := b.CachePoint
		if cp == nil {
			cp = &llm.CachePoint{}
		}
		w.CachePoint = cachePointWire(cp)
	case llm.BlockReasoning:
		w.ReasoningContent = &ReasoningContent{ReasoningText: &ReasoningText{Text: b.Text, Signature: b.Signature}}
	default:
		return w, invalid(path, "unknown block type %q", b.Type)
	}
	return w, nil
}

func imageWire(img *llm.Image) *Image {
	return &Image{Format: img.Format, Source: ImageSource{Bytes: img.Bytes}}
}

// EncodeResponse writes resp as a Converse response body. totalTokens is
// Usage.Total(), which includes cache reads and writes, as Bedrock reports
// it; the cache fields are written only when non-zero.
func EncodeResponse(resp *llm.Response) ([]byte, error) {
	role := resp.Message.Role
	if role == "" {
		role = llm.RoleAssistant
	}
	msg, err := messageWire("output.message", llm.Message{Role: role, Content: resp.Message.Content})
	if err != nil {
		return nil, err
	}
	w := Response{
		Output:      Output{Message: &msg},
		StopReason:  string(resp.StopReason),
		Usage:       usageWire(resp.Usage),
		Metrics:     Metrics{LatencyMs: resp.Latency.Milliseconds()},
		Trace:       traceWire(resp.InvokedModel),
		ServiceTier: serviceTierWire(resp.ServiceTier),
	}
	return json.Marshal(w)
}

func usageWire(u llm.Usage) Usage {
	w := Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.Total()}
	if u.CacheReadTokens != 0 {
		w.CacheReadInputTokens = &u.CacheReadTokens
	}
	if u.CacheWriteTokens != 0 {
		w.CacheWriteInputTokens = &u.CacheWriteTokens
	}
	if long := u.CacheWrite1hTokens; long > 0 {
		if short := u.CacheWriteTokens - long; short > 0 {
			w.CacheDetails = append(w.CacheDetails, CacheDetail{InputTokens: short, TTL: "5m"})
		}
		w.CacheDetails = append(w.CacheDetails, CacheDetail{InputTokens: long, TTL: "1h"})
	}
	return w
}

func usageFromWire(w Usage) llm.Usage {
	u := llm.Usage{InputTokens: w.InputTokens, OutputTokens: w.OutputTokens}
	if w.CacheReadInputTokens != nil {
		u.CacheReadTokens = *w.CacheReadInputTokens
	}
	if w.CacheWriteInputTokens != nil {
		u.CacheWriteTokens = *w.CacheWriteInputTokens
	}
	for _, d := range w.CacheDetails {
		if d.TTL == "1h" {
			u.CacheWrite1hTokens += d.InputTokens
		}
	}
	return u
}

func traceWire(invokedModel string) *Trace {
	if invokedModel == "" {
		return nil
	}
	return &Trace{PromptRouter: &PromptRouterTrace{InvokedModelID: invokedModel}}
}

// responseFields are the members of a Converse response DecodeResponse
// requires; trace and serviceTier are read when present, and other members
// Bedrock may add (additionalModelResponseFields, performanceConfig) are
// ignored, since they carry nothing llm.Response holds.
var responseFields = []string{"output", "stopReason", "usage", "metrics"}

// DecodeResponse decodes a Converse response body. Content blocks are
// decoded as strictly as in requests, so that no part of an answer is lost
// unnoticed. Errors are *llm.Error of KindInternal (an unexpected upstream
// answer) whose message names the field path.
func DecodeResponse(body []byte) (*llm.Response, error) {
	resp, err := decodeResponse(body)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInternal, Message: "converse response: " + err.Message, Err: err}
	}
	return resp, nil
}

func decodeResponse(body []byte) (*llm.Response, *llm.Error) {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return nil, &llm.Error{Kind: llm.KindInternal, Message: "malformed JSON"}
	}
	top, err := parseObject("", body)
	if err != nil {
		return nil, err
	}
	for _, name := range responseFields {
		if _, ok := top.m[name]; !ok {
			return nil, invalid(name, "is required")
		}
	}
	out, err := parseObject("output", top.m["output"])
	if err != nil {
		return nil, err
	}
	_, m, err := out.union("output", fieldSet{known: []string{"message"}})
	if err != nil {
		return nil, err
	}
	resp := &llm.Response{}
	if resp.Message, err = decodeMessage("output.message", m, true); err != nil {
		return nil, err
	}
	stop, err := parseString("stopReason", top.m["stopReason"])
	if err != nil {
		return nil, err
	}
	resp.StopReason = llm.StopReason(stop)

	var usage Usage
	if _, err := parseObject("usage", top.m["usage"]); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(top.m["usage"], &usage); err != nil {
		return nil, invalid("usage", "%v", err)
	}
	resp.Usage = usageFromWire(usage)

	var metrics Metrics
	if _, err := parseObject("metrics", top.m["metrics"]); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(top.m["metrics"], &metrics); err != nil {
		return nil, invalid("metrics", "%v", err)
	}
	resp.Latency = time.Duration(metrics.LatencyMs) * time.Millisecond

	if raw, ok := top.get("trace"); ok {
		var tr Trace
		if err := json.Unmarshal(raw, &tr); err != nil {
			return nil, invalid("trace", "%v", err)
		}
		if tr.PromptRouter != nil {
			resp.InvokedModel = tr.PromptRouter.InvokedModelID
		}
	}
	if raw, ok := top.get("serviceTier"); ok {
		var st ServiceTier
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, invalid("serviceTier", "%v", err)
		}
		resp.ServiceTier = llm.ServiceTier(st.Type)
	}
	return resp, nil
}
