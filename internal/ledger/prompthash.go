package ledger

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/penny-gateway/penny/internal/llm"
)

// PromptHash identifies a request for runaway-loop detection: SHA-256 over
// the model the client asked for, the system prompt and the last message
// (its text, tool calls and tool results), hex-encoded and cut to 128 bits.
// Hashing the last message rather than the whole conversation catches both
// a client resending the same request and an agent appending the same tool
// call and result turn after turn. It returns "" for a request with nothing
// to hash; Observe ignores an empty hash.
func PromptHash(r *llm.Request) string {
	if len(r.Messages) == 0 {
		return ""
	}
	h := sha256.New()
	// Strings go through buf: h.Write([]byte(s)) would copy a prompt of
	// megabytes whole.
	var buf [4096]byte
	field := func(s string) {
		for len(s) > 0 {
			n := copy(buf[:], s)
			h.Write(buf[:n])
			s = s[n:]
		}
		h.Write([]byte{0})
	}
	raw := func(b []byte) {
		h.Write(b)
		h.Write([]byte{0})
	}
	model := r.Meta.RequestedModel
	if model == "" {
		model = r.Model
	}
	field(model)
	for _, s := range r.System {
		field(s.Text)
	}
	field("\x01") // separates the system prompt from the message
	last := r.Messages[len(r.Messages)-1]
	field(string(last.Role))
	for _, b := range last.Content {
		field(string(b.Type))
		switch {
		case b.Text != "":
			field(b.Text)
		case b.ToolUse != nil:
			field(b.ToolUse.Name)
			raw(b.ToolUse.Input)
		case b.ToolResult != nil:
			// The tool-use id differs on every turn; the content is what
			// repeats in a loop.
			field(b.ToolResult.Status)
			for _, c := range b.ToolResult.Content {
				field(c.Text)
				raw(c.JSON)
			}
		case b.Image != nil:
			field(b.Image.Format)
			raw(b.Image.Bytes)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
