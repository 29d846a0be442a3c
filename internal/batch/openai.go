package batch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// EndpointChat is the one endpoint batches may call.
const EndpointChat = "/v1/chat/completions"

// InputLine is one line of a batch input file.
type InputLine struct {
	CustomID string          `json:"custom_id"`
	Method   string          `json:"method"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
}

// Limits bound uploaded files.
type Limits struct {
	// MaxBytes and MaxLines bound one input file (defaults 100 MiB and
	// 50,000 lines, OpenAI's request limit per batch).
	MaxBytes int64
	MaxLines int
}

// DefaultLimits are the defaults of Limits.
var DefaultLimits = Limits{MaxBytes: 100 << 20, MaxLines: 50_000}

// ValidateFile checks a batch input file: JSONL of POST
// /v1/chat/completions requests with unique custom_ids, each body valid
// for the chat decoder and not streamed. It returns the number of lines,
// or the first problems found (at most ten), each naming its line.
func ValidateFile(content []byte, maxLines int) (int, []LineError) {
	var errs []LineError
	seen := map[string]bool{}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64<<10), len(content)+1)
	for sc.Scan() && len(errs) < 10 {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		n++
		fail := func(code, param, format string, args ...any) {
			errs = append(errs, LineError{Code: code, Param: param, Line: n, Message: fmt.Sprintf("line %d: ", n) + fmt.Sprintf(format, args...)})
		}
		if n > maxLines {
			fail("too_many_requests", "", "the file has more than %d requests (the limit per batch)", maxLines)
			break
		}
		var l InputLine
		if err := json.Unmarshal(raw, &l); err != nil {
			fail("invalid_json", "", "not a JSON object: %v", err)
			continue
		}
		switch {
		case l.CustomID == "":
			fail("missing_required_parameter", "custom_id", "custom_id is required")
		case seen[l.CustomID]:
			fail("duplicate_custom_id", "custom_id", "custom_id %q is used by another request in the file", l.CustomID)
		case l.Method != "POST":
			fail("invalid_value", "method", "method must be POST, got %q", l.Method)
		case l.URL != EndpointChat:
			fail("invalid_url", "url", "url must be %s, got %q (Penny batches chat completions)", EndpointChat, l.URL)
		case len(l.Body) == 0:
			fail("missing_required_parameter", "body", "body is required")
		default:
			_, opts, err := openaiwire.DecodeRequest(l.Body)
			if err != nil {
				e := asError(err)
				param := "body"
				if e.Param != "" {
					param = "body." + e.Param
				}
				fail("invalid_request", param, "%s", e.Message)
			} else if opts.Stream {
				fail("invalid_value", "body.stream", "a batch request cannot stream")
			}
		}
		seen[l.CustomID] = true
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, LineError{Code: "invalid_file", Message: err.Error()})
	}
	if n == 0 && len(errs) == 0 {
		errs = append(errs, LineError{Code: "empty_file", Message: "the file has no requests"})
	}
	return n, errs
}

// lineRequestID is the request id of a batch's line: the same on every
// admission, so that admitting again after a restart adds nothing twice.
func lineRequestID(batchID string, line int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s:%d", batchID, line))
	return hex.EncodeToString(h[:12])
}

// admitBatches turns validating batches into items: each line passes the
// chain with mode batch (routing, templates, budgets…), whose dispatcher
// queues it through Defer. A line the chain refuses is a failed item,
// recorded as any refused request is.
func (e *Engine) admitBatches(ctx context.Context) error {
	if e.chain == nil {
		return nil
	}
	bs, err := e.o.Store.ActiveBatches(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range bs {
		// A batch cancelled while it was validating is admitted all the
		// same, and its items then fail as cancelled: every line has its
		// item and its record.
		if b.Status == StatusValidating || (b.Status == StatusCancelling && b.InProgressAt.IsZero()) {
			errs = append(errs, e.admit(ctx, b))
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) admit(ctx context.Context, b *Batch) error {
	content, err := e.o.Store.FileContent(ctx, b.Tenant, b.InputFileID)
	if errors.Is(err, ErrNotFound) {
		return e.failBatch(ctx, b, LineError{Code: "file_not_found", Message: "the input file " + b.InputFileID + " was deleted before the batch started"})
	}
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64<<10), len(content)+1)
	n := 0
	f := &flusher{e: e}
	for sc.Scan() {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		n++
		id := lineRequestID(b.ID, n)
		if _, err := e.o.Store.Item(ctx, id); err == nil {
			continue // admitted before a restart
		}
		var l InputLine
		json.Unmarshal(raw, &l)
		if err := e.admitLine(ctx, b, n, id, l, f); err != nil {
			return err
		}
	}
	if err := f.flush(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, err := e.o.Store.GetBatch(ctx, b.Tenant, b.ID)
	if err != nil {
		return err
	}
	cur.InProgressAt, cur.Counts.Total = e.o.Now(), n
	switch cur.Status {
	case StatusValidating:
		cur.Status = StatusInProgress
	case StatusCancelling:
		if err := e.o.Store.UpdateBatch(ctx, cur); err != nil {
			return err
		}
		return e.failQueued(ctx, b.ID, errCancelled)
	}
	return e.o.Store.UpdateBatch(ctx, cur)
}

// errCancelled is the error of a cancelled batch's requests that never ran.
var errCancelled = &llm.Error{Kind: llm.KindCanceled, Code: "batch_cancelled", Message: "the batch was cancelled before this request ran"}

func (e *Engine) admitLine(ctx context.Context, b *Batch, line int, id string, l InputLine, f *flusher) error {
	req, _, derr := openaiwire.DecodeRequest(l.Body)
	if req == nil {
		req = &llm.Request{}
	}
	req.Meta = llm.Meta{RequestID: id, Tenant: b.Tenant, KeyID: b.KeyID, API: "openai", Received: b.Created,
		Cache: llm.CacheBypass, Mode: llm.ModeBatch, RequestedModel: req.Model,
		Tags: maps.Clone(b.Tags), Route: req.Meta.Route}
	if req.Meta.Tags == nil {
		req.Meta.Tags = map[string]string{}
	}
	req.Meta.Tags["penny_batch_id"] = b.ID
	err := derr
	if err == nil {
		lctx := context.WithValue(ctx, lineKey{}, lineInfo{batch: b, line: line, customID: l.CustomID})
		_, err = e.chain.Invoke(lctx, req)
	}
	if llm.KindOf(err) == llm.KindDeferred {
		return nil
	}
	if err == nil {
		err = llm.Errorf(llm.KindInternal, "the chain answered a batch line at once instead of queueing it")
	}
	// Refused: a failed item, and the refusal's record.
	x := asError(err)
	status := openaiwire.StatusFor(x.Kind)
	now := e.o.Now()
	it := &Item{ID: id, Tenant: b.Tenant, BatchID: b.ID, Line: line, CustomID: l.CustomID, API: "openai", Model: req.Model,
		State: ItemFailed, Created: now, Deadline: now, Expires: b.ExpiresAt, Finished: now, How: "refused",
		Result: &Result{Status: status, Kind: x.Kind, Code: x.Code, Message: x.Message, Headers: headers(req)}}
	it.Request, _ = json.Marshal(req)
	if err := e.o.Store.AddItems(ctx, []*Item{it}); err != nil {
		return err
	}
	rec := ledger.NewRecord(req, ledger.Outcome{API: "batch", Requested: req.Meta.RequestedModel, Received: b.Created,
		Finished: now, HTTPStatus: status, Err: err})
	return e.o.Recorder.Write(context.WithoutCancel(ctx), rec)
}

// failBatch marks a batch that could not start failed.
func (e *Engine) failBatch(ctx context.Context, b *Batch, le LineError) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	b.Status, b.FailedAt, b.Errors = StatusFailed, e.o.Now(), append(b.Errors, le)
	return e.o.Store.UpdateBatch(ctx, b)
}

// CreateBatch starts a batch of the tenant's input file; the engine
// admits its lines on its next tick.
func (e *Engine) CreateBatch(ctx context.Context, b *Batch) error {
	f, err := e.o.Store.GetFile(ctx, b.Tenant, b.InputFileID)
	if err != nil {
		return err
	}
	if f.Purpose != "batch" {
		return llm.Errorf(llm.KindValidation, "input_file_id %s has purpose %q; upload it with purpose batch", f.ID, f.Purpose)
	}
	now := e.o.Now()
	b.ID, b.Status, b.Created, b.ExpiresAt = newID("batch_"), StatusValidating, now, now.Add(e.p.Window)
	b.Counts = Counts{Total: f.Lines}
	if err := e.o.Store.CreateBatch(ctx, b); err != nil {
		return err
	}
	e.Wake()
	return nil
}

// CancelBatch cancels the tenant's batch: its queued items fail as
// cancelled (and are recorded at no cost); items already in a job are
// answered and billed, unless the job holds only this batch's items,
// which Penny then stops. The batch is cancelled once every item is over.
func (e *Engine) CancelBatch(ctx context.Context, tenant, id string) (*Batch, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := e.o.Store.GetBatch(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if b.Terminal() || b.Status == StatusCancelling {
		return b, nil
	}
	b.Status, b.CancellingAt = StatusCancelling, e.o.Now()
	if err := e.o.Store.UpdateBatch(ctx, b); err != nil {
		return nil, err
	}
	if err := e.failQueued(ctx, b.ID, errCancelled); err != nil {
		return nil, err
	}
	if err := e.stopJobs(ctx, b.ID); err != nil {
		e.log.Warn("batch cancel: stopping its jobs failed; they run to the end", "batch", b.ID, "err", err)
	}
	e.Wake()
	return b, nil
}

// failQueued fails a batch's queued items with rerr, each recorded.
func (e *Engine) failQueued(ctx context.Context, batchID string, rerr *llm.Error) error {
	items, err := e.o.Store.CancelQueued(ctx, batchID)
	if err != nil {
		return err
	}
	f := &flusher{e: e}
	for _, it := range items {
		if err := e.finish(ctx, it, nil, "cancelled", llm.ModeBatch, "", fixed{err: rerr}, true, f); err != nil {
			return err
		}
	}
	return f.flush(ctx)
}

// finishBatches brings counts up to date and finalizes the batches whose
// items are all over: their output and error files are made (their
// content is rendered from the items when read).
func (e *Engine) finishBatches(ctx context.Context) error {
	bs, err := e.o.Store.ActiveBatches(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range bs {
		if b.Status == StatusValidating {
			continue
		}
		errs = append(errs, e.finishBatch(ctx, b.Tenant, b.ID))
	}
	return errors.Join(errs...)
}

func (e *Engine) finishBatch(ctx context.Context, tenant, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.finishBatchLocked(ctx, tenant, id)
}

func (e *Engine) finishBatchLocked(ctx context.Context, tenant, id string) error {
	b, err := e.o.Store.GetBatch(ctx, tenant, id)
	if err != nil || b.Terminal() {
		return err
	}
	c, err := e.o.Store.BatchCounts(ctx, b.ID)
	if err != nil {
		return err
	}
	b.Counts.Completed, b.Counts.Failed = c.Completed, c.Failed
	if c.Completed+c.Failed < b.Counts.Total {
		return e.o.Store.UpdateBatch(ctx, b)
	}
	now := e.o.Now()
	if b.FinalizingAt.IsZero() {
		b.FinalizingAt = now
	}
	for _, kind := range []string{"output", "error"} {
		var cw countWriter
		if err := e.render(ctx, &cw, b.ID, kind); err != nil {
			return err
		}
		if cw.n == 0 {
			continue
		}
		f := &File{ID: newID("file-"), Tenant: b.Tenant, Purpose: "batch_output", Filename: b.ID + "_" + kind + ".jsonl",
			Bytes: cw.n, Created: now, BatchID: b.ID, Kind: kind}
		if err := e.o.Store.PutFile(ctx, f, nil); err != nil {
			return err
		}
		if kind == "output" {
			b.OutputFileID = f.ID
		} else {
			b.ErrorFileID = f.ID
		}
	}
	switch b.Status {
	case StatusCancelling:
		b.Status, b.CancelledAt = StatusCancelled, now
	default:
		b.Status, b.CompletedAt = StatusCompleted, now
	}
	return e.o.Store.UpdateBatch(ctx, b)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// outputLine is one line of a batch's output or error file, as OpenAI
// writes them.
type outputLine struct {
	ID       string        `json:"id"`
	CustomID string        `json:"custom_id"`
	Response *lineResponse `json:"response"`
	Error    *lineError    `json:"error"`
}

type lineError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type lineResponse struct {
	StatusCode int    `json:"status_code"`
	RequestID  string `json:"request_id"`
	Body       any    `json:"body"`
}

// render writes a batch's output (kind "output": answered requests) or
// error file (kind "error": the others), one line per request by line.
func (e *Engine) render(ctx context.Context, w io.Writer, batchID, kind string) error {
	bw := bufio.NewWriter(w)
	err := e.o.Store.ItemsOfBatch(ctx, batchID, func(it *Item) error {
		if !it.State.Over() || (it.State == ItemDone) != (kind == "output") {
			return nil
		}
		l := outputLine{ID: "batch_req_" + it.ID, CustomID: it.CustomID}
		r := it.Result
		switch {
		case it.State == ItemDone:
			l.Response = &lineResponse{StatusCode: r.Status, RequestID: it.ID, Body: r.Body}
		case r.Code == "batch_cancelled" || r.Code == "batch_expired":
			l.Error = &lineError{Code: r.Code, Message: r.Message}
		default:
			_, body := openaiwire.ErrorFor(r.Err())
			l.Response = &lineResponse{StatusCode: r.Status, RequestID: it.ID, Body: body}
		}
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		bw.Write(b)
		return bw.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// WriteFile writes a file's content: an upload as it was, or a batch's
// output or error file, rendered from its items.
func (e *Engine) WriteFile(ctx context.Context, w io.Writer, f *File) error {
	if f.BatchID != "" {
		return e.render(ctx, w, f.BatchID, f.Kind)
	}
	b, err := e.o.Store.FileContent(ctx, f.Tenant, f.ID)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
