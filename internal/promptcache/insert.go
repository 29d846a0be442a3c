package promptcache

import (
	"slices"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// place is where a checkpoint goes.
type place int

const (
	atTools place = iota
	atSystem
	atMessage
)

// candidate is a checkpoint the stage may insert: where, and the tokens of
// the prompt before it.
type candidate struct {
	place  place
	msg    int // message index, for atMessage
	tokens int
}

// Insert returns a copy of req with checkpoints added for model m (see the
// package documentation for where), and how many it added. It never changes
// req or anything req points to: the slices it extends are new, the others
// are shared with req. With n == 0 the copy is *req as is. A model without
// PromptCache gets none.
//
// ttl is the TTL of the inserted checkpoints: "" (Bedrock's default, five
// minutes) or "1h". TTLs may not increase along tools → system → messages,
// so a 1-hour checkpoint is placed only before every 5-minute one the
// client set; later places get a 5-minute checkpoint, and only after the
// client's own 1-hour ones.
func Insert(c *tokens.Counter, m *catalog.Model, req *llm.Request, ttl string) (out llm.Request, n int) {
	out = *req
	pc := m.Capabilities.PromptCache
	if pc == nil {
		return out, 0
	}
	maxCP := pc.MaxCheckpoints
	if maxCP <= 0 {
		maxCP = DefaultMaxCheckpoints
	}
	// A token is at least one byte: a prompt with fewer bytes than the
	// minimum cannot reach it, and most prompts are short, so skip counting.
	if maxBytes(req) < pc.MinTokens {
		return out, 0
	}

	// Walk the prompt in the order tokens.CountCheckpoints reads it, noting
	// the client's checkpoints and the candidate places.
	var (
		total    int
		existing []int // prefix tokens of the client's checkpoints
		after1h  = -1  // the longest prefix a client 1h checkpoint covers
		first5m  = -1  // the shortest prefix a client 5-minute checkpoint covers
		cands    [4]candidate
		nc       int
	)
	note := func(cp *llm.CachePoint) {
		existing = append(existing, total)
		if cp != nil && cp.TTL == "1h" {
			after1h = total
		} else if first5m < 0 {
			first5m = total
		}
	}
	if req.Tools != nil {
		hasTool := false
		for i := range req.Tools.Tools {
			t := &req.Tools.Tools[i]
			if t.CachePoint != nil {
				note(t.CachePoint)
				continue
			}
			hasTool = true
			total += c.CountTool(t)
		}
		if hasTool && toolsTakeCheckpoints(m) {
			cands[nc] = candidate{place: atTools, tokens: total}
			nc++
		}
	}
	overhead := false
	for _, b := range req.System {
		if b.CachePoint != nil {
			note(b.CachePoint)
			continue
		}
		if !overhead && b.Text != "" {
			total += tokens.MessageOverhead
			overhead = true
		}
		total += c.Count(b.Text)
	}
	if overhead {
		cands[nc] = candidate{place: atSystem, tokens: total}
		nc++
	}
	final, prev := lastUsers(req.Messages)
	for i := range req.Messages {
		total += tokens.MessageOverhead
		for j := range req.Messages[i].Content {
			b := &req.Messages[i].Content[j]
			if b.Type == llm.BlockCachePoint {
				note(b.CachePoint)
				continue
			}
			total += c.CountBlock(b)
		}
		if final > 0 && (i == prev || i == final) {
			cands[nc] = candidate{place: atMessage, msg: i, tokens: total}
			nc++
		}
	}

	budget := maxCP - len(existing)
	if budget <= 0 || total < pc.MinTokens {
		return out, 0
	}
	// long reports whether a checkpoint at prefix tokens gets the 1-hour
	// TTL: asked for, and before every client 5-minute checkpoint.
	long := func(tokens int) bool { return ttl == "1h" && (first5m < 0 || tokens < first5m) }
	// Choose by priority: system, tools, history, final turn.
	var chosen [4]candidate
	taken := existing
	for _, want := range [...]func(candidate) bool{
		func(k candidate) bool { return k.place == atSystem },
		func(k candidate) bool { return k.place == atTools },
		func(k candidate) bool { return k.place == atMessage && k.msg == prev },
		func(k candidate) bool { return k.place == atMessage && k.msg == final },
	} {
		for _, k := range cands[:nc] {
			if n == budget || !want(k) {
				continue
			}
			if k.tokens < pc.MinTokens || k.tokens <= 0 || slices.Contains(taken, k.tokens) {
				continue
			}
			if !long(k.tokens) && k.tokens <= after1h {
				continue // a 5-minute checkpoint before a 1-hour one
			}
			taken = append(taken, k.tokens)
			chosen[n] = k
			n++
		}
	}
	if n == 0 {
		return out, 0
	}
	copiedMessages := false
	for _, k := range chosen[:n] {
		cp := &llm.CachePoint{}
		if long(k.tokens) {
			cp.TTL = "1h"
		}
		switch k.place {
		case atTools:
			tc := *req.Tools
			tc.Tools = appendClipped(tc.Tools, llm.Tool{CachePoint: cp})
			out.Tools = &tc
		case atSystem:
			out.System = appendClipped(req.System, llm.SystemBlock{CachePoint: cp})
		case atMessage:
			if !copiedMessages {
				out.Messages = slices.Clone(req.Messages)
				copiedMessages = true
			}
			msg := &out.Messages[k.msg]
			msg.Content = appendClipped(msg.Content, llm.Block{Type: llm.BlockCachePoint, CachePoint: cp})
		}
	}
	return out, n
}

// appendClipped appends v to a new copy of s, never to s's spare capacity,
// which other requests may share.
func appendClipped[T any](s []T, v T) []T {
	out := make([]T, len(s), len(s)+1)
	copy(out, s)
	return append(out, v)
}

// toolsTakeCheckpoints reports whether Bedrock accepts a cachePoint in the
// tool list of m's requests: Anthropic's models do, Amazon Nova does not.
func toolsTakeCheckpoints(m *catalog.Model) bool { return m.Vendor == "anthropic" }

// lastUsers returns the index of the last user message (the final user
// turn) and of the user message before it, or -1 for either that is absent.
func lastUsers(msgs []llm.Message) (final, prev int) {
	final, prev = -1, -1
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != llm.RoleUser {
			continue
		}
		if final < 0 {
			final = i
			continue
		}
		prev = i
		break
	}
	return final, prev
}

// maxBytes bounds a prompt's token count from above cheaply: the bytes of
// its text, tool specs and tool traffic, plus per-message overheads, and a
// large number for anything else (images, documents), which is counted.
func maxBytes(req *llm.Request) int {
	const unknown = 1 << 30
	n := 0
	if req.Tools != nil {
		for _, t := range req.Tools.Tools {
			n += len(t.Name) + len(t.Description) + len(t.InputSchema) + 64
		}
	}
	for _, b := range req.System {
		n += len(b.Text) + tokens.MessageOverhead
	}
	for _, m := range req.Messages {
		n += tokens.MessageOverhead
		for _, b := range m.Content {
			switch b.Type {
			case llm.BlockText, llm.BlockReasoning:
				n += len(b.Text)
			case llm.BlockToolUse:
				n += len(b.ToolUse.Name) + len(b.ToolUse.Input) + 16
			case llm.BlockToolResult:
				for _, c := range b.ToolResult.Content {
					if c.Image != nil {
						return unknown
					}
					n += len(c.Text) + len(c.JSON) + 16
				}
			case llm.BlockCachePoint:
			default:
				return unknown
			}
		}
	}
	return n
}
