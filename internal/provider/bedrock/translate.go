package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithydocument "github.com/aws/smithy-go/document"

	"github.com/penny-gateway/penny/internal/llm"
)

// input is what ConverseInput and ConverseStreamInput share.
type input struct {
	messages   []types.Message
	system     []types.SystemContentBlock
	config     *types.InferenceConfiguration
	tools      *types.ToolConfiguration
	additional document.Interface
}

func converseInput(req *llm.Request) (*bedrockruntime.ConverseInput, error) {
	in, err := translateRequest(req)
	if err != nil {
		return nil, err
	}
	return &bedrockruntime.ConverseInput{
		ModelId:                      aws.String(req.Model),
		Messages:                     in.messages,
		System:                       in.system,
		InferenceConfig:              in.config,
		ToolConfig:                   in.tools,
		AdditionalModelRequestFields: in.additional,
		ServiceTier:                  tierToSDK(req.ServiceTier),
	}, nil
}

func converseStreamInput(req *llm.Request) (*bedrockruntime.ConverseStreamInput, error) {
	in, err := translateRequest(req)
	if err != nil {
		return nil, err
	}
	return &bedrockruntime.ConverseStreamInput{
		ModelId:                      aws.String(req.Model),
		Messages:                     in.messages,
		System:                       in.system,
		InferenceConfig:              in.config,
		ToolConfig:                   in.tools,
		AdditionalModelRequestFields: in.additional,
		ServiceTier:                  tierToSDK(req.ServiceTier),
	}, nil
}

// translateRequest maps req onto the SDK's types. A malformed request (a
// block whose Type has no matching field, invalid JSON in a tool input or
// schema) is a KindValidation error naming the path.
func translateRequest(req *llm.Request) (*input, error) {
	if req.Model == "" {
		return nil, llm.Errorf(llm.KindValidation, "bedrock: request has no model id")
	}
	in := &input{messages: make([]types.Message, len(req.Messages))}
	for i, m := range req.Messages {
		content := make([]types.ContentBlock, len(m.Content))
		for j := range m.Content {
			b, err := blockToSDK(fmt.Sprintf("messages[%d].content[%d]", i, j), &m.Content[j])
			if err != nil {
				return nil, err
			}
			content[j] = b
		}
		in.messages[i] = types.Message{Role: types.ConversationRole(m.Role), Content: content}
	}
	for _, s := range req.System {
		if s.CachePoint != nil {
			in.system = append(in.system, &types.SystemContentBlockMemberCachePoint{Value: cachePointToSDK(s.CachePoint)})
			continue
		}
		in.system = append(in.system, &types.SystemContentBlockMemberText{Value: s.Text})
	}
	if c := req.Config; c.MaxTokens != nil || c.Temperature != nil || c.TopP != nil || len(c.StopSequences) > 0 {
		ic := &types.InferenceConfiguration{StopSequences: c.StopSequences}
		if c.MaxTokens != nil {
			ic.MaxTokens = aws.Int32(int32(*c.MaxTokens))
		}
		if c.Temperature != nil {
			ic.Temperature = aws.Float32(float32(*c.Temperature))
		}
		if c.TopP != nil {
			ic.TopP = aws.Float32(float32(*c.TopP))
		}
		in.config = ic
	}
	if req.Tools != nil {
		tc := &types.ToolConfiguration{}
		for i, t := range req.Tools.Tools {
			if t.CachePoint != nil {
				tc.Tools = append(tc.Tools, &types.ToolMemberCachePoint{Value: cachePointToSDK(t.CachePoint)})
				continue
			}
			schema := t.InputSchema
			if len(schema) == 0 {
				schema = json.RawMessage(`{"type":"object"}`)
			}
			doc, err := toDocument(fmt.Sprintf("toolConfig.tools[%d].toolSpec.inputSchema.json", i), schema)
			if err != nil {
				return nil, err
			}
			spec := types.ToolSpecification{Name: aws.String(t.Name), InputSchema: &types.ToolInputSchemaMemberJson{Value: doc}}
			if t.Description != "" {
				spec.Description = aws.String(t.Description)
			}
			tc.Tools = append(tc.Tools, &types.ToolMemberToolSpec{Value: spec})
		}
		switch ch := req.Tools.Choice; ch.Mode {
		case llm.ToolChoiceAuto:
			tc.ToolChoice = &types.ToolChoiceMemberAuto{}
		case llm.ToolChoiceAny:
			tc.ToolChoice = &types.ToolChoiceMemberAny{}
		case llm.ToolChoiceTool:
			tc.ToolChoice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String(ch.Name)}}
		}
		in.tools = tc
	}
	if len(req.Additional) > 0 && string(req.Additional) != "null" {
		doc, err := toDocument("additionalModelRequestFields", req.Additional)
		if err != nil {
			return nil, err
		}
		in.additional = doc
	}
	return in, nil
}

