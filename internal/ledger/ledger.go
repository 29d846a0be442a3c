// Package ledger records what every request through Penny did and cost: one
// Record per request, stored by a Store (package internal/sqlite by default)
// behind a batched asynchronous Writer that never drops a record.
//
// Each Record carries the actual cost and the baseline cost (what the
// request would have cost on its route's baseline model, on demand, with no
// cache), so savings are always derived, never estimated separately.
//
// The package holds domain types only; it imports no database code.
package ledger

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// Record is one request's entry in the ledger.
type Record struct {
	// ID is assigned by the Store when the record is appended.
	ID int64
	// Time is when Penny received the request, in UTC.
	Time      time.Time
	RequestID string
	Tenant    string
	KeyID     string
	Route     string
	// API is the frontend that served the request: "openai", "converse", ...
	API    string
	Stream bool
	// ModelRequested is the model as the client sent it; Model is the
	// catalog id actually used ("" if none, e.g. a validation error or a
	// cache hit that invoked nothing); BaselineModel is the catalog id
	// savings are measured against.
	ModelRequested string
	Model          string
	BaselineModel  string
	// Provider is what answered: "bedrock", "sim", the name of an
	// OpenAI-compatible upstream, or "cache" for a response-cache hit.
	Provider string
	// Mode is the consumption mode the request was priced under:
	// "on_demand", "batch" or "provisioned".
	Mode string
	// Status is StatusOK or StatusError; ErrorKind, HTTPStatus and
	// ErrorMessage describe a failure.
	Status           string
	ErrorKind        string
	HTTPStatus       int
	ErrorMessage     string
	InputTokens      int
	OutputTokens     int
	CacheReadTokens  int
	CacheWriteTokens int
	// CacheWrite1hTokens is the part of CacheWriteTokens written with the
	// 1-hour TTL.
	CacheWrite1hTokens int
	// ServiceTier is the Bedrock service tier the request was served and
	// priced at ("" for the default tier when Bedrock did not say).
	ServiceTier string
	// UpstreamModel is the id the upstream was called with: a base model
	// id, an inference profile (us., global., …) or an ARN.
	UpstreamModel string
	// PriceEstimated is true when Cost stands in for a price the catalog
	// does not publish (e.g. an unpublished flex or batch price).
	PriceEstimated bool
	// Latency is the whole request as Penny saw it; TTFT is the time to the
	// first streamed token (zero when not streamed).
	Latency time.Duration
	TTFT    time.Duration
	// Cost is what the request actually cost; BaselineCost what it would
	// have cost on the baseline model, on demand, without any cache.
	Cost         llm.Money
	BaselineCost llm.Money
	// Cache is the response cache's verdict: "hit", "miss" or "bypass".
	Cache string
	// Strategy lists the cost levers applied, comma-separated, e.g.
	// "routing,prompt_cache"; it may be empty.
	Strategy string
	Tags     map[string]string
	// Attempts lists the upstream calls that failed before the answer when
	// a route fell back to other models: "model kind latency; …".
	Attempts string
	// PromptTokensSaved is the input tokens a route's prompt policy
	// removed (whitespace normalisation).
	PromptTokensSaved int
	// PromptHash identifies the prompt (model asked for, system prompt and
	// last message; see PromptHash), so repeats can be found
	// without storing prompts. Empty when the body could not be decoded.
	PromptHash string
	// MaxTokens is the answer length the request reserved: its max_tokens
	// as sent upstream, after routing and the prompt policy; 0 when it set
	// none.
	MaxTokens int
	// UsageEstimated is true when the upstream never reported usage (a
	// stream cut short by the client or an error) and Penny counted the
	// tokens it sent and received itself.
	UsageEstimated bool
}

// Values of Record.Status.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// Usage returns the record's token counts as an llm.Usage.
func (r *Record) Usage() llm.Usage {
	return llm.Usage{
		InputTokens:      r.InputTokens,
		OutputTokens:     r.OutputTokens,
		CacheReadTokens:  r.CacheReadTokens,
		CacheWriteTokens: r.CacheWriteTokens,

		CacheWrite1hTokens: r.CacheWrite1hTokens,
	}
}

// Savings is BaselineCost - Cost; it is negative when the request cost more
// than its baseline would have.
func (r *Record) Savings() llm.Money { return r.BaselineCost - r.Cost }

// Store keeps records. Implementations are safe for concurrent use.
type Store interface {
	// Append stores records in one transaction: either all of them are
	// stored or none is. On success it sets each record's ID.
	Append(ctx context.Context, records []Record) error
	// Summarize aggregates the records matching q, grouped by q.By, sorted
	// by Cost descending then Key ascending. An unknown q.By is an error
	// that wraps ErrUnknownGrouping and has kind llm.KindValidation.
	Summarize(ctx context.Context, q SummaryQuery) ([]Summary, error)
	// Records returns the records matching q, newest first, with their tags.
	Records(ctx context.Context, q RecordQuery) ([]Record, error)
}

// RecordQuery selects records. Zero fields do not filter.
type RecordQuery struct {
	// Since is inclusive, Until exclusive.
	Since, Until time.Time
	Tenant       string
	RequestID    string
	// Limit caps the number of records returned; 0 means no limit.
	Limit int
}

