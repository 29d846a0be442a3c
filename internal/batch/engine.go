package batch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
)

// Below-minimum policies (Policy.BelowMinimum) and retry policies
// (Policy.RetryFailed).
const (
	BelowWait     = "wait"
	BelowFlex     = "flex"
	BelowOnDemand = "on_demand"
	RetryOnDemand = "on_demand"
	RetryReport   = "report"
)

// Policy is how the engine makes jobs. The zero value of a field means
// its default (DefaultPolicy).
type Policy struct {
	// S3URI is where job inputs and outputs go: s3://bucket/prefix/.
	S3URI string
	// RoleARN is the IAM service role Bedrock assumes to read and write it.
	RoleARN string
	// KMSKeyID, if set, encrypts the outputs.
	KMSKeyID string
	// MinRecords and MaxRecords bound the records of one job (Bedrock's
	// per-model quotas: about 100 and 50,000).
	MinRecords, MaxRecords int
	// MaxFileBytes and MaxJobBytes bound a job's input (1 GB per file,
	// 5 GB per job); Penny writes one file per job.
	MaxFileBytes, MaxJobBytes int64
	// MaxWait is how long an item waits for a group to reach MinRecords
	// before BelowMinimum applies.
	MaxWait time.Duration
	// BelowMinimum is what happens then: BelowWait (keep waiting, until
	// the completion window ends), BelowFlex (run on demand on the flex
	// tier) or BelowOnDemand (run on demand).
	BelowMinimum string
	// RetryFailed is what happens to a record a job failed: RetryOnDemand
	// (run it once on demand) or RetryReport (report the error).
	RetryFailed string
	// PollMin and PollMax bound the backoff between polls of a job.
	PollMin, PollMax time.Duration
	// Window is the completion window (24h): what is not over then expires.
	Window time.Duration
	// TimeoutHours is the jobs' timeoutDurationInHours (24 to 168).
	TimeoutHours int
	// WebhookURL, if set, receives every deferred request's answer.
	WebhookURL string
}

// DefaultPolicy has the defaults of every Policy field (from Bedrock's
// published quotas: 100 to 50,000 records, 1 GB per file, 5 GB per job).
var DefaultPolicy = Policy{
	MinRecords: 100, MaxRecords: 50_000, MaxFileBytes: 1 << 30, MaxJobBytes: 5 << 30,
	MaxWait: time.Hour, BelowMinimum: BelowOnDemand, RetryFailed: RetryOnDemand,
	PollMin: 30 * time.Second, PollMax: 10 * time.Minute, Window: 24 * time.Hour, TimeoutHours: 24,
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&p.MinRecords, d.MinRecords)
	set(&p.MaxRecords, d.MaxRecords)
	set(&p.TimeoutHours, d.TimeoutHours)
	if p.MaxFileBytes <= 0 {
		p.MaxFileBytes = d.MaxFileBytes
	}
	if p.MaxJobBytes <= 0 {
		p.MaxJobBytes = d.MaxJobBytes
	}
	for _, x := range []struct{ v, def *time.Duration }{{&p.MaxWait, &d.MaxWait}, {&p.PollMin, &d.PollMin}, {&p.PollMax, &d.PollMax}, {&p.Window, &d.Window}} {
		if *x.v <= 0 {
			*x.v = *x.def
		}
	}
	if p.BelowMinimum == "" {
		p.BelowMinimum = d.BelowMinimum
	}
	if p.RetryFailed == "" {
		p.RetryFailed = d.RetryFailed
	}
	return p
}

// Recorder takes ledger records; *ledger.Writer is one.
type Recorder interface {
	Write(ctx context.Context, r ledger.Record) error
}

// Options configure an Engine.
type Options struct {
	Store Store
	Jobs  Jobs
	// Recorder takes each item's ledger record.
	Recorder Recorder
	// Account is the account stage: a job's answers are priced by it,
	// at batch prices, as every other request is.
	Account llm.Stage
	// OnDemand runs an item on demand (the dispatcher; the engine prices
	// the answer through Account): for the below-minimum policy,
	// failed-record retries and requests a batch job cannot take.
	OnDemand llm.Invoker
	// Catalog says which models Bedrock runs batch jobs for and which
	// offer the flex tier; a model it does not know is taken to have
	// batch and no flex.
	Catalog *catalog.Catalog
	// InLedger reports whether the ledger holds a request id; it keeps a
	// job resumed after a restart from recording an item twice.
	InLedger func(ctx context.Context, requestID string) (bool, error)
	Policy   Policy
	// Provider names who runs the jobs in the records: "bedrock", or
	// "sim" under --simulate.
	Provider string
	// Tick is how often the engine looks at its queue (default 1s).
	Tick   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// HTTPClient posts webhooks (default a client with a 10 s timeout).
	HTTPClient *http.Client
}

// Engine runs queued items on Bedrock batch jobs. Defer and the Batch
// API methods are safe for concurrent use; Run runs one loop.
type Engine struct {
	o     Options
	p     Policy
	log   *slog.Logger
	chain llm.Invoker
	wake  chan struct{}
	// started is when the engine was made: jobs older than that were
	// resumed from the store.
	started time.Time
	// mu serialises changes of a batch's status between the loop and
	// the API (cancel).
	mu sync.Mutex
}

