package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/penny-gateway/penny/internal/llm"
)

// keyVersion starts every key's encoding. Change it whenever the encoding
// below or the stored entry format changes meaning, so that old entries
// (in a shared Redis) are never read with new semantics.
const keyVersion = "penny/response-cache/v1"

// Key returns the cache key of req as 64 hex digits: the SHA-256 of a
// canonical, length-prefixed encoding of the tenant (left out when
// sharedAcrossTenants), model (the canonical model id), system blocks,
// messages with every block kind (image and document bytes included),
// tools and tool choice, inference configuration and additional model
// request fields. JSON values (tool schemas, tool inputs and results,
// additional fields) are canonicalised first, so that key order and
// whitespace do not matter.
//
// Requests that differ in any of these never share a key; Meta other than
// the tenant (request id, route, tags, stream or not) is not part of it, so
// a streamed and a non-streamed request share entries.
func Key(req *llm.Request, model string, sharedAcrossTenants bool) string {
	var e keyEncoder
	e.h = sha256.New()
	e.buf = make([]byte, 0, 1024)
	e.str(keyVersion)
	if sharedAcrossTenants {
		e.byte('*')
	} else {
		e.byte('t')
		e.str(req.Meta.Tenant)
	}
	e.str(model)

	e.uint(len(req.System))
	for _, s := range req.System {
		e.str(s.Text)
		e.cachePoint(s.CachePoint)
	}

	e.uint(len(req.Messages))
	for _, m := range req.Messages {
		e.str(string(m.Role))
		e.uint(len(m.Content))
		for i := range m.Content {
			e.block(&m.Content[i])
		}
	}

	if t := req.Tools; t == nil {
		e.byte(0)
	} else {
		e.byte(1)
		e.uint(len(t.Tools))
		for _, tool := range t.Tools {
			e.str(tool.Name)
			e.str(tool.Description)
			e.json(tool.InputSchema)
			e.cachePoint(tool.CachePoint)
		}
		e.str(string(t.Choice.Mode))
		e.str(t.Choice.Name)
	}

	c := req.Config
	e.optInt(c.MaxTokens)
	e.optFloat(c.Temperature)
	e.optFloat(c.TopP)
	if c.StopSequences == nil {
		e.byte(0)
	} else {
		e.byte(1)
		e.uint(len(c.StopSequences))
		for _, s := range c.StopSequences {
			e.str(s)
		}
	}
	e.json(req.Additional)
	if em := req.Embed; em == nil {
		e.byte(0)
	} else {
		e.byte(1)
		e.uint(len(em.Texts))
		for _, t := range em.Texts {
			e.str(t)
		}
		e.uint(em.Dimensions)
		e.str(em.Purpose)
		switch {
		case em.Normalize == nil:
			e.byte(0)
		case *em.Normalize:
			e.byte(1)
		default:
			e.byte(2)
		}
	}
	if n := req.Native; n == nil {
		e.byte(0)
	} else {
		e.byte(1)
		e.bytes(n.Body)
		e.str(n.ContentType)
		e.str(n.Accept)
	}

	var sum [sha256.Size]byte
	return hex.EncodeToString(e.sum(sum[:0]))
}

// keyEncoder writes a self-delimiting encoding into a hash: every string is
// length-prefixed and every list is count-prefixed, so that no two
// different requests produce the same byte sequence. Small writes are
// batched in buf.
type keyEncoder struct {
	h   hash.Hash
	buf []byte
}

func (e *keyEncoder) flush() {
	e.h.Write(e.buf)
	e.buf = e.buf[:0]
}

func (e *keyEncoder) sum(b []byte) []byte {
	e.flush()
	return e.h.Sum(b)
}

func (e *keyEncoder) byte(b byte) { e.buf = append(e.buf, b) }

func (e *keyEncoder) uint(n int) { e.buf = binary.AppendUvarint(e.buf, uint64(n)) }

func (e *keyEncoder) str(s string) {
	e.uint(len(s))
	if len(s) > 4096 {
		// Through buf, a chunk at a time: io.WriteString would copy the
		// whole string (sha256 has no WriteString).
		for len(s) > 0 {
			n := min(len(s), 8192)
			e.buf = append(e.buf, s[:n]...)
			e.flush()
			s = s[n:]
		}
		return
	}
	e.buf = append(e.buf, s...)
	if len(e.buf) > 8192 {
		e.flush()
	}
}

// rawStr writes b like str, for short byte strings.
func (e *keyEncoder) rawStr(b []byte) {
	e.uint(len(b))
	e.buf = append(e.buf, b...)
	if len(e.buf) > 8192 {
		e.flush()
	}
}

func (e *keyEncoder) bytes(b []byte) {
	e.uint(len(b))
	e.flush()
	e.h.Write(b)
}

func (e *keyEncoder) optInt(p *int) {
	if p == nil {
		e.byte(0)
		return
	}
	e.byte(1)
	e.buf = binary.AppendVarint(e.buf, int64(*p))
}

