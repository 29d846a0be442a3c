package ledger

import (
	"context"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// Profiler answers the advisor's questions about the ledger with aggregates
// computed in the store, so that a month of traffic is never loaded record
// by record. Implementations are safe for concurrent use.
type Profiler interface {
	// MinuteUsage returns the tokens each route and model used per UTC
	// minute, ordered by route, model and minute; minutes without traffic
	// are absent.
	MinuteUsage(ctx context.Context, q ProfileQuery) ([]MinuteUsage, error)
	// PromptReuse returns the prompt hashes sent at least twice, per
	// tenant, route and model, with the gaps between consecutive uses,
	// ordered by uses descending.
	PromptReuse(ctx context.Context, q ReuseQuery) ([]PromptReuse, error)
	// UsageGroups returns the answered requests grouped by what decides
	// their price and their tolerance of latency (see UsageGroup).
	UsageGroups(ctx context.Context, q GroupQuery) ([]UsageGroup, error)
}

// ProfileQuery selects records for a Profiler. Only answered requests
// (status ok, a model that is not a response-cache hit) are counted.
type ProfileQuery struct {
	// Since is inclusive, Until exclusive; zero does not filter.
	Since, Until time.Time
}

// MinuteUsage is what one route and model used in one UTC minute, on demand
// (batch and provisioned requests do not draw on on-demand capacity).
type MinuteUsage struct {
	Route, Model string
	Minute       time.Time
	Requests     int64
	// PromptTokens are input, cache-read and cache-write tokens together;
	// OutputTokens the answers'.
	PromptTokens, OutputTokens int64
	Cost                       llm.Money
}

// ReuseQuery selects records for PromptReuse.
type ReuseQuery struct {
	ProfileQuery
	// ResponseTTL is the response cache's time to live: RepeatCost counts
	// the repeats that came within it. Zero means five minutes.
	ResponseTTL time.Duration
}

// PromptReuse is one prompt hash sent more than once by one tenant on one
// route and model. Gaps are between consecutive uses, so a prompt sent n
// times has n-1 gaps.
type PromptReuse struct {
	Tenant, Route, Model, PromptHash string
	Uses                             int64
	// MinPromptTokens is the smallest prompt (input, cache read and cache
	// write) among the uses: the most a prompt cache could hold for all
	// of them.
	MinPromptTokens int64
	// PromptTokens, CacheReadTokens and CacheWriteTokens are summed over
	// the uses.
	PromptTokens, CacheReadTokens, CacheWriteTokens int64
	// Gaps by length: at most five minutes (Bedrock's default prompt-cache
	// TTL), more than five and at most sixty (only the 1-hour TTL keeps
	// the prefix), more than sixty.
	GapsWithin5m, Gaps5to60m, GapsOver60m int64
	// Hits were answered by the response cache. Any other use is recorded
	// as a miss, whether the cache's policy admitted it or not (caching
	// off, a temperature other than 0): the ledger does not say which.
	Hits int64
	// RepeatsWithinTTL are the uses after the first that came within
	// ResponseTTL of the previous one and were not hits; RepeatCost is
	// what they cost.
	RepeatsWithinTTL int64
	RepeatCost       llm.Money
	// Cost is what every use cost.
	Cost llm.Money
}

// GroupQuery selects and classifies records for UsageGroups.
type GroupQuery struct {
	ProfileQuery
	// TolerantWords mark traffic that can wait: a record whose tenant or
	// any tag key or value contains one of them (case-insensitively) is
	// Tolerant, e.g. "eval", "offline", "batch", "scheduled".
	TolerantWords []string
	// SlowAfter marks records whose client waited at least this long
	// (Slow); zero means one minute.
	SlowAfter time.Duration
	// LongContext maps a model to its long-context threshold in prompt
	// tokens: records above it are grouped apart (Long), so that a group's
	// summed usage is priced at the rates each of its requests paid.
	LongContext map[string]int
}

// UsageGroup is the answered requests sharing route, model, tenant, API,
// mode and service tier, whether they were tolerant and slow, and whether
// their prompt was above the model's long-context threshold.
type UsageGroup struct {
	Route, Model, Tenant, API, Mode, ServiceTier string
	// Tolerant: the tenant or a tag names work that can wait (see
	// GroupQuery.TolerantWords). Slow: the client waited at least
	// GroupQuery.SlowAfter. Long: above the long-context threshold.
	Tolerant, Slow, Long bool
	Requests             int64
	InputTokens          int64
	OutputTokens         int64
	CacheReadTokens      int64
	CacheWriteTokens     int64
	CacheWrite1hTokens   int64
	Cost, BaselineCost   llm.Money
	// WithMaxTokens counts the requests that set max_tokens;
	// MaxTokensSum sums it over them and OutputOfLimited sums their output
	// tokens; AtLimit counts those whose output reached it; MaxOutput is
	// the largest output of any request in the group.
	WithMaxTokens, MaxTokensSum, OutputOfLimited, AtLimit, MaxOutput int64
}

// Usage returns the group's summed token counts.
func (g UsageGroup) Usage() llm.Usage {
	return llm.Usage{InputTokens: int(g.InputTokens), OutputTokens: int(g.OutputTokens),
		CacheReadTokens: int(g.CacheReadTokens), CacheWriteTokens: int(g.CacheWriteTokens),
		CacheWrite1hTokens: int(g.CacheWrite1hTokens)}
}
