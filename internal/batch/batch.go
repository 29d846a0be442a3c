// Package batch is Penny's batch inference: work that can wait, run on
// Bedrock batch jobs at half the on-demand price. It holds the domain
// types (uploaded files, OpenAI-style batches, queued items, Bedrock
// jobs), the Store interface its implementations (package sqlite)
// satisfy, and the Engine that groups queued items per model and shape
// into Bedrock batch jobs, polls them, and maps every record back to its
// request.
//
// Every item is one request, identified by its request id, and ends as
// exactly one ledger record: billed at batch prices (mode batch) when a
// job answered it, or at the mode and tier it ran on when the policy ran
// it on demand (Item.How says which).
//
// The queue is durable: items, batches and jobs are in the Store, so a
// restarted Engine resumes uploading, polling and mapping where the last
// one stopped, and loses nothing.
package batch

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// ErrNotFound is returned for a file, batch or item that does not exist
// or belongs to another tenant: the two are indistinguishable to the
// caller, so that one tenant learns nothing of another's ids.
var ErrNotFound = errors.New("not found")

// File is an uploaded file (OpenAI's Files API, purpose "batch"), or an
// output or error file a batch produced (purpose "batch_output").
type File struct {
	ID       string // "file-…"
	Tenant   string
	Purpose  string
	Filename string
	Bytes    int64
	// Lines is the number of requests in an input file.
	Lines   int
	Created time.Time
	// BatchID and Kind ("output" or "error") make an output file: its
	// content is rendered from the batch's items when it is read.
	BatchID string
	Kind    string
}

// Batch statuses, as OpenAI names them.
const (
	StatusValidating = "validating"
	StatusFailed     = "failed"
	StatusInProgress = "in_progress"
	StatusFinalizing = "finalizing"
	StatusCompleted  = "completed"
	StatusExpired    = "expired"
	StatusCancelling = "cancelling"
	StatusCancelled  = "cancelled"
)

// Batch is an OpenAI batch: the requests of one input file, run as items.
type Batch struct {
	ID               string // "batch_…"
	Tenant           string
	KeyID            string
	Tags             map[string]string
	InputFileID      string
	Endpoint         string
	CompletionWindow string
	Metadata         map[string]string
	Status           string
	OutputFileID     string
	ErrorFileID      string
	// Errors are the input file's problems when the batch failed
	// validation.
	Errors []LineError
	Counts Counts
	// Times of each status, zero until reached.
	Created, InProgressAt, FinalizingAt, CompletedAt, FailedAt time.Time
	CancellingAt, CancelledAt, ExpiresAt, ExpiredAt            time.Time
}

// Counts are a batch's request counts.
type Counts struct {
	Total, Completed, Failed int
}

// Terminal reports whether the batch is over.
func (b *Batch) Terminal() bool {
	switch b.Status {
	case StatusCompleted, StatusFailed, StatusExpired, StatusCancelled:
		return true
	}
	return false
}

// LineError is a problem with one line of an input file.
type LineError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
	Line    int    `json:"line,omitempty"`
}

// Shape is the request format of a Bedrock batch job
// (modelInvocationType).
type Shape string

const (
	ShapeConverse Shape = "Converse"
	ShapeInvoke   Shape = "InvokeModel"
)

// ItemState is where an item is.
type ItemState string

const (
	// Queued items wait for a job (or for the below-minimum policy).
	ItemQueued ItemState = "queued"
	// Running items are in a Bedrock job, or being run on demand.
	ItemRunning ItemState = "running"
	// Done items have their answer, and their ledger record.
	ItemDone ItemState = "done"
	// Failed items have an error, and their ledger record.
	ItemFailed ItemState = "failed"
)

// Over reports whether the item has its result.
func (s ItemState) Over() bool { return s == ItemDone || s == ItemFailed }

// Item is one queued request: a deferred request, or one line of a batch.
type Item struct {
	// ID is the request's id: its ledger record's request id.
	ID     string
	Tenant string
	// BatchID, Line and CustomID place a batch's line; empty for a
	// deferred request.
	BatchID  string
	Line     int
	CustomID string
	// API is the frontend format the answer is given in: "openai" or
	// "converse".
	API string
	// Model is the catalog id; UpstreamModel the Bedrock id jobs use.
	Model         string
	UpstreamModel string
	Shape         Shape
	State         ItemState
	JobID         string
	// Size is the bytes of the item's line in a job's input file.
	Size int
	// Created is when it was queued; Deadline when the below-minimum
	// policy applies to it; Expires when the completion window ends.
	Created, Deadline, Expires, Finished time.Time
	// Request is the llm.Request as the chain resolved it, in JSON.
	Request json.RawMessage
	// How says how it ran, e.g. "batch job …", "on_demand (below minimum)".
	How    string
	Result *Result
	// Notify is true while a webhook for the item is owed.
	Notify bool
}

