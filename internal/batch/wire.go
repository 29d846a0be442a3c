package batch

import (
	"encoding/json"
	"strconv"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// InputRecord is one line of a Bedrock batch job's input file.
type InputRecord struct {
	RecordID   string          `json:"recordId"`
	ModelInput json.RawMessage `json:"modelInput"`
}

// OutputRecord is one line of a job's *.jsonl.out file: modelOutput, or
// error when the record failed.
type OutputRecord struct {
	RecordID    string          `json:"recordId"`
	ModelInput  json.RawMessage `json:"modelInput,omitempty"`
	ModelOutput json.RawMessage `json:"modelOutput,omitempty"`
	Error       *RecordError    `json:"error,omitempty"`
}

// RecordError is a failed record's error. Bedrock writes errorCode as a
// number (an HTTP status); a string is accepted too.
type RecordError struct {
	ErrorCode    json.RawMessage `json:"errorCode"`
	ErrorMessage string          `json:"errorMessage"`
}

// Code returns the error code as text.
func (e *RecordError) Code() string {
	var s string
	if json.Unmarshal(e.ErrorCode, &s) == nil {
		return s
	}
	return string(e.ErrorCode)
}

// Status returns the error code as an HTTP status, 500 when it is none.
func (e *RecordError) Status() int {
	n, err := strconv.Atoi(e.Code())
	if err != nil || n < 400 || n > 599 {
		return 500
	}
	return n
}

// Manifest is a job's manifest.json.out.
type Manifest struct {
	TotalRecordCount     int64 `json:"totalRecordCount"`
	ProcessedRecordCount int64 `json:"processedRecordCount"`
	SuccessRecordCount   int64 `json:"successRecordCount"`
	ErrorRecordCount     int64 `json:"errorRecordCount"`
	InputTokenCount      int64 `json:"inputTokenCount,omitempty"`
	OutputTokenCount     int64 `json:"outputTokenCount,omitempty"`
}

// recordLine returns req's line in a job's input file and the shape of
// job that takes it: InvokeModel for a native body, Converse otherwise,
// and "" for a Converse request with tools, which Converse batch jobs
// reject (it runs on demand). Cache checkpoints and the service tier are
// left out: batch jobs use neither.
func recordLine(id string, req *llm.Request) ([]byte, Shape, error) {
	in, shape, err := ModelInput(req)
	if err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(InputRecord{RecordID: id, ModelInput: in})
	if err != nil {
		return nil, "", llm.Errorf(llm.KindInternal, "encoding batch record: %w", err)
	}
	return b, shape, nil
}

// ModelInput returns req's modelInput in a batch record and its shape
// (see recordLine).
func ModelInput(req *llm.Request) (json.RawMessage, Shape, error) {
	if req.Native != nil {
		if !json.Valid(req.Native.Body) {
			return nil, "", llm.Errorf(llm.KindValidation, "a deferred InvokeModel body must be JSON")
		}
		return req.Native.Body, ShapeInvoke, nil
	}
	shape := ShapeConverse
	if req.Tools != nil && len(req.Tools.Tools) > 0 {
		shape = ""
	}
	r := *req
	r.ServiceTier = ""
	r.System = nil
	for _, s := range req.System {
		if s.CachePoint == nil {
			r.System = append(r.System, s)
		}
	}
	r.Messages = make([]llm.Message, len(req.Messages))
	for i, m := range req.Messages {
		r.Messages[i] = llm.Message{Role: m.Role}
		for _, b := range m.Content {
			if b.Type != llm.BlockCachePoint {
				r.Messages[i].Content = append(r.Messages[i].Content, b)
			}
		}
	}
	body, err := converse.EncodeRequest(&r)
	if err != nil {
		return nil, "", err
	}
	return body, shape, nil
}

// decodeOutput turns a record's modelOutput into a response.
func decodeOutput(shape Shape, out json.RawMessage) (*llm.Response, error) {
	if shape == ShapeInvoke {
		return &llm.Response{Native: &llm.NativeBody{Body: out, ContentType: "application/json"},
			Usage: nativeUsage(out), StopReason: llm.StopEndTurn}, nil
	}
	return converse.DecodeResponse(out)
}

// nativeUsage reads the token counts of an InvokeModel answer body, for
// the families whose answers carry them: Anthropic (usage.input_tokens),
// Nova (usage.inputTokens), Llama (prompt_token_count) and Titan
// (inputTextTokenCount). Others count zero.
func nativeUsage(body json.RawMessage) llm.Usage {
	var v struct {
		Usage *struct {
			InputTokens      int `json:"input_tokens"`
			OutputTokens     int `json:"output_tokens"`
			CacheRead        int `json:"cache_read_input_tokens"`
			CacheWrite       int `json:"cache_creation_input_tokens"`
			NovaInputTokens  int `json:"inputTokens"`
			NovaOutputTokens int `json:"outputTokens"`
		} `json:"usage"`
		PromptTokens     int `json:"prompt_token_count"`
		GenerationTokens int `json:"generation_token_count"`
		TitanInput       int `json:"inputTextTokenCount"`
		Results          []struct {
			TokenCount int `json:"tokenCount"`
		} `json:"results"`
	}
	json.Unmarshal(body, &v)
	u := llm.Usage{InputTokens: v.PromptTokens + v.TitanInput, OutputTokens: v.GenerationTokens}
	for _, r := range v.Results {
		u.OutputTokens += r.TokenCount
	}
	if x := v.Usage; x != nil {
		u.InputTokens += x.InputTokens + x.NovaInputTokens
		u.OutputTokens += x.OutputTokens + x.NovaOutputTokens
		u.CacheReadTokens, u.CacheWriteTokens = x.CacheRead, x.CacheWrite
	}
	return u
}