// SummaryQuery selects and groups records for Summarize. Zero Since, Until
// and Tenant do not filter.
type SummaryQuery struct {
	// Since is inclusive, Until exclusive.
	Since, Until time.Time
	// By is how records are grouped; see ParseGrouping.
	By     string
	Tenant string
}

// Summary aggregates a group of records.
type Summary struct {
	// Key is the group's value, e.g. a model id, a UTC date "2006-01-02" or,
	// for By "tag", "key=value". Records with no value for the dimension
	// group under Key ""; Label shows it as "(none)".
	Key              string
	Requests         int64
	Errors           int64
	CacheHits        int64
	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	Cost             llm.Money
	BaselineCost     llm.Money
	// Savings is BaselineCost - Cost.
	Savings llm.Money
	// AvgLatency is the mean Record.Latency over the group.
	AvgLatency time.Duration
}

// NoneLabel is how a Summary with an empty Key is shown.
const NoneLabel = "(none)"

// Label returns s.Key, or NoneLabel when the key is empty.
func (s Summary) Label() string {
	if s.Key == "" {
		return NoneLabel
	}
	return s.Key
}

// TotalKey is the Key of the summary returned by Total and of the single
// group of By "all".
const TotalKey = "total"

// Total adds up summaries into one with Key TotalKey; AvgLatency is
// weighted by Requests.
//
// Summaries grouped by "tag" count a record once per tag, so their total
// overcounts; use By "all" for an exact total over any records.
func Total(summaries []Summary) Summary {
	t := Summary{Key: TotalKey}
	var latency float64 // sum of latencies; float avoids overflow on huge sums
	for _, s := range summaries {
		t.Requests += s.Requests
		t.Errors += s.Errors
		t.CacheHits += s.CacheHits
		t.InputTokens += s.InputTokens
		t.OutputTokens += s.OutputTokens
		t.CacheReadTokens += s.CacheReadTokens
		t.CacheWriteTokens += s.CacheWriteTokens
		t.Cost += s.Cost
		t.BaselineCost += s.BaselineCost
		latency += float64(s.AvgLatency) * float64(s.Requests)
	}
	t.Savings = t.BaselineCost - t.Cost
	if t.Requests > 0 {
		t.AvgLatency = time.Duration(latency / float64(t.Requests))
	}
	return t
}

// Dimensions a summary can be grouped by; see ParseGrouping.
const (
	ByAll      = "all"
	ByModel    = "model"
	ByRoute    = "route"
	ByTenant   = "tenant"
	ByKeyID    = "key"
	ByDay      = "day"
	ByTag      = "tag"
	ByTagKey   = "tag:" // followed by the tag key, e.g. "tag:team"
	ByAPI      = "api"
	ByStatus   = "status"
	ByProvider = "provider"
	ByMode     = "mode"
	ByTier     = "tier"
	// ByUpstream groups by the id the upstream was called with (a base
	// id, an inference profile, a provisioned-model ARN).
	ByUpstream = "upstream"
	ByCache    = "cache"
	ByStrategy = "strategy"
)

// Groupings are the values ParseGrouping accepts, in the order help texts
// list them; "tag:KEY" stands for ByTagKey followed by a tag key.
var Groupings = []string{ByModel, ByRoute, ByTenant, ByKeyID, ByDay, ByAPI, ByStatus, ByProvider, ByMode, ByTier, ByUpstream,
	ByCache, ByStrategy, ByTag, ByTagKey + "KEY", ByAll}

// ErrUnknownGrouping is wrapped by the error for an unknown SummaryQuery.By.
var ErrUnknownGrouping = errors.New("unknown summary grouping")

// Grouping is a parsed SummaryQuery.By.
type Grouping struct {
	// Dim is one of the By constants; ByTagKey for "tag:KEY".
	Dim string
	// TagKey is KEY for "tag:KEY", otherwise "".
	TagKey string
}

// ParseGrouping parses a SummaryQuery.By:
//
//   - "model", "route", "tenant", "key" (API key id), "api", "status",
//     "provider", "mode", "tier" (service tier, ” read as default),
//     "cache", "strategy": the record's field of that
//     name (strategy is the combination of cost levers that applied, e.g.
//     "routing,prompt_cache");
//   - "day": the UTC date of Record.Time, "2006-01-02";
//   - "tag": "key=value" for each tag, so a record with n tags counts in n
//     groups (and a record without tags in group "");
//   - "tag:KEY": the value of tag KEY, "" for records without it;
//   - "all" or "": one group, Key "total", over every matching record.
//
// Any other value is an error of kind llm.KindValidation wrapping
// ErrUnknownGrouping.
func ParseGrouping(by string) (Grouping, error) {
	switch by {
	case "", ByAll:
		return Grouping{Dim: ByAll}, nil
	case ByModel, ByRoute, ByTenant, ByKeyID, ByDay, ByTag, ByAPI, ByStatus, ByProvider, ByMode, ByTier, ByUpstream, ByCache, ByStrategy:
		return Grouping{Dim: by}, nil
	}
	if len(by) > len(ByTagKey) && by[:len(ByTagKey)] == ByTagKey {
		return Grouping{Dim: ByTagKey, TagKey: by[len(ByTagKey):]}, nil
	}
	return Grouping{}, llm.Errorf(llm.KindValidation, "ledger: %w %q: want one of %s",
		ErrUnknownGrouping, by, strings.Join(Groupings, ", "))
}