func (e *keyEncoder) optFloat(p *float64) {
	if p == nil {
		e.byte(0)
		return
	}
	v := *p
	if v == 0 {
		v = 0 // -0 and +0 ask for the same thing
	}
	e.byte(1)
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(v))
}

func (e *keyEncoder) cachePoint(cp *llm.CachePoint) {
	if cp == nil {
		e.byte(0)
		return
	}
	e.byte(1)
	e.str(cp.TTL)
}

func (e *keyEncoder) image(img *llm.Image) {
	if img == nil {
		e.byte(0)
		return
	}
	e.byte(1)
	e.str(img.Format)
	e.bytes(img.Bytes)
}

func (e *keyEncoder) block(b *llm.Block) {
	e.str(string(b.Type))
	e.str(b.Text)
	e.str(b.Signature)
	e.image(b.Image)
	if d := b.Document; d == nil {
		e.byte(0)
	} else {
		e.byte(1)
		e.str(d.Format)
		e.str(d.Name)
		e.bytes(d.Bytes)
	}
	if tu := b.ToolUse; tu == nil {
		e.byte(0)
	} else {
		e.byte(1)
		e.str(tu.ID)
		e.str(tu.Name)
		e.json(tu.Input)
	}
	if tr := b.ToolResult; tr == nil {
		e.byte(0)
	} else {
		e.byte(1)
		e.str(tr.ToolUseID)
		e.str(tr.Status)
		e.uint(len(tr.Content))
		for _, c := range tr.Content {
			e.str(c.Text)
			e.json(c.JSON)
			e.image(c.Image)
		}
	}
	e.cachePoint(b.CachePoint)
}

// json writes raw in canonical form: objects with their members sorted by
// key, insignificant whitespace dropped, strings unescaped, numbers as
// written. Raw bytes that are not valid JSON are written as they are,
// under a different tag, so they still take part in the key.
func (e *keyEncoder) json(raw json.RawMessage) {
	if len(raw) == 0 {
		e.byte('0')
		return
	}
	if !json.Valid(raw) {
		e.byte('R')
		e.bytes(raw)
		return
	}
	e.byte('J')
	e.jsonValue(raw, 0)
}

// member is an object member: its key and where its value starts.
type member struct {
	key []byte
	val int
}

// jsonValue writes the value of valid JSON b starting at or after i (after
// whitespace) and returns the index just past it. Values are tagged (z, t,
// f, n, s, a, o) so that a sequence of them is unambiguous; an array ends
// with ']', an object is count-prefixed.
func (e *keyEncoder) jsonValue(b []byte, i int) int {
	i = skipSpace(b, i)
	switch c := b[i]; c {
	case '{':
		var buf [16]member
		ms := buf[:0]
		i = skipSpace(b, i+1)
		for b[i] != '}' {
			k, end := jsonString(b, i)
			i = skipSpace(b, skipSpace(b, end)+1) // past ':'
			ms = append(ms, member{k, i})
			i = skipSpace(b, skipValue(b, i))
			if b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
		slices.SortStableFunc(ms, func(x, y member) int { return bytes.Compare(x.key, y.key) })
		ms = lastOfDuplicates(ms)
		e.byte('o')
		e.uint(len(ms))
		for _, m := range ms {
			e.rawStr(m.key)
			e.jsonValue(b, m.val)
		}
		return i + 1
	case '[':
		e.byte('a')
		i = skipSpace(b, i+1)
		for b[i] != ']' {
			i = skipSpace(b, e.jsonValue(b, i))
			if b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
		e.byte(']')
		return i + 1
	case '"':
		s, end := jsonString(b, i)
		e.byte('s')
		e.rawStr(s)
		return end
	case 't':
		e.byte('t')
		return i + 4
	case 'f':
		e.byte('f')
		return i + 5
	case 'n':
		e.byte('z')
		return i + 4
	default:
		end := skipNumber(b, i)
		e.byte('n')
		e.rawStr(b[i:end])
		return end
	}
}

// lastOfDuplicates keeps, of each run of members with the same key in
// sorted ms, only the last one: of duplicate keys the last counts, as in
// encoding/json.
func lastOfDuplicates(ms []member) []member {
	out := ms[:0]
	for i, m := range ms {
		if i+1 < len(ms) && bytes.Equal(ms[i+1].key, m.key) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// skipValue returns the index just past the valid JSON value at i.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			case '"':
				i = skipString(b, i) - 1
			}
		}
	case '"':
		return skipString(b, i)
	case 't', 'n':
		return i + 4
	case 'f':
		return i + 5
	default:
		return skipNumber(b, i)
	}
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++
		}
	}
	return i + 1
}

func skipNumber(b []byte, i int) int {
	for i < len(b) && strings.IndexByte("+-0123456789.eE", b[i]) >= 0 {
		i++
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonString returns the value of the string starting at b[i], unescaped
// and with invalid UTF-8 replaced as encoding/json does, and the index just
// past it.
func jsonString(b []byte, i int) ([]byte, int) {
	end := skipString(b, i)
	raw := b[i+1 : end-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return raw, end
	}
	var s string
	json.Unmarshal(b[i:end], &s) // valid: checked by json.Valid
	return []byte(s), end
}