// Result is an item's outcome.
type Result struct {
	// Status is the HTTP status of the answer (200, or the error's).
	Status int `json:"status"`
	// Body is the answer in the item's API format, when Status is 200.
	Body json.RawMessage `json:"body,omitempty"`
	// Kind, Code and Message describe a failure.
	Kind    llm.ErrorKind `json:"kind,omitempty"`
	Code    string        `json:"code,omitempty"`
	Message string        `json:"message,omitempty"`
	// Headers are the x-penny-* headers of the answer.
	Headers map[string]string `json:"headers,omitempty"`
}

// Err returns the result's failure as an *llm.Error, nil on success.
func (r *Result) Err() *llm.Error {
	if r == nil || r.Kind == "" {
		return nil
	}
	return &llm.Error{Kind: r.Kind, Code: r.Code, Message: r.Message}
}

// Job states, Penny's side of a Bedrock job.
const (
	// JobUploading: items assigned, input not yet written or job not yet
	// created (a restart redoes both; CreateModelInvocationJob is
	// idempotent by the job's client token).
	JobUploading = "uploading"
	// JobRunning: created; polled until Bedrock says it is over.
	JobRunning = "running"
	// JobMapping: over; its outputs are being mapped to items.
	JobMapping = "mapping"
	// JobDone: every item of the job has its result.
	JobDone = "done"
)

// Job is one Bedrock batch inference job.
type Job struct {
	ID            string // Penny's, also the client request token
	Name          string
	ARN           string
	Model         string
	UpstreamModel string
	Shape         Shape
	State         string
	// Status is Bedrock's (Submitted … Completed); Message its message.
	Status    string
	Message   string
	InputURI  string
	OutputURI string
	Records   int
	Bytes     int64
	Created   time.Time
	NextPoll  time.Time
	Polls     int
}

// Group is the queued items of one model and shape.
type Group struct {
	UpstreamModel string
	Shape         Shape
	Count         int
	Bytes         int64
	// Oldest is the earliest deadline among them.
	Oldest time.Time
}

// Store keeps files, batches, items and jobs. Reads are scoped to a
// tenant where they take one. Implementations are safe for concurrent
// use.
type Store interface {
	PutFile(ctx context.Context, f *File, content []byte) error
	GetFile(ctx context.Context, tenant, id string) (*File, error)
	FileContent(ctx context.Context, tenant, id string) ([]byte, error)
	DeleteFile(ctx context.Context, tenant, id string) error

	CreateBatch(ctx context.Context, b *Batch) error
	UpdateBatch(ctx context.Context, b *Batch) error
	GetBatch(ctx context.Context, tenant, id string) (*Batch, error)
	// ListBatches returns up to limit of the tenant's batches, newest
	// first, after the batch id after (if set), and whether there are
	// more.
	ListBatches(ctx context.Context, tenant, after string, limit int) ([]*Batch, bool, error)
	// ActiveBatches returns every batch that is not over.
	ActiveBatches(ctx context.Context) ([]*Batch, error)

	// AddItems queues items; an item whose id is already stored is left
	// as it is (so that re-admitting a batch after a restart is safe).
	AddItems(ctx context.Context, items []*Item) error
	// GetItem returns the tenant's item id.
	GetItem(ctx context.Context, tenant, id string) (*Item, error)
	// Item returns item id of any tenant.
	Item(ctx context.Context, id string) (*Item, error)
	// UpdateItems saves the state, job, result, how and notify flag of
	// items, in one transaction.
	UpdateItems(ctx context.Context, items []*Item) error
	// Groups returns the queued items' groups.
	Groups(ctx context.Context) ([]Group, error)
	// Queued calls fn for the queued items of a group, oldest first.
	Queued(ctx context.Context, upstreamModel string, shape Shape, fn func(*Item) error) error
	// Assign marks the queued items among ids running in job jobID (an
	// on-demand run's claim id for those run on demand), with how set
	// (unless it is empty: the items keep theirs).
	Assign(ctx context.Context, jobID, how string, ids []string) error
	// Claims returns the claim ids of running items whose job id starts
	// with prefix.
	Claims(ctx context.Context, prefix string) ([]string, error)
	// ItemsOfJob calls fn for every item of a job.
	ItemsOfJob(ctx context.Context, jobID string, fn func(*Item) error) error
	// ItemsOfBatch calls fn for every item of a batch, by line.
	ItemsOfBatch(ctx context.Context, batchID string, fn func(*Item) error) error
	// BatchCounts counts a batch's items: all, done and failed.
	BatchCounts(ctx context.Context, batchID string) (Counts, error)
	// Expired calls fn for items not over whose completion window ended
	// at or before now.
	Expired(ctx context.Context, now time.Time, fn func(*Item) error) error
	// Notifying calls fn for items whose webhook is owed.
	Notifying(ctx context.Context, fn func(*Item) error) error
	// CancelQueued fails the batch's queued items with result r and
	// returns them.
	CancelQueued(ctx context.Context, batchID string) ([]*Item, error)

	PutJob(ctx context.Context, j *Job) error
	// ActiveJobs returns the jobs that are not done.
	ActiveJobs(ctx context.Context) ([]*Job, error)
}
