package batch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Jobs is where batch jobs run: S3 for their files and Bedrock's control
// plane for the jobs (package bedrockbatch, with the AWS SDK). URIs are
// s3://bucket/key.
type Jobs interface {
	// Upload writes size bytes from r to uri.
	Upload(ctx context.Context, uri string, r io.ReadSeeker, size int64) error
	// List returns the URIs of the objects under prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	// Open reads the object at uri.
	Open(ctx context.Context, uri string) (io.ReadCloser, error)
	// Create creates a job (CreateModelInvocationJob) and returns its
	// ARN; the same spec.Token returns the same job.
	Create(ctx context.Context, spec JobSpec) (string, error)
	// Status returns a job's status (GetModelInvocationJob).
	Status(ctx context.Context, arn string) (JobStatus, error)
	// Stop stops a job (StopModelInvocationJob).
	Stop(ctx context.Context, arn string) error
}

// JobSpec is what CreateModelInvocationJob is given.
type JobSpec struct {
	Name, Token, Model, RoleARN, KMSKeyID string
	Shape                                 Shape
	InputURI, OutputURI                   string
	TimeoutHours                          int
}

// JobStatus is what GetModelInvocationJob says.
type JobStatus struct {
	Status  string
	Message string
}

// Bedrock's job statuses.
const (
	JobSubmitted          = "Submitted"
	JobValidating         = "Validating"
	JobScheduled          = "Scheduled"
	JobInProgress         = "InProgress"
	JobCompleted          = "Completed"
	JobPartiallyCompleted = "PartiallyCompleted"
	JobFailed             = "Failed"
	JobStopping           = "Stopping"
	JobStopped            = "Stopped"
	JobExpired            = "Expired"
)

// terminalStatus reports whether Bedrock is done with a job.
func terminalStatus(s string) bool {
	switch s {
	case JobCompleted, JobPartiallyCompleted, JobFailed, JobStopped, JobExpired:
		return true
	}
	return false
}

