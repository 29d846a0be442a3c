package batch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"

	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// TagBatch is the ledger tag that says how an item ran: "job NAME" on a
// Bedrock batch job, or the policy that ran it on demand.
const TagBatch = "penny_batch"

// mapJob reads a finished job's output files and gives every item of the
// job its result: the job's answer, billed at batch prices, or its error
// (retried once on demand, or reported, by policy). Items the outputs do
// not mention failed with the job. Each item is saved as it is recorded,
// so a restart in the middle maps only what is left.
func (e *Engine) mapJob(ctx context.Context, j *Job) error {
	uris, err := e.o.Jobs.List(ctx, j.OutputURI)
	if err != nil {
		return err
	}
	f := &flusher{e: e}
	for _, u := range uris {
		if !strings.HasSuffix(u, ".jsonl.out") {
			continue
		}
		if err := e.mapFile(ctx, j, u, f); err != nil {
			return err
		}
	}
	if err := f.flush(ctx); err != nil {
		return err
	}
	// What the job did not answer failed with it.
	var left []*Item
	err = e.o.Store.ItemsOfJob(ctx, j.ID, func(it *Item) error {
		if !it.State.Over() {
			left = append(left, it)
		}
		return nil
	})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("batch job %s ended %s without an answer for this record", j.Name, j.Status)
	if j.Message != "" {
		msg += ": " + j.Message
	}
	for _, it := range left {
		rerr := &llm.Error{Kind: llm.KindUnavailable, Code: "batch_job_" + strings.ToLower(j.Status), Message: msg}
		if err := e.failed(ctx, j, it, rerr, f); err != nil {
			return err
		}
	}
	if err := f.flush(ctx); err != nil {
		return err
	}
	j.State = JobDone
	return e.o.Store.PutJob(ctx, j)
}

// mapFile maps one *.jsonl.out file, line by line.
func (e *Engine) mapFile(ctx context.Context, j *Job, uri string, f *flusher) error {
	rc, err := e.o.Jobs.Open(ctx, uri)
	if err != nil {
		return err
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		var rec OutputRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.RecordID == "" {
			e.log.Warn("batch job output: skipping a line that is not a record", "job", j.ID, "uri", uri)
			continue
		}
		it, err := e.o.Store.Item(ctx, rec.RecordID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if it.JobID != j.ID || it.State.Over() {
			continue
		}
		if rec.Error != nil || rec.ModelOutput == nil {
			rerr := &llm.Error{Kind: converse.KindOfStatus(500), Code: "batch_record_error", Message: "batch record failed"}
			if x := rec.Error; x != nil {
				rerr = &llm.Error{Kind: converse.KindOfStatus(x.Status()), Code: x.Code(), Message: x.ErrorMessage}
			}
			if err := e.failed(ctx, j, it, rerr, f); err != nil {
				return err
			}
			continue
		}
		resp, derr := decodeOutput(j.Shape, rec.ModelOutput)
		if err := e.finish(ctx, it, nil, "job "+j.Name, llm.ModeBatch, "", fixed{resp, derr}, e.resumed(j), f); err != nil {
			return err
		}
	}
	return sc.Err()
}

// failed handles a record a job did not answer: retried once on demand
// or reported, by policy.
func (e *Engine) failed(ctx context.Context, j *Job, it *Item, rerr *llm.Error, f *flusher) error {
	if e.p.RetryFailed == RetryOnDemand && !strings.HasPrefix(rerr.Code, "batch_job_stopped") {
		how := fmt.Sprintf("on_demand (retry after job %s: %s)", j.Name, rerr.Message)
		return e.runOnDemand(ctx, it, onDemandRun{how: how}, e.resumed(j), f)
	}
	return e.finish(ctx, it, nil, "job "+j.Name, llm.ModeBatch, "", fixed{err: rerr}, e.resumed(j), f)
}

// fixed is an Invoker that answers with a result obtained elsewhere (a
// job's output), so the account stage prices it like any answer.
type fixed struct {
	resp *llm.Response
	err  error
}

func (x fixed) Invoke(context.Context, *llm.Request) (*llm.Response, error) { return x.resp, x.err }
func (x fixed) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, llm.Errorf(llm.KindInternal, "batch results do not stream")
}

// finish prices an item's answer (or failure) through the account stage
// over inv, writes its one ledger record, and saves the item. mode is
// the mode the answer was served in; how says how, for the record's
// penny_batch tag and the item. With check, an item the ledger already
// holds (recorded before a restart) is saved without a second record.
func (e *Engine) finish(ctx context.Context, it *Item, req *llm.Request, how string, mode llm.Mode, tier llm.ServiceTier, inv llm.Invoker, check bool, f *flusher) error {
	if req == nil {
		var err error
		if req, err = decodeRequest(it); err != nil {
			return err
		}
	}
	req.Meta.Mode = mode
	req.ServiceTier = tier
	req.Meta.Tags = maps.Clone(req.Meta.Tags)
	if req.Meta.Tags == nil {
		req.Meta.Tags = map[string]string{}
	}
	req.Meta.Tags[TagBatch] = how
	if mode == llm.ModeBatch {
		req.Meta.Provider = e.o.Provider
	}
	resp, err := e.o.Account(inv).Invoke(ctx, req)
	status := http.StatusOK
	if err != nil {
		status = openaiwire.StatusFor(llm.KindOf(err))
	}
	it.Result = &Result{Status: status, Headers: headers(req)}
	if err != nil {
		e := asError(err)
		it.Result.Kind, it.Result.Code, it.Result.Message = e.Kind, e.Code, e.Message
		it.State = ItemFailed
	} else if it.Result.Body, err = encodeAnswer(it, req, resp); err != nil {
		it.Result = &Result{Status: 500, Kind: llm.KindInternal, Message: err.Error(), Headers: it.Result.Headers}
		it.State = ItemFailed
	} else {
		it.State = ItemDone
	}
	it.How, it.Finished = how, e.o.Now()
	api := it.API
	if it.BatchID != "" {
		api = "batch"
	}
	var recErr error
	if it.State == ItemFailed {
		recErr = it.Result.Err()
	}
	seen := false
	if check && e.o.InLedger != nil {
		seen, _ = e.o.InLedger(ctx, it.ID)
	}
	if !seen {
		rec := ledger.NewRecord(req, ledger.Outcome{API: api, Requested: req.Meta.RequestedModel, Received: req.Meta.Received,
			Finished: it.Finished, HTTPStatus: status, Err: recErr})
		if err := e.o.Recorder.Write(context.WithoutCancel(ctx), rec); err != nil {
			return fmt.Errorf("item %s: ledger: %w", it.ID, err)
		}
	}
	return f.add(ctx, it)
}