func cachePointToSDK(cp *llm.CachePoint) types.CachePointBlock {
	return types.CachePointBlock{Type: types.CachePointTypeDefault, Ttl: types.CacheTTL(cp.TTL)}
}

func imageToSDK(img *llm.Image) types.ImageBlock {
	return types.ImageBlock{Format: types.ImageFormat(img.Format), Source: &types.ImageSourceMemberBytes{Value: img.Bytes}}
}

func blockToSDK(path string, b *llm.Block) (types.ContentBlock, error) {
	missing := func() (types.ContentBlock, error) {
		return nil, llm.Errorf(llm.KindValidation, "%s: block of type %q has no %s", path, b.Type, b.Type)
	}
	switch b.Type {
	case llm.BlockText:
		return &types.ContentBlockMemberText{Value: b.Text}, nil
	case llm.BlockImage:
		if b.Image == nil {
			return missing()
		}
		return &types.ContentBlockMemberImage{Value: imageToSDK(b.Image)}, nil
	case llm.BlockDocument:
		if b.Document == nil {
			return missing()
		}
		d := b.Document
		return &types.ContentBlockMemberDocument{Value: types.DocumentBlock{
			Format: types.DocumentFormat(d.Format),
			Name:   aws.String(d.Name),
			Source: &types.DocumentSourceMemberBytes{Value: d.Bytes},
		}}, nil
	case llm.BlockToolUse:
		if b.ToolUse == nil {
			return missing()
		}
		raw := b.ToolUse.Input
		if len(raw) == 0 {
			raw = json.RawMessage("{}")
		}
		doc, err := toDocument(path+".toolUse.input", raw)
		if err != nil {
			return nil, err
		}
		return &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
			ToolUseId: aws.String(b.ToolUse.ID), Name: aws.String(b.ToolUse.Name), Input: doc,
		}}, nil
	case llm.BlockToolResult:
		if b.ToolResult == nil {
			return missing()
		}
		tr := b.ToolResult
		res := types.ToolResultBlock{ToolUseId: aws.String(tr.ToolUseID), Status: types.ToolResultStatus(tr.Status),
			Content: make([]types.ToolResultContentBlock, len(tr.Content))}
		for i, c := range tr.Content {
			switch {
			case c.Image != nil:
				res.Content[i] = &types.ToolResultContentBlockMemberImage{Value: imageToSDK(c.Image)}
			case len(c.JSON) > 0:
				doc, err := toDocument(fmt.Sprintf("%s.toolResult.content[%d].json", path, i), c.JSON)
				if err != nil {
					return nil, err
				}
				res.Content[i] = &types.ToolResultContentBlockMemberJson{Value: doc}
			default:
				res.Content[i] = &types.ToolResultContentBlockMemberText{Value: c.Text}
			}
		}
		return &types.ContentBlockMemberToolResult{Value: res}, nil
	case llm.BlockCachePoint:
		cp := b.CachePoint
		if cp == nil {
			cp = &llm.CachePoint{}
		}
		return &types.ContentBlockMemberCachePoint{Value: cachePointToSDK(cp)}, nil
	case llm.BlockReasoning:
		rt := types.ReasoningTextBlock{Text: aws.String(b.Text)}
		if b.Signature != "" {
			rt.Signature = aws.String(b.Signature)
		}
		return &types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberReasoningText{Value: rt}}, nil
	}
	return nil, llm.Errorf(llm.KindValidation, "%s: unknown block type %q", path, b.Type)
}

// toDocument turns JSON into an SDK document that serializes to the same
// JSON. Numbers are kept as arbitrary-precision document.Number, so that
// large integers and exact decimals survive.
func toDocument(path string, raw json.RawMessage) (document.Interface, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, llm.Errorf(llm.KindValidation, "%s: invalid JSON: %v", path, err)
	}
	return document.NewLazyDocument(numbersToDocument(v)), nil
}

func numbersToDocument(v any) any {
	switch x := v.(type) {
	case json.Number:
		return smithydocument.Number(x)
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToDocument(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToDocument(e)
		}
	}
	return v
}

