// Package modeleval measures how well catalog models answer a dataset with
// known answers, and what they cost doing it: it runs every item on every
// model through an llm.Invoker (normally Penny's own chain, so routing,
// caching and accounting apply), scores the answers, and summarizes score
// with a confidence interval, cost per 1,000 requests and latency per model.
//
// Money stays in llm.Money (nano-dollars) throughout; floats appear only
// where figures are printed or written for people.
package modeleval

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// Item is one dataset row: a prompt (or an OpenAI-style conversation) and
// the expected answer its scorer compares against.
type Item struct {
	ID string `json:"id"`
	// Prompt is a single user turn; Messages, if set, replace it.
	Prompt    string    `json:"prompt,omitempty"`
	Messages  []Message `json:"messages,omitempty"`
	System    string    `json:"system,omitempty"`
	Expected  string    `json:"expected"`
	MaxTokens int       `json:"max_tokens,omitempty"`
	// Metadata is sent as the request's metadata: a managed prompt template
	// ("penny_template": "name@version") and its variables, so templates
	// can be evaluated like prompts. With a template, prompt and messages
	// may be left out.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Message is an OpenAI-style chat message: content is a string or a list
// of {"type": "text", "text": "..."} parts.
type Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// ReadDataset reads one Item per line of JSONL; blank lines are skipped.
// Every item needs a unique id and a prompt or messages.
func ReadDataset(r io.Reader) ([]Item, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var items []Item
	seen := map[string]bool{}
	for line := 1; sc.Scan(); line++ {
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		var it Item
		if err := dec.Decode(&it); err != nil {
			return nil, fmt.Errorf("dataset line %d: %w", line, err)
		}
		switch {
		case it.ID == "":
			return nil, fmt.Errorf("dataset line %d: id is missing", line)
		case seen[it.ID]:
			return nil, fmt.Errorf("dataset line %d: id %q is repeated", line, it.ID)
		case it.Prompt == "" && len(it.Messages) == 0 && it.Metadata["penny_template"] == "":
			return nil, fmt.Errorf("dataset line %d (id %s): prompt or messages is required", line, it.ID)
		case it.MaxTokens < 0:
			return nil, fmt.Errorf("dataset line %d (id %s): max_tokens must not be negative", line, it.ID)
		}
		if _, err := it.Request("x"); err != nil {
			return nil, fmt.Errorf("dataset line %d (id %s): %w", line, it.ID, err)
		}
		seen[it.ID] = true
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New("dataset has no items")
	}
	return items, nil
}

// Request builds the request that asks model for the item's answer.
func (it Item) Request(model string) (*llm.Request, error) {
	req := &llm.Request{Model: model}
	if len(it.Metadata) > 0 {
		req.Meta.Tags = maps.Clone(it.Metadata)
	}
	if it.System != "" {
		req.System = append(req.System, llm.SystemBlock{Text: it.System})
	}
	if it.MaxTokens > 0 {
		n := it.MaxTokens
		req.Config.MaxTokens = &n
	}
	if len(it.Messages) == 0 {
		if it.Prompt != "" {
			req.Messages = []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(it.Prompt)}}}
		}
		return req, nil
	}
	for i, m := range it.Messages {
		text, err := contentText(m.Content)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		switch m.Role {
		case "system", "developer":
			req.System = append(req.System, llm.SystemBlock{Text: text})
		case "user", "assistant":
			req.Messages = append(req.Messages, llm.Message{Role: llm.Role(m.Role), Content: []llm.Block{llm.TextBlock(text)}})
		default:
			return nil, fmt.Errorf("messages[%d]: role %q is not system, user or assistant", i, m.Role)
		}
	}
	if len(req.Messages) == 0 || req.Messages[len(req.Messages)-1].Role != llm.RoleUser {
		return nil, errors.New("messages must end with a user message")
	}
	return req, nil
}

// PromptText is the item's prompt as one string: the prompt, or the last
// user message.
func (it Item) PromptText() string {
	if len(it.Messages) == 0 {
		return it.Prompt
	}
	req, err := it.Request("x")
	if err != nil {
		return ""
	}
	return req.LastUserText()
}

func contentText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content is neither a string nor a list of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part of type %q is not supported (text only)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}