func asError(err error) *llm.Error {
	var e *llm.Error
	if errors.As(err, &e) {
		return e
	}
	return &llm.Error{Kind: llm.KindOf(err), Message: err.Error()}
}

// headers are the x-penny-* headers an item's answer is given with.
func headers(req *llm.Request) map[string]string {
	m := req.Meta
	return map[string]string{
		"X-Penny-Request-Id": m.RequestID, "X-Penny-Model": req.Model, "X-Penny-Route": m.Route,
		"X-Penny-Cache": string(m.Cache), "X-Penny-Provider": ledger.Provider(m),
		"X-Penny-Cost-Usd": m.Bill.Cost.Exact(), "X-Penny-Baseline-Cost-Usd": m.Bill.Baseline.Exact(),
	}
}

// encodeAnswer writes the answer in the item's API format.
func encodeAnswer(it *Item, req *llm.Request, resp *llm.Response) (json.RawMessage, error) {
	switch {
	case resp.Native != nil:
		return resp.Native.Body, nil
	case it.API == "converse":
		return converse.EncodeResponse(resp)
	}
	return json.Marshal(openaiwire.EncodeResponse(resp, "chatcmpl-"+req.Meta.RequestID, req.Model, req.Meta.Received.Unix()))
}

// onDemandRun says how an item is run on demand.
type onDemandRun struct {
	how  string
	flex bool
}

// runQueued runs the queued items of g that pick selects on demand,
// eight at a time.
func (e *Engine) runQueued(ctx context.Context, g Group, pick func(*Item) bool, run onDemandRun) error {
	var ids []string
	err := e.o.Store.Queued(ctx, g.UpstreamModel, g.Shape, func(it *Item) error {
		if pick(it) {
			ids = append(ids, it.ID)
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return err
	}
	// Claimed under a job id of their own, so that a restart finds them
	// running and runs them again (recorded once: see finish).
	claim := newID(claimPrefix)
	if err := e.o.Store.Assign(ctx, claim, run.how, ids); err != nil {
		return err
	}
	return e.runClaimed(ctx, claim, run, false)
}

// claimPrefix starts the claim ids of on-demand runs.
const claimPrefix = "ondemand"

// resumeClaims runs again the on-demand runs a restart interrupted:
// their items are running under a claim no run of this process holds
// (runs finish within the tick that starts them). The ledger is checked,
// so that an item recorded before the restart is not recorded twice.
func (e *Engine) resumeClaims(ctx context.Context) error {
	claims, err := e.o.Store.Claims(ctx, claimPrefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range claims {
		errs = append(errs, e.runClaimed(ctx, c, onDemandRun{}, true))
	}
	return errors.Join(errs...)
}

// resumed reports whether a job was made before this engine started:
// mapping it checks the ledger before recording an item.
func (e *Engine) resumed(j *Job) bool { return j.Created.Before(e.started) }

// runClaimed runs the items claimed for an on-demand run.
func (e *Engine) runClaimed(ctx context.Context, claim string, run onDemandRun, check bool) error {
	f := &flusher{e: e}
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	err := e.o.Store.ItemsOfJob(ctx, claim, func(it *Item) error {
		if it.State.Over() {
			return nil
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			one := &flusher{e: e}
			r := run
			if r.how == "" {
				r = onDemandRun{how: it.How, flex: strings.HasPrefix(it.How, "flex")}
			}
			err := e.runOnDemand(ctx, it, r, check, one)
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
			for _, x := range one.items {
				errs = append(errs, f.add(ctx, x))
			}
		}()
		return nil
	})
	wg.Wait()
	return errors.Join(err, errors.Join(errs...), f.flush(ctx))
}

// runOnDemand runs one item on demand (the flex tier if asked), priced
// and recorded as such.
func (e *Engine) runOnDemand(ctx context.Context, it *Item, run onDemandRun, check bool, f *flusher) error {
	req, err := decodeRequest(it)
	if err != nil {
		return err
	}
	tier := llm.ServiceTier("")
	if run.flex && e.capabilities(req.Model).OffersTier(llm.TierFlex) {
		tier = llm.TierFlex
	} else if run.flex {
		run.how = "on_demand" + strings.TrimPrefix(run.how, "flex") + "; " + req.Model + " has no flex tier"
	}
	req.ServiceTier = tier
	req.Meta.Mode = llm.ModeOnDemand
	resp, rerr := e.o.OnDemand.Invoke(ctx, req)
	// finish prices the answer through the account stage, as served.
	return e.finish(ctx, it, req, run.how, llm.ModeOnDemand, tier, fixed{resp, rerr}, check, f)
}