// fromDocument returns the JSON of a document from an answer.
func fromDocument(path string, d document.Interface) (json.RawMessage, error) {
	if d == nil {
		return json.RawMessage("{}"), nil
	}
	b, err := d.MarshalSmithyDocument()
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInternal, Message: fmt.Sprintf("bedrock: %s: %v", path, err), Err: err}
	}
	return b, nil
}

func responseFromOutput(out *bedrockruntime.ConverseOutput) (*llm.Response, error) {
	m, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		return nil, llm.Errorf(llm.KindInternal, "bedrock: answer has no message (output %T)", out.Output)
	}
	resp := &llm.Response{
		Message:    llm.Message{Role: llm.Role(m.Value.Role), Content: make([]llm.Block, 0, len(m.Value.Content))},
		StopReason: llm.StopReason(out.StopReason),
		Usage:      usageFromSDK(out.Usage),
	}
	if resp.Message.Role == "" {
		resp.Message.Role = llm.RoleAssistant
	}
	for i, c := range m.Value.Content {
		b, err := blockFromSDK(fmt.Sprintf("output.message.content[%d]", i), c)
		if err != nil {
			return nil, err
		}
		resp.Message.Content = append(resp.Message.Content, b)
	}
	if out.Metrics != nil && out.Metrics.LatencyMs != nil {
		resp.Latency = time.Duration(*out.Metrics.LatencyMs) * time.Millisecond
	}
	if out.Trace != nil && out.Trace.PromptRouter != nil {
		resp.InvokedModel = aws.ToString(out.Trace.PromptRouter.InvokedModelId)
	}
	resp.ServiceTier = tierFromSDK(out.ServiceTier)
	return resp, nil
}

// tierToSDK asks for a service tier; "" leaves it to Bedrock (default).
func tierToSDK(t llm.ServiceTier) *types.ServiceTier {
	if t == "" {
		return nil
	}
	return &types.ServiceTier{Type: types.ServiceTierType(t)}
}

// tierFromSDK is the tier Bedrock says it served, "" when it did not say.
func tierFromSDK(t *types.ServiceTier) llm.ServiceTier {
	if t == nil {
		return ""
	}
	return llm.ServiceTier(t.Type)
}

func usageFromSDK(u *types.TokenUsage) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	out := llm.Usage{
		InputTokens:      int(aws.ToInt32(u.InputTokens)),
		OutputTokens:     int(aws.ToInt32(u.OutputTokens)),
		CacheReadTokens:  int(aws.ToInt32(u.CacheReadInputTokens)),
		CacheWriteTokens: int(aws.ToInt32(u.CacheWriteInputTokens)),
	}
	// cacheDetails splits the cache writes by TTL; 1-hour writes are
	// priced higher than 5-minute ones.
	for _, d := range u.CacheDetails {
		if d.Ttl == types.CacheTTLOneHour {
			out.CacheWrite1hTokens += int(aws.ToInt32(d.InputTokens))
		}
	}
	return out
}

// blockFromSDK maps an answer's content block. Kinds llm.Block cannot hold
// (citations, redacted reasoning, images, ...) are a KindUnsupported error
// rather than silently dropped content.
func blockFromSDK(path string, c types.ContentBlock) (llm.Block, error) {
	switch v := c.(type) {
	case *types.ContentBlockMemberText:
		return llm.TextBlock(v.Value), nil
	case *types.ContentBlockMemberToolUse:
		in, err := fromDocument(path+".toolUse.input", v.Value.Input)
		if err != nil {
			return llm.Block{}, err
		}
		return llm.Block{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{
			ID: aws.ToString(v.Value.ToolUseId), Name: aws.ToString(v.Value.Name), Input: in,
		}}, nil
	case *types.ContentBlockMemberReasoningContent:
		if rt, ok := v.Value.(*types.ReasoningContentBlockMemberReasoningText); ok {
			return llm.Block{Type: llm.BlockReasoning, Text: aws.ToString(rt.Value.Text), Signature: aws.ToString(rt.Value.Signature)}, nil
		}
		return llm.Block{}, &llm.Error{Kind: llm.KindUnsupported, Upstream: "ReasoningContentBlock",
			Message: fmt.Sprintf("bedrock: %s: the answer holds %T, which Penny cannot carry", path, v.Value)}
	}
	return llm.Block{}, &llm.Error{Kind: llm.KindUnsupported,
		Message: fmt.Sprintf("bedrock: %s: the answer holds a %T block, which Penny cannot carry", path, c)}
}
