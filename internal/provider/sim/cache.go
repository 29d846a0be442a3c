package sim

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// Prompt-cache TTLs, as Bedrock documents them.
const (
	ttlDefault = 5 * time.Minute
	ttlLong    = time.Hour
	// maxCacheEntries bounds the simulated cache; past it, expired entries
	// are swept and, if that is not enough, arbitrary ones are dropped, as a
	// real cache evicts under pressure.
	maxCacheEntries = 1 << 16
	// sweepEvery is how many writes pass between sweeps of expired entries.
	sweepEvery = 4096
)

// checkpoint is a cache point of a request: the tokens and the hash of the
// prompt before it, and how long Bedrock keeps it.
type checkpoint struct {
	tokens int
	hash   uint64
	ttl    time.Duration
}

type cacheKey struct {
	model  string
	prefix uint64
}

// promptCache models Bedrock's prompt cache: prefixes per model, each alive
// until its TTL passes without a read. It is safe for concurrent use.
type promptCache struct {
	mu      sync.Mutex
	entries map[cacheKey]time.Time // expiry
	writes  int
}

func newPromptCache() *promptCache {
	return &promptCache{entries: map[cacheKey]time.Time{}}
}

// apply looks the checkpoints of one request up at time now and records
// them. The longest prefix still alive is read; the tokens from there to
// the last checkpoint are written, write1h of them up to the last 1-hour
// checkpoint (TTLs do not increase along the prompt, so those come
// first). Every checkpoint's TTL starts anew, as a read refreshes an
// entry on Bedrock too.
func (c *promptCache) apply(model string, cps []checkpoint, now time.Time) (read, write, write1h int) {
	if len(cps) == 0 {
		return 0, 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(cps) - 1; i >= 0; i-- {
		if exp, ok := c.entries[cacheKey{model, cps[i].hash}]; ok && now.Before(exp) {
			read = cps[i].tokens
			break
		}
	}
	write = cps[len(cps)-1].tokens - read
	for _, cp := range cps {
		if cp.ttl == ttlLong && cp.tokens > read {
			write1h = cp.tokens - read
		}
	}
	for _, cp := range cps {
		k := cacheKey{model, cp.hash}
		exp := now.Add(cp.ttl)
		if old, ok := c.entries[k]; ok && old.After(exp) {
			exp = old // a 1-hour entry outlives a 5-minute refresh
		}
		c.entries[k] = exp
		c.writes++
	}
	if c.writes >= sweepEvery || len(c.entries) > maxCacheEntries {
		c.sweep(now)
	}
	return read, write, write1h
}

// sweep drops expired entries, then arbitrary ones while over the bound.
func (c *promptCache) sweep(now time.Time) {
	c.writes = 0
	for k, exp := range c.entries {
		if !now.Before(exp) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) <= maxCacheEntries*3/4 {
			break
		}
		delete(c.entries, k)
	}
}

// len returns the number of entries, expired or not.
func (c *promptCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// checkpoints returns the cache points of r that Bedrock would honour for
// m: those whose prefix reaches the model's minimum. It returns a
// validation error for more cache points than the model allows, as Bedrock
// does, and nothing for a model without prompt caching (whose cache points
// the simulator ignores).
func checkpoints(m *catalog.Model, cps []tokens.Checkpoint, hashes []uint64) ([]checkpoint, error) {
	pc := m.Capabilities.PromptCache
	if pc == nil || len(cps) == 0 {
		return nil, nil
	}
	if pc.MaxCheckpoints > 0 && len(cps) > pc.MaxCheckpoints {
		return nil, validation("A maximum of %d cache points may be provided per request; the request has %d.",
			pc.MaxCheckpoints, len(cps))
	}
	var out []checkpoint
	for i, cp := range cps {
		if cp.Tokens < pc.MinTokens || cp.Tokens == 0 {
			continue
		}
		ttl := ttlDefault
		switch cp.TTL {
		case "", "5m":
		case "1h":
			ttl = ttlLong
		default:
			return nil, validation("cachePoint ttl %q is invalid: use 5m or 1h.", cp.TTL)
		}
		out = append(out, checkpoint{tokens: cp.Tokens, hash: hashes[i], ttl: ttl})
	}
	return out, nil
}

// fnv64 is an FNV-1a hash written to take strings without copying them.
type fnv64 uint64

const (
	fnvOffset fnv64 = 14695981039346656037
	fnvPrime  fnv64 = 1099511628211
)

func (h *fnv64) str(s string) {
	for i := 0; i < len(s); i++ {
		*h ^= fnv64(s[i])
		*h *= fnvPrime
	}
	h.sep()
}

func (h *fnv64) bytes(b []byte) {
	for _, c := range b {
		*h ^= fnv64(c)
		*h *= fnvPrime
	}
	h.sep()
}

// sep ends a field, so that "ab"+"c" and "a"+"bc" hash differently.
func (h *fnv64) sep() {
	*h ^= 0xff
	*h *= fnvPrime
	*h ^= 0x1f
	*h *= fnvPrime
}

// fingerprint hashes r's prompt in the order tokens.CountCheckpoints reads
// it (tools, system, messages). It returns the hash of all of it, with the
// tool choice, and the hash of the prompt before each cache point. Cache
// points themselves change neither, so adding one never changes an answer.
func fingerprint(r *llm.Request) (all uint64, prefixes []uint64) {
	h := fnvOffset
	if r.Tools != nil {
		for _, t := range r.Tools.Tools {
			if t.CachePoint != nil {
				prefixes = append(prefixes, uint64(h))
				continue
			}
			h.str("tool")
			h.str(t.Name)
			h.str(t.Description)
			h.bytes(t.InputSchema)
		}
	}
	for _, b := range r.System {
		if b.CachePoint != nil {
			prefixes = append(prefixes, uint64(h))
			continue
		}
		h.str("system")
		h.str(b.Text)
	}
	for _, m := range r.Messages {
		h.str(string(m.Role))
		for i := range m.Content {
			b := &m.Content[i]
			if b.Type == llm.BlockCachePoint {
				prefixes = append(prefixes, uint64(h))
				continue
			}
			hashBlock(&h, b)
		}
	}
	if r.Tools != nil {
		h.str(string(r.Tools.Choice.Mode))
		h.str(r.Tools.Choice.Name)
	}
	return uint64(h), prefixes
}

func hashBlock(h *fnv64, b *llm.Block) {
	h.str(string(b.Type))
	h.str(b.Text)
	if b.Image != nil {
		h.str(b.Image.Format)
		h.bytes(b.Image.Bytes)
	}
	if b.Document != nil {
		h.str(b.Document.Format)
		h.str(b.Document.Name)
		h.bytes(b.Document.Bytes)
	}
	if b.ToolUse != nil {
		h.str(b.ToolUse.ID)
		h.str(b.ToolUse.Name)
		h.bytes(compactJSON(b.ToolUse.Input))
	}
	if b.ToolResult != nil {
		h.str(b.ToolResult.ToolUseID)
		h.str(b.ToolResult.Status)
		for _, c := range b.ToolResult.Content {
			h.str(c.Text)
			h.bytes(compactJSON(c.JSON))
			if c.Image != nil {
				h.str(c.Image.Format)
				h.bytes(c.Image.Bytes)
			}
		}
	}
	h.str(b.Signature)
}

// compactJSON returns js without insignificant white space, so that a tool
// input echoed back re-indented hashes the same.
func compactJSON(js json.RawMessage) []byte {
	if len(js) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if json.Compact(&buf, js) != nil {
		return js
	}
	return buf.Bytes()
}