// New returns an engine; Start gives it the chain that admits batch lines.
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.Jobs == nil || o.Recorder == nil || o.Account == nil || o.OnDemand == nil {
		return nil, errors.New("batch: Store, Jobs, Recorder, Account and OnDemand are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Provider == "" {
		o.Provider = "bedrock"
	}
	return &Engine{o: o, p: o.Policy.withDefaults(), log: o.Logger, wake: make(chan struct{}, 1), started: o.Now()}, nil
}

// Policy returns the engine's policy, defaults filled in.
func (e *Engine) Policy() Policy { return e.p }

// Run admits, plans, polls and finishes until ctx ends, then returns.
// chain is the whole chain of stages: a batch line passes it as every
// request does, and the dispatcher at its end hands it back to Defer.
func (e *Engine) Run(ctx context.Context, chain llm.Invoker) {
	e.chain = chain
	t := time.NewTicker(e.o.Tick)
	defer t.Stop()
	for {
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("batch engine: retrying at the next tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.wake:
		}
	}
}

// Wake makes Run look at the queue now rather than at its next tick.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Tick runs each step of the loop once: admit new batches, expire what
// is past its window, make jobs (or run items by policy), poll jobs and
// map their results, finish batches, send webhooks. Steps that fail are
// retried at the next tick; what they did is saved as they go.
func (e *Engine) Tick(ctx context.Context) error {
	return errors.Join(e.admitBatches(ctx), e.expire(ctx), e.resumeClaims(ctx), e.plan(ctx), e.poll(ctx), e.finishBatches(ctx), e.notify(ctx))
}

// lineKey is the context key of the batch line being admitted.
type lineKey struct{}

type lineInfo struct {
	batch    *Batch
	line     int
	customID string
}

// Defer queues req, which the chain has resolved (req.Model is the
// catalog id, Meta.UpstreamModel the Bedrock id), and returns an error
// of kind llm.KindDeferred saying so; any other error refuses it. The
// dispatcher calls it for requests of mode batch.
func (e *Engine) Defer(ctx context.Context, req *llm.Request) error {
	switch {
	case req.Meta.Stream:
		return llm.Errorf(llm.KindValidation, "a deferred request cannot stream; send it without stream")
	case req.Embed != nil:
		return llm.Errorf(llm.KindUnsupported, "embeddings cannot be deferred; send them on demand")
	}
	now := e.o.Now()
	it := &Item{ID: req.Meta.RequestID, Tenant: req.Meta.Tenant, API: req.Meta.API, Model: req.Model,
		UpstreamModel: req.Meta.UpstreamModel, State: ItemQueued, Created: now,
		Deadline: now.Add(e.p.MaxWait), Expires: now.Add(e.p.Window), Notify: e.p.WebhookURL != ""}
	if li, ok := ctx.Value(lineKey{}).(lineInfo); ok {
		it.BatchID, it.Line, it.CustomID, it.API, it.Notify = li.batch.ID, li.line, li.customID, "openai", false
		it.Expires = li.batch.ExpiresAt
	}
	line, shape, err := recordLine(it.ID, req)
	if err != nil {
		return err
	}
	it.Shape, it.Size = shape, len(line)
	switch caps := e.capabilities(req.Model); {
	case !caps.Batch:
		it.Shape, it.How = "", fmt.Sprintf("on_demand (Bedrock has no batch inference for %s)", req.Model)
	case shape == "":
		it.How = "on_demand (Converse batch jobs reject tool definitions)"
	}
	if it.Request, err = json.Marshal(req); err != nil {
		return llm.Errorf(llm.KindInternal, "queueing request: %w", err)
	}
	if err := e.o.Store.AddItems(ctx, []*Item{it}); err != nil {
		return llm.Errorf(llm.KindUnavailable, "queueing request: %w", err)
	}
	e.Wake()
	return &llm.Error{Kind: llm.KindDeferred, Message: "queued for batch inference as " + it.ID}
}

// capabilities returns what the catalog says model can do.
func (e *Engine) capabilities(model string) catalog.Capabilities {
	if e.o.Catalog != nil {
		if t, err := e.o.Catalog.Resolve(model); err == nil && t.Model != nil {
			return t.Model.Capabilities
		}
	}
	return catalog.Capabilities{Batch: true}
}

// newID returns prefix followed by 24 random hex digits.
func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// decodeRequest returns an item's stored request.
func decodeRequest(it *Item) (*llm.Request, error) {
	var req llm.Request
	if err := json.Unmarshal(it.Request, &req); err != nil {
		return nil, fmt.Errorf("item %s: stored request: %w", it.ID, err)
	}
	return &req, nil
}

// flusher saves items in transactions of up to 256.
type flusher struct {
	e     *Engine
	items []*Item
}

func (f *flusher) add(ctx context.Context, it *Item) error {
	f.items = append(f.items, it)
	if len(f.items) >= 256 {
		return f.flush(ctx)
	}
	return nil
}

func (f *flusher) flush(ctx context.Context) error {
	if len(f.items) == 0 {
		return nil
	}
	err := f.e.o.Store.UpdateItems(ctx, f.items)
	f.items = f.items[:0]
	return err
}
