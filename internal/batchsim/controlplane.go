package batchsim

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// Runner answers one record: the model id of the job and the record's
// modelInput decoded (a Native body for InvokeModel jobs).
type Runner func(ctx context.Context, modelID string, req *llm.Request) (*llm.Response, error)

// Options configure a ControlPlane.
type Options struct {
	// S3 is where job inputs are read and outputs written.
	S3 *s3.Client
	// Run answers each record.
	Run Runner
	// MinRecords, if positive, fails jobs with fewer records, as Bedrock
	// does below its per-model minimum.
	MinRecords int
	// Step, if positive, is how long a job stays in each status before
	// the next; zero advances one status per GetModelInvocationJob.
	Step time.Duration
	// Concurrency is how many records run at once (default 8).
	Concurrency int
}

// ControlPlane is a wire-level fake of Bedrock's batch control plane
// (CreateModelInvocationJob, GetModelInvocationJob,
// StopModelInvocationJob, ListModelInvocationJobs). Its methods are safe
// for concurrent use.
type ControlPlane struct {
	o   Options
	srv *server

	mu       sync.Mutex
	jobs     map[string]*job // by ARN
	byToken  map[string]string
	order    []string
	paused   bool
	failWhen func(recordID string) bool
	creates  int
}

type job struct {
	arn, name, model, role, token, shape string
	input, output                        string
	status, message                      string
	submitted, changed                   time.Time
	timeout                              int
	cancel                               context.CancelFunc
	done                                 chan struct{}
	manifest                             batch.Manifest
}

// NewControlPlane starts the fake on a loopback port; Close stops it.
func NewControlPlane(o Options) *ControlPlane {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	c := &ControlPlane{o: o, jobs: map[string]*job{}, byToken: map[string]string{}}
	c.srv = serve(http.HandlerFunc(c.serve))
	return c
}

// URL is the endpoint.
func (c *ControlPlane) URL() string { return c.srv.URL }

// Close stops the server and the jobs running.
func (c *ControlPlane) Close() {
	c.srv.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, j := range c.jobs {
		if j.cancel != nil {
			j.cancel()
		}
	}
}

// Client returns a real Bedrock control-plane client for the fake.
func (c *ControlPlane) Client() *bedrock.Client {
	return bedrock.New(bedrock.Options{Region: Region, BaseEndpoint: aws.String(c.srv.URL), Credentials: Credentials, RetryMaxAttempts: 3,
		HTTPClient: httpClient()})
}

// Pause stops (or, with false, resumes) every job's progress.
func (c *ControlPlane) Pause(on bool) { c.mu.Lock(); c.paused = on; c.mu.Unlock() }

// FailRecords makes the records fail for which fn returns true (nil
// clears it), as a model error does.
func (c *ControlPlane) FailRecords(fn func(recordID string) bool) {
	c.mu.Lock()
	c.failWhen = fn
	c.mu.Unlock()
}

// Creates counts the jobs created (not repeated creates of one token).
func (c *ControlPlane) Creates() int { c.mu.Lock(); defer c.mu.Unlock(); return c.creates }

// Statuses returns each job's status, oldest first.
func (c *ControlPlane) Statuses() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, a := range c.order {
		out = append(out, c.jobs[a].status)
	}
	return out
}

