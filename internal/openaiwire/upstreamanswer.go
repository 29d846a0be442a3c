package openaiwire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// This file is the reverse of encode.go: it reads an OpenAI-compatible
// upstream's answers, streamed chunks and errors back into llm types. It is
// lenient where decode.go is strict: upstreams add fields of their own
// (vLLM's stop_reason, reasoning_content, …) and those are ignored or used.

// upstreamAnswer is a chat.completion or chat.completion.chunk as
// upstreams really send them.
type upstreamAnswer struct {
	Choices []upstreamChoice `json:"choices"`
	Usage   *Usage           `json:"usage"`
	Error   json.RawMessage  `json:"error"`
}

type upstreamChoice struct {
	Index        int             `json:"index"`
	Message      upstreamMessage `json:"message"`
	Delta        upstreamMessage `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	// StopReason is vLLM's: the stop string (or token id) that ended the
	// answer when finish_reason is "stop".
	StopReason json.RawMessage `json:"stop_reason"`
}

type upstreamMessage struct {
	// Content is a string, null, or (Mistral) an array of parts.
	Content json.RawMessage `json:"content"`
	Refusal *string         `json:"refusal"`
	// ReasoningContent (vLLM, DeepSeek) and Reasoning (Ollama, OpenRouter)
	// carry a reasoning model's thinking.
	ReasoningContent string             `json:"reasoning_content"`
	Reasoning        string             `json:"reasoning"`
	ToolCalls        []upstreamToolCall `json:"tool_calls"`
}

type upstreamToolCall struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name string `json:"name"`
		// Arguments is a JSON-encoded string; a few servers send the
		// object itself.
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// upstreamError is an error object: OpenAI's, or vLLM's with a numeric code.
type upstreamError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

func (m *upstreamMessage) reasoning() string {
	if m.ReasoningContent != "" {
		return m.ReasoningContent
	}
	return m.Reasoning
}

// text returns the message's text: content, else the refusal (what the
// model said when it declined).
func (m *upstreamMessage) text() string {
	var s string
	c := bytes.TrimSpace(m.Content)
	switch {
	case len(c) == 0 || c[0] == 'n':
	case c[0] == '"':
		_ = json.Unmarshal(c, &s)
	case c[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		_ = json.Unmarshal(c, &parts)
		var b strings.Builder
		for _, p := range parts {
			if p.Type == "text" {
				b.WriteString(p.Text)
			}
		}
		s = b.String()
	}
	if s == "" && m.Refusal != nil {
		s = *m.Refusal
	}
	return s
}

// arguments returns a tool call's arguments as JSON text, or "".
func (tc *upstreamToolCall) arguments() string {
	a := bytes.TrimSpace(tc.Function.Arguments)
	if len(a) == 0 || string(a) == "null" {
		return ""
	}
	if a[0] == '"' {
		var s string
		if json.Unmarshal(a, &s) == nil {
			return s
		}
	}
	return string(a)
}

// UsageFrom is UsageOf's reverse: it turns OpenAI usage into Bedrock's
// terms, where input tokens exclude the cached ones. Penny's own
// cache_write_tokens extension is read too. Nil gives zero usage.
func UsageFrom(u *Usage) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	out := llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CacheReadTokens = d.CachedTokens
		out.CacheWriteTokens = d.CacheWriteTokens
		out.InputTokens -= d.CachedTokens + d.CacheWriteTokens
		if out.InputTokens < 0 {
			out.InputTokens = 0
		}
	}
	return out
}

// StopReasonOf is FinishReason's reverse: it maps an OpenAI finish_reason
// to a Converse stop reason. Unknown reasons are an ordinary end of turn.
func StopReasonOf(finish string) llm.StopReason {
	switch finish {
	case "length":
		return llm.StopMaxTokens
	case "tool_calls", "function_call":
		return llm.StopToolUse
	case "content_filter":
		return llm.StopContentFilter
	}
	return llm.StopEndTurn
}

// stopReason refines StopReasonOf with what else the choice says: an
// answer that called tools stopped for tool use even if the upstream
// says "stop" (older Ollama does), and vLLM names the stop string.
func stopReason(finish string, stopString json.RawMessage, calledTools bool) llm.StopReason {
	r := StopReasonOf(finish)
	if r == llm.StopEndTurn && calledTools {
		return llm.StopToolUse
	}
	if r == llm.StopEndTurn && finish == "stop" && len(stopString) > 0 && stopString[0] == '"' {
		return llm.StopSequence
	}
	return r
}

// DecodeResponse reads an upstream's chat.completion body. Only the first
// choice is used. The answer's blocks are, in order: reasoning, text, tool
// calls. Tool arguments that are not a JSON object are replaced by {} and
// the stop reason becomes malformed_tool_use, because a Converse toolUse
// input must be an object. Errors are *llm.Error: KindInternal for a body
// that is not a chat completion, or the kind of an error object found in it.
func DecodeResponse(body []byte) (*llm.Response, error) {
	var a upstreamAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, llm.Errorf(llm.KindInternal, "upstream answer is not a chat completion: %w", err)
	}
	if hasValue(a.Error) {
		return nil, DecodeError(0, body)
	}
	if len(a.Choices) == 0 {
		return nil, llm.Errorf(llm.KindInternal, "upstream answer has no choices")
	}
	ch := &a.Choices[0]
	resp := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant}, Usage: UsageFrom(a.Usage)}
	msg := &ch.Message
	if r := msg.reasoning(); r != "" {
		resp.Message.Content = append(resp.Message.Content, llm.Block{Type: llm.BlockReasoning, Text: r})
	}
	if t := msg.text(); t != "" {
		resp.Message.Content = append(resp.Message.Content, llm.TextBlock(t))
	}
	malformed := false
	for i, tc := range msg.ToolCalls {
		input := tc.arguments()
		if input == "" {
			input = "{}"
		} else if !IsJSONObject(json.RawMessage(input)) {
			input, malformed = "{}", true
		}
		id := tc.ID
		if id == "" {
			id = syntheticToolID(i)
		}
		resp.Message.Content = append(resp.Message.Content, llm.Block{Type: llm.BlockToolUse,
			ToolUse: &llm.ToolUse{ID: id, Name: tc.Function.Name, Input: json.RawMessage(input)}})
	}
	finish := ""
	if ch.FinishReason != nil {
		finish = *ch.FinishReason
	}
	resp.StopReason = stopReason(finish, ch.StopReason, len(msg.ToolCalls) > 0)
	if malformed {
		resp.StopReason = llm.StopMalformedTool
	}
	return resp, nil
}

// syntheticToolID names a tool call the upstream sent without an id:
// Converse and OpenAI clients need one to send the result back.
func syntheticToolID(i int) string { return "call_" + strconv.Itoa(i) }

func hasValue(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

// DecodeError reads an upstream's error body into an *llm.Error. It accepts
// OpenAI's {"error":{"message","type","code"}}, {"error":"text"}, vLLM's
// older top-level {"object":"error","message",…} and, failing those, plain
// text. status is the HTTP status, or 0 for an error object inside a 200
// answer or a stream; the kind is KindForStatus(status) when there is a
// status, else guessed from the error's code and type (KindModelError when
// neither says). Message is the upstream's message; Upstream is its error
// code if that is a name, else its type.
func DecodeError(status int, body []byte) *llm.Error {
	ue, ok := parseError(body)
	if !ok {
		ue.Message = strings.TrimSpace(string(body))
		if len(ue.Message) > 512 {
			ue.Message = ue.Message[:512] + "…"
		}
	}
	if ue.Message == "" {
		if status != 0 {
			ue.Message = fmt.Sprintf("upstream answered %d %s", status, http.StatusText(status))
		} else {
			ue.Message = "upstream reported an error"
		}
	}
	code, numeric := errorCode(ue.Code)
	e := &llm.Error{Message: ue.Message, Upstream: ue.Type}
	if code != "" && !numeric {
		e.Upstream = code
	}
	switch {
	case status != 0:
		e.Kind = KindForStatus(status)
	case numeric:
		n, _ := strconv.Atoi(code)
		e.Kind = KindForStatus(n)
	default:
		e.Kind = kindForError(ue.Type, code)
	}
	return e
}

func parseError(body []byte) (upstreamError, bool) {
	var env struct {
		Error  json.RawMessage `json:"error"`
		Object string          `json:"object"`
		upstreamError
	}
	if json.Unmarshal(body, &env) != nil {
		return upstreamError{}, false
	}
	raw := bytes.TrimSpace(env.Error)
	switch {
	case len(raw) > 0 && raw[0] == '{':
		var ue upstreamError
		if json.Unmarshal(raw, &ue) == nil {
			return ue, true
		}
	case len(raw) > 0 && raw[0] == '"':
		var ue upstreamError
		if json.Unmarshal(raw, &ue.Message) == nil {
			return ue, true
		}
	case env.Message != "":
		return env.upstreamError, true
	}
	return upstreamError{}, false
}

// errorCode returns an error object's code as text, and whether it is an
// HTTP status (vLLM sends 400, LiteLLM "429").
func errorCode(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	s := string(raw)
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &s)
	}
	n, err := strconv.Atoi(s)
	return s, err == nil && n >= 400 && n < 600
}

// kindForError guesses a kind from an error object without an HTTP status:
// Penny's own codes (another Penny upstream), then OpenAI's types.
func kindForError(typ, code string) llm.ErrorKind {
	for kind, m := range errorMap {
		if code != "" && m.code == code {
			return kind
		}
	}
	switch typ {
	case "invalid_request_error", "BadRequestError":
		return llm.KindValidation
	case "authentication_error":
		return llm.KindUnauthorized
	case "permission_error":
		return llm.KindForbidden
	case "not_found_error", "NotFoundError":
		return llm.KindNotFound
	case "rate_limit_error", "requests", "tokens":
		return llm.KindThrottled
	case "insufficient_quota":
		return llm.KindBudget
	case "timeout_error", "timeout":
		return llm.KindTimeout
	case "overloaded_error", "service_unavailable":
		return llm.KindUnavailable
	}
	return llm.KindModelError
}

// ChunkDecoder turns the data payloads of an upstream's streamed answer
// (chat.completion.chunk objects) into llm.Events in ConverseStream order:
// messageStart; for each content block its events and a contentBlockStop
// (text and reasoning as deltas, a tool call as contentBlockStart with its
// id and name and then toolInput deltas); messageStop with the stop reason;
// and, from End, metadata with the usage. Blocks are numbered in the order
// they begin, so text that comes first is block 0. Only the first choice is
// used. The zero value is ready; use one per stream, from one goroutine.
type ChunkDecoder struct {
	started  bool
	finished bool
	ended    bool
	next     int // index of the next block
	open     int // index of the open block, or -1 after it stopped
	openType llm.BlockType
	tools    map[int]int // upstream tool call index → block index
	lastTool int         // upstream index of the last tool call
	lastID   string      // and its id
	sawTools bool
	usage    *Usage
	evs      []llm.Event
}

// Decode reads one data payload (without the "data: " prefix; not
// "[DONE]") and returns the events it completes, possibly none. The slice
// is only valid until the next call. An error object in the payload is
// returned as an *llm.Error (see DecodeError); a payload that is not JSON
// as KindInternal.
func (d *ChunkDecoder) Decode(data []byte) ([]llm.Event, error) {
	var a upstreamAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, llm.Errorf(llm.KindInternal, "upstream sent a malformed stream chunk: %w", err)
	}
	if hasValue(a.Error) {
		return nil, DecodeError(0, data)
	}
	d.evs = d.evs[:0]
	d.start()
	if a.Usage != nil {
		// The last usage wins: vLLM can report a running total per chunk.
		d.usage = a.Usage
	}
	for i := range a.Choices {
		if ch := &a.Choices[i]; ch.Index == 0 && !d.finished {
			d.choice(ch)
		}
	}
	return d.evs, nil
}

func (d *ChunkDecoder) start() {
	if d.started {
		return
	}
	d.started, d.open = true, -1
	d.evs = append(d.evs, llm.Event{Type: llm.EventMessageStart, Role: llm.RoleAssistant})
}

func (d *ChunkDecoder) choice(ch *upstreamChoice) {
	m := &ch.Delta
	if r := m.reasoning(); r != "" {
		d.evs = append(d.evs, llm.Event{Type: llm.EventBlockDelta, Index: d.block(llm.BlockReasoning), Delta: llm.Delta{Reasoning: r}})
	}
	if t := m.text(); t != "" {
		d.evs = append(d.evs, llm.Event{Type: llm.EventBlockDelta, Index: d.block(llm.BlockText), Delta: llm.Delta{Text: t}})
	}
	for i := range m.ToolCalls {
		d.toolCall(&m.ToolCalls[i])
	}
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		d.stopBlock()
		d.evs = append(d.evs, llm.Event{Type: llm.EventMessageStop, StopReason: stopReason(*ch.FinishReason, ch.StopReason, d.sawTools)})
		d.finished = true
	}
}

// block returns the index of the open block of type t, first stopping any
// other open block and starting a new one.
func (d *ChunkDecoder) block(t llm.BlockType) int {
	if d.open >= 0 && d.openType == t {
		return d.open
	}
	d.stopBlock()
	d.open, d.openType = d.next, t
	d.next++
	return d.open
}

func (d *ChunkDecoder) stopBlock() {
	if d.open >= 0 {
		d.evs = append(d.evs, llm.Event{Type: llm.EventBlockStop, Index: d.open})
		d.open = -1
	}
}

// toolCall handles one tool call delta. The first delta of a call carries
// its id and name, later ones argument fragments, matched by index. A
// server that sends no index is assumed to send calls one after another,
// each starting with its id.
func (d *ChunkDecoder) toolCall(tc *upstreamToolCall) {
	if d.tools == nil {
		d.tools = map[int]int{}
	}
	key := d.lastTool
	switch {
	case tc.Index != nil:
		key = *tc.Index
	case tc.ID != "" && tc.ID == d.lastID:
	case tc.ID != "" || len(d.tools) == 0:
		key = len(d.tools)
		for {
			if _, taken := d.tools[key]; !taken {
				break
			}
			key++
		}
	}
	d.lastTool = key
	if tc.ID != "" {
		d.lastID = tc.ID
	}
	idx, ok := d.tools[key]
	if !ok {
		d.stopBlock()
		idx = d.next
		d.next++
		d.open, d.openType = idx, llm.BlockToolUse
		d.tools[key] = idx
		d.sawTools = true
		id := tc.ID
		if id == "" {
			id = syntheticToolID(len(d.tools) - 1)
		}
		d.evs = append(d.evs, llm.Event{Type: llm.EventBlockStart, Index: idx, ToolUse: &llm.ToolUse{ID: id, Name: tc.Function.Name}})
	}
	if args := tc.arguments(); args != "" {
		d.evs = append(d.evs, llm.Event{Type: llm.EventBlockDelta, Index: idx, Delta: llm.Delta{ToolInput: args}})
	}
}

// End returns the events that close the stream: the open block's stop, a
// messageStop if no finish_reason came, and metadata with the usage (zero
// if the upstream sent none). Call it once, at "[DONE]" (sawDone) or at
// the end of the body. A body that ended without "[DONE]" and without a
// finish_reason was cut off: End returns a KindUnavailable error.
func (d *ChunkDecoder) End(sawDone bool) ([]llm.Event, error) {
	if d.ended {
		return nil, nil
	}
	d.ended = true
	if !sawDone && !d.finished {
		return nil, llm.Errorf(llm.KindUnavailable, "upstream stream ended before the answer was complete")
	}
	d.evs = d.evs[:0]
	d.start()
	if !d.finished {
		d.stopBlock()
		r := llm.StopEndTurn
		if d.sawTools {
			r = llm.StopToolUse
		}
		d.evs = append(d.evs, llm.Event{Type: llm.EventMessageStop, StopReason: r})
		d.finished = true
	}
	u := UsageFrom(d.usage)
	d.evs = append(d.evs, llm.Event{Type: llm.EventMetadata, Usage: &u})
	return d.evs, nil
}