// plan turns the queue into work: groups that reach the minimum become
// jobs; items no job can take (tools in a Converse request) run on
// demand at once; items that waited MaxWait run by the below-minimum
// policy.
func (e *Engine) plan(ctx context.Context) error {
	groups, err := e.o.Store.Groups(ctx)
	if err != nil {
		return err
	}
	now := e.o.Now()
	var errs []error
	for _, g := range groups {
		switch {
		case g.Shape == "":
			// Each item says why (Defer set its How).
			errs = append(errs, e.runQueued(ctx, g, func(*Item) bool { return true }, onDemandRun{}))
		case g.Count >= e.p.MinRecords || g.Bytes >= e.maxBytes():
			errs = append(errs, e.makeJobs(ctx, g, now))
		case !now.Before(g.Oldest) && e.p.BelowMinimum != BelowWait:
			run := onDemandRun{how: fmt.Sprintf("on_demand (below the minimum of %d records)", e.p.MinRecords)}
			if e.p.BelowMinimum == BelowFlex {
				run = onDemandRun{how: fmt.Sprintf("flex (below the minimum of %d records)", e.p.MinRecords), flex: true}
			}
			errs = append(errs, e.runQueued(ctx, g, func(it *Item) bool { return !now.Before(it.Deadline) }, run))
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) maxBytes() int64 { return min(e.p.MaxFileBytes, e.p.MaxJobBytes) }

// makeJobs cuts a group into jobs of at most MaxRecords records and
// maxBytes bytes. A last part below the minimum waits, unless its oldest
// item is past its deadline and the policy is not to wait... in which
// case plan runs it on the next tick by policy.
func (e *Engine) makeJobs(ctx context.Context, g Group, now time.Time) error {
	var parts [][]string
	var cur []string
	var size int64
	err := e.o.Store.Queued(ctx, g.UpstreamModel, g.Shape, func(it *Item) error {
		n := int64(it.Size) + 1
		if len(cur) > 0 && (len(cur) >= e.p.MaxRecords || size+n > e.maxBytes()) {
			parts = append(parts, cur)
			cur, size = nil, 0
		}
		cur = append(cur, it.ID)
		size += n
		return nil
	})
	if err != nil {
		return err
	}
	if len(cur) >= e.p.MinRecords || (len(parts) == 0 && size >= e.maxBytes()) {
		parts = append(parts, cur)
	}
	for _, ids := range parts {
		j := &Job{ID: newID("job"), UpstreamModel: g.UpstreamModel, Shape: g.Shape, State: JobUploading, Records: len(ids), Created: now}
		j.Name = "penny-" + j.ID[3:]
		base := strings.TrimSuffix(e.p.S3URI, "/") + "/" + j.ID + "/"
		j.InputURI, j.OutputURI = base+"input/records.jsonl", base+"output/"
		if err := e.o.Store.PutJob(ctx, j); err != nil {
			return err
		}
		if err := e.o.Store.Assign(ctx, j.ID, "job "+j.Name, ids); err != nil {
			return err
		}
		if err := e.submit(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// submit writes a job's input file and creates the job. It is safe to
// repeat after a restart: the upload overwrites, and the client token
// makes Bedrock return the job it already made.
func (e *Engine) submit(ctx context.Context, j *Job) error {
	f, err := os.CreateTemp("", "penny-batch-*.jsonl")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var size int64
	records := 0
	err = e.o.Store.ItemsOfJob(ctx, j.ID, func(it *Item) error {
		req, err := decodeRequest(it)
		if err != nil {
			return err
		}
		if j.Model == "" {
			j.Model = req.Model
		}
		line, _, err := recordLine(it.ID, req)
		if err != nil {
			return err
		}
		bw.Write(line)
		bw.WriteByte('\n')
		size += int64(len(line)) + 1
		records++
		return nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("job %s: writing input: %w", j.ID, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := e.o.Jobs.Upload(ctx, j.InputURI, f, size); err != nil {
		return fmt.Errorf("job %s: uploading input: %w", j.ID, err)
	}
	arn, err := e.o.Jobs.Create(ctx, JobSpec{Name: j.Name, Token: j.ID, Model: j.UpstreamModel, RoleARN: e.p.RoleARN,
		KMSKeyID: e.p.KMSKeyID, Shape: j.Shape, InputURI: j.InputURI, OutputURI: j.OutputURI, TimeoutHours: e.p.TimeoutHours})
	if err != nil {
		return fmt.Errorf("job %s: CreateModelInvocationJob: %w", j.ID, err)
	}
	now := e.o.Now()
	j.ARN, j.State, j.Status, j.Records, j.Bytes, j.NextPoll = arn, JobRunning, JobSubmitted, records, size, now.Add(e.p.PollMin)
	e.log.Info("batch job created", "job", j.ID, "arn", arn, "model", j.UpstreamModel, "shape", j.Shape, "records", records, "bytes", size)
	return e.o.Store.PutJob(ctx, j)
}

// poll asks Bedrock about each running job that is due, with backoff
// from PollMin doubling to PollMax, and maps the results of those that
// are over. Jobs a restart left uploading are submitted again.
func (e *Engine) poll(ctx context.Context) error {
	jobs, err := e.o.Store.ActiveJobs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range jobs {
		if err := e.pollJob(ctx, j); err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", j.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) pollJob(ctx context.Context, j *Job) error {
	now := e.o.Now()
	switch j.State {
	case JobUploading:
		return e.submit(ctx, j)
	case JobMapping:
		return e.mapJob(ctx, j)
	}
	if j.State == JobRunning && now.Before(j.NextPoll) {
		return nil
	}
	st, err := e.o.Jobs.Status(ctx, j.ARN)
	if err != nil {
		j.NextPoll = now.Add(e.p.PollMin)
		e.o.Store.PutJob(ctx, j)
		return err
	}
	j.Status, j.Message = st.Status, st.Message
	if !terminalStatus(st.Status) {
		j.Polls++
		wait := e.p.PollMin << min(j.Polls, 16)
		j.NextPoll = now.Add(min(wait, e.p.PollMax))
		return e.o.Store.PutJob(ctx, j)
	}
	e.log.Info("batch job over", "job", j.ID, "status", st.Status, "message", st.Message)
	j.State = JobMapping
	if err := e.o.Store.PutJob(ctx, j); err != nil {
		return err
	}
	return e.mapJob(ctx, j)
}

// stopJobs stops the running jobs all of whose items belong to batchID.
func (e *Engine) stopJobs(ctx context.Context, batchID string) error {
	jobs, err := e.o.Store.ActiveJobs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range jobs {
		if j.State != JobRunning {
			continue
		}
		only := true
		err := e.o.Store.ItemsOfJob(ctx, j.ID, func(it *Item) error {
			only = only && it.BatchID == batchID
			return nil
		})
		if err == nil && only {
			err = e.o.Jobs.Stop(ctx, j.ARN)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