var (
	jobNameRE = regexp.MustCompile(`^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}$`)
	roleRE    = regexp.MustCompile(`^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$`)
	s3URIRE   = regexp.MustCompile(`^s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?$`)
	modelRE   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,999}$`)
	tokenRE   = regexp.MustCompile(`^[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}$`)
)

// createInput is CreateModelInvocationJob's body.
type createInput struct {
	JobName             string `json:"jobName"`
	RoleArn             string `json:"roleArn"`
	ModelID             string `json:"modelId"`
	ClientRequestToken  string `json:"clientRequestToken"`
	ModelInvocationType string `json:"modelInvocationType"`
	InputDataConfig     struct {
		S3InputDataConfig *struct {
			S3Uri         string `json:"s3Uri"`
			S3InputFormat string `json:"s3InputFormat"`
		} `json:"s3InputDataConfig"`
	} `json:"inputDataConfig"`
	OutputDataConfig struct {
		S3OutputDataConfig *struct {
			S3Uri             string `json:"s3Uri"`
			S3EncryptionKeyID string `json:"s3EncryptionKeyId"`
		} `json:"s3OutputDataConfig"`
	} `json:"outputDataConfig"`
	TimeoutDurationInHours *int              `json:"timeoutDurationInHours"`
	Tags                   []json.RawMessage `json:"tags"`
}

func (c *ControlPlane) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case r.Method == http.MethodPost && p == "/model-invocation-job":
		c.create(w, r)
	case r.Method == http.MethodGet && p == "/model-invocation-jobs":
		c.list(w)
	case strings.HasPrefix(p, "/model-invocation-job/"):
		rest := strings.TrimPrefix(p, "/model-invocation-job/")
		id, op, _ := strings.Cut(rest, "/")
		arn, err := url.PathUnescape(id)
		if err != nil {
			fail(w, "ValidationException", "malformed job identifier")
			return
		}
		switch {
		case r.Method == http.MethodGet && op == "":
			c.get(w, arn)
		case r.Method == http.MethodPost && op == "stop":
			c.stop(w, arn)
		default:
			fail(w, "UnknownOperationException", r.Method+" "+p)
		}
	default:
		fail(w, "UnknownOperationException", r.Method+" "+p)
	}
}

func fail(w http.ResponseWriter, typ, msg string) {
	converse.WriteHTTPErrorType(w, newHex(8), typ, msg)
}

func newHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// validate checks a create request as Bedrock does, naming the field.
func (c *ControlPlane) validate(ctx context.Context, in *createInput) string {
	switch {
	case !jobNameRE.MatchString(in.JobName):
		return fmt.Sprintf("1 validation error detected: Value '%s' at 'jobName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", in.JobName, jobNameRE)
	case !roleRE.MatchString(in.RoleArn):
		return fmt.Sprintf("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", in.RoleArn, roleRE)
	case !modelRE.MatchString(in.ModelID):
		return fmt.Sprintf("1 validation error detected: Value '%s' at 'modelId' failed to satisfy constraint", in.ModelID)
	case in.ClientRequestToken != "" && !tokenRE.MatchString(in.ClientRequestToken):
		return "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint"
	case in.ModelInvocationType != "" && in.ModelInvocationType != "InvokeModel" && in.ModelInvocationType != "Converse":
		return fmt.Sprintf("Value '%s' at 'modelInvocationType' failed to satisfy constraint: Member must satisfy enum value set: [InvokeModel, Converse]", in.ModelInvocationType)
	case in.InputDataConfig.S3InputDataConfig == nil || !s3URIRE.MatchString(in.InputDataConfig.S3InputDataConfig.S3Uri):
		return "inputDataConfig.s3InputDataConfig.s3Uri must be an s3:// URI"
	case in.InputDataConfig.S3InputDataConfig.S3InputFormat != "" && in.InputDataConfig.S3InputDataConfig.S3InputFormat != "JSONL":
		return "inputDataConfig.s3InputDataConfig.s3InputFormat must be JSONL"
	case in.OutputDataConfig.S3OutputDataConfig == nil || !s3URIRE.MatchString(in.OutputDataConfig.S3OutputDataConfig.S3Uri):
		return "outputDataConfig.s3OutputDataConfig.s3Uri must be an s3:// URI"
	case in.TimeoutDurationInHours != nil && (*in.TimeoutDurationInHours < 24 || *in.TimeoutDurationInHours > 168):
		return "timeoutDurationInHours must be between 24 and 168"
	}
	bucket, key := splitURI(in.InputDataConfig.S3InputDataConfig.S3Uri)
	if _, err := c.o.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		return fmt.Sprintf("The provided input S3 URI %s does not exist or cannot be read with the role", in.InputDataConfig.S3InputDataConfig.S3Uri)
	}
	ob, _ := splitURI(in.OutputDataConfig.S3OutputDataConfig.S3Uri)
	if _, err := c.o.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &ob}); err != nil {
		return fmt.Sprintf("The provided output S3 bucket %s does not exist or cannot be written with the role", ob)
	}
	return ""
}

func splitURI(u string) (bucket, key string) {
	bucket, key, _ = strings.Cut(strings.TrimPrefix(u, "s3://"), "/")
	return bucket, key
}

func (c *ControlPlane) create(w http.ResponseWriter, r *http.Request) {
	var in createInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, "ValidationException", "malformed request body: "+err.Error())
		return
	}
	c.mu.Lock()
	if arn, ok := c.byToken[in.ClientRequestToken]; ok && in.ClientRequestToken != "" {
		c.mu.Unlock()
		writeJSON(w, map[string]string{"jobArn": arn})
		return
	}
	c.mu.Unlock()
	if msg := c.validate(r.Context(), &in); msg != "" {
		fail(w, "ValidationException", msg)
		return
	}
	now := time.Now()
	shape := in.ModelInvocationType
	if shape == "" {
		shape = "InvokeModel"
	}
	j := &job{arn: "arn:aws:bedrock:" + Region + ":111122223333:model-invocation-job/" + newHex(6), name: in.JobName,
		model: in.ModelID, role: in.RoleArn, token: in.ClientRequestToken, shape: shape,
		input: in.InputDataConfig.S3InputDataConfig.S3Uri, output: in.OutputDataConfig.S3OutputDataConfig.S3Uri,
		status: batch.JobSubmitted, submitted: now, changed: now, timeout: 24}
	if in.TimeoutDurationInHours != nil {
		j.timeout = *in.TimeoutDurationInHours
	}
	c.mu.Lock()
	if arn, ok := c.byToken[in.ClientRequestToken]; ok && in.ClientRequestToken != "" {
		c.mu.Unlock()
		writeJSON(w, map[string]string{"jobArn": arn})
		return
	}
	c.jobs[j.arn] = j
	c.order = append(c.order, j.arn)
	c.creates++
	if j.token != "" {
		c.byToken[j.token] = j.arn
	}
	c.mu.Unlock()
	writeJSON(w, map[string]string{"jobArn": j.arn})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", newHex(8))
	json.NewEncoder(w).Encode(v)
}

// advance moves j along its statuses: one per call (so that each is
// reported once), or per Step.
func (c *ControlPlane) advance(j *job) {
	if c.paused {
		return
	}
	now := time.Now()
	if c.o.Step > 0 && now.Sub(j.changed) < c.o.Step {
		return
	}
	next := ""
	switch j.status {
	case batch.JobSubmitted:
		next = batch.JobValidating
	case batch.JobValidating:
		next = batch.JobScheduled
	case batch.JobScheduled:
		next = batch.JobInProgress
		ctx, cancel := context.WithCancel(context.Background())
		j.cancel, j.done = cancel, make(chan struct{})
		go c.process(ctx, j)
	case batch.JobStopping:
		select {
		case <-j.done:
			next = batch.JobStopped
		default:
		}
	}
	if next != "" {
		j.status, j.changed = next, now
	}
}

func (c *ControlPlane) get(w http.ResponseWriter, arn string) {
	c.mu.Lock()
	j, ok := c.jobs[arn]
	if !ok {
		c.mu.Unlock()
		fail(w, "ResourceNotFoundException", "The specified job "+arn+" could not be found")
		return
	}
	out := c.describe(j)
	c.advance(j) // a job is seen in each status once
	c.mu.Unlock()
	writeJSON(w, out)
}

// describe is GetModelInvocationJob's answer for j; c.mu is held.
func (c *ControlPlane) describe(j *job) map[string]any {
	out := map[string]any{
		"jobArn": j.arn, "jobName": j.name, "modelId": j.model, "roleArn": j.role, "status": j.status,
		"modelInvocationType": j.shape, "submitTime": j.submitted.UTC().Format(time.RFC3339Nano),
		"lastModifiedTime": j.changed.UTC().Format(time.RFC3339Nano), "timeoutDurationInHours": j.timeout,
		"jobExpirationTime": j.submitted.Add(time.Duration(j.timeout) * time.Hour).UTC().Format(time.RFC3339Nano),
		"inputDataConfig":   map[string]any{"s3InputDataConfig": map[string]any{"s3Uri": j.input, "s3InputFormat": "JSONL"}},
		"outputDataConfig":  map[string]any{"s3OutputDataConfig": map[string]any{"s3Uri": j.output}},
		"totalRecordCount":  j.manifest.TotalRecordCount, "processedRecordCount": j.manifest.ProcessedRecordCount,
		"successRecordCount": j.manifest.SuccessRecordCount, "errorRecordCount": j.manifest.ErrorRecordCount,
	}
	if j.token != "" {
		out["clientRequestToken"] = j.token
	}
	if j.message != "" {
		out["message"] = j.message
	}
	return out
}

func (c *ControlPlane) list(w http.ResponseWriter) {
	c.mu.Lock()
	var sums []map[string]any
	for _, a := range c.order {
		sums = append(sums, c.describe(c.jobs[a]))
	}
	c.mu.Unlock()
	writeJSON(w, map[string]any{"invocationJobSummaries": sums})
}

func (c *ControlPlane) stop(w http.ResponseWriter, arn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.jobs[arn]
	if !ok {
		fail(w, "ResourceNotFoundException", "The specified job "+arn+" could not be found")
		return
	}
	switch j.status {
	case batch.JobInProgress:
		j.status, j.changed = batch.JobStopping, time.Now()
		j.cancel()
	case batch.JobSubmitted, batch.JobValidating, batch.JobScheduled:
		j.status, j.changed = batch.JobStopped, time.Now()
	default:
		c.mu.Unlock()
		fail(w, "ValidationException", "The job "+arn+" is "+j.status+" and cannot be stopped")
		c.mu.Lock()
		return
	}
	w.Header().Set("x-amzn-RequestId", newHex(8))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "{}")
}

// end sets the job's final status (unless it was stopped meanwhile).
func (c *ControlPlane) end(j *job, status, message string, m batch.Manifest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j.manifest = m
	if j.status == batch.JobStopping {
		status = batch.JobStopping // advance reports Stopped
	}
	j.status, j.message, j.changed = status, message, time.Now()
	close(j.done)
}

// process runs a job's records and writes its output file and manifest
// under output/<job id>/, as Bedrock does: one line per record,
// modelOutput or error, in no particular order.
func (c *ControlPlane) process(ctx context.Context, j *job) {
	m, err := c.run(ctx, j)
	switch {
	case err != nil:
		c.end(j, batch.JobFailed, err.Error(), m)
	case m.TotalRecordCount == 0:
		c.end(j, batch.JobFailed, "The input file has no records", m)
	case c.o.MinRecords > 0 && m.TotalRecordCount < int64(c.o.MinRecords):
		c.end(j, batch.JobFailed, fmt.Sprintf("The job has %d records, fewer than the minimum of %d for model %s", m.TotalRecordCount, c.o.MinRecords, j.model), m)
	case m.ErrorRecordCount > 0:
		c.end(j, batch.JobPartiallyCompleted, "", m)
	default:
		c.end(j, batch.JobCompleted, "", m)
	}
}

func (c *ControlPlane) run(ctx context.Context, j *job) (batch.Manifest, error) {
	var m batch.Manifest
	bucket, key := splitURI(j.input)
	obj, err := c.o.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return m, fmt.Errorf("reading input: %w", err)
	}
	defer obj.Body.Close()
	tmp, err := os.CreateTemp("", "penny-batchsim-*.jsonl.out")
	if err != nil {
		return m, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	out := bufio.NewWriterSize(tmp, 1<<20)
	var mu sync.Mutex
	sem := make(chan struct{}, c.o.Concurrency)
	var wg sync.WaitGroup
	sc := bufio.NewScanner(obj.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	c.mu.Lock()
	failWhen := c.failWhen
	c.mu.Unlock()
	for sc.Scan() && ctx.Err() == nil {
		line := append([]byte(nil), sc.Bytes()...)
		m.TotalRecordCount++
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			rec, in, outTok := c.record(ctx, j, line, failWhen)
			b, _ := json.Marshal(rec)
			mu.Lock()
			defer mu.Unlock()
			out.Write(b)
			out.WriteByte('\n')
			m.ProcessedRecordCount++
			m.InputTokenCount += int64(in)
			m.OutputTokenCount += int64(outTok)
			if rec.Error != nil {
				m.ErrorRecordCount++
			} else {
				m.SuccessRecordCount++
			}
		}()
	}
	wg.Wait()
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("reading input: %w", err)
	}
	if err := out.Flush(); err != nil {
		return m, err
	}
	ob, prefix := splitURI(j.output)
	dir := path.Join(prefix, j.arn[strings.LastIndexByte(j.arn, '/')+1:])
	size, _ := tmp.Seek(0, io.SeekCurrent)
	tmp.Seek(0, io.SeekStart)
	outKey := path.Join(dir, path.Base(key)+".out")
	bg := context.Background() // what was processed is written even when stopped
	if _, err := c.o.S3.PutObject(bg, &s3.PutObjectInput{Bucket: &ob, Key: &outKey, Body: tmp, ContentLength: aws.Int64(size)}); err != nil {
		return m, fmt.Errorf("writing output: %w", err)
	}
	mb, _ := json.Marshal(m)
	manKey := path.Join(dir, "manifest.json.out")
	if _, err := c.o.S3.PutObject(bg, &s3.PutObjectInput{Bucket: &ob, Key: &manKey, Body: strings.NewReader(string(mb))}); err != nil {
		return m, fmt.Errorf("writing manifest: %w", err)
	}
	return m, nil
}

// record answers one input line.
func (c *ControlPlane) record(ctx context.Context, j *job, line []byte, failWhen func(string) bool) (batch.OutputRecord, int, int) {
	var in batch.InputRecord
	if err := json.Unmarshal(line, &in); err != nil || len(in.ModelInput) == 0 {
		return batch.OutputRecord{RecordID: in.RecordID, Error: recordError(400, "Malformed input record: want {recordId, modelInput}")}, 0, 0
	}
	rec := batch.OutputRecord{RecordID: in.RecordID, ModelInput: in.ModelInput}
	if failWhen != nil && failWhen(in.RecordID) {
		rec.Error = recordError(500, "The model failed to answer this record (injected)")
		return rec, 0, 0
	}
	var req *llm.Request
	if j.shape == "Converse" {
		var probe struct {
			ToolConfig json.RawMessage `json:"toolConfig"`
		}
		json.Unmarshal(in.ModelInput, &probe)
		if len(probe.ToolConfig) > 0 {
			rec.Error = recordError(400, "Tool use is not supported in Converse batch inference jobs")
			return rec, 0, 0
		}
		var err error
		if req, err = converse.DecodeRequest(in.ModelInput); err != nil {
			rec.Error = recordError(400, err.Error())
			return rec, 0, 0
		}
	} else {
		req = &llm.Request{Native: &llm.NativeBody{Body: in.ModelInput, ContentType: "application/json", Accept: "application/json"}}
	}
	req.Model = j.model
	resp, err := c.o.Run(ctx, j.model, req)
	if err != nil {
		status := 500
		if llm.KindOf(err) == llm.KindValidation {
			status = 400
		}
		rec.Error = recordError(status, err.Error())
		return rec, 0, 0
	}
	if resp.Native != nil {
		rec.ModelOutput = resp.Native.Body
	} else if rec.ModelOutput, err = converse.EncodeResponse(resp); err != nil {
		rec.Error = recordError(500, err.Error())
	}
	return rec, resp.Usage.TotalInput(), resp.Usage.OutputTokens
}

func recordError(code int, msg string) *batch.RecordError {
	return &batch.RecordError{ErrorCode: json.RawMessage(fmt.Sprint(code)), ErrorMessage: msg}
}
