package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/batchsim"
	"github.com/penny-gateway/penny/internal/bedrockbatch"
	"github.com/penny-gateway/penny/internal/bedrocktest"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/provider/bedrock"
)

// batchEnv is a Penny with batch inference on, and the parts its jobs run
// on when they are the fakes.
type batchEnv struct {
	cfg  config.Config
	opts Options
	cp   *batchsim.ControlPlane // nil under simulate
	app  *App
}

// newBatchEnv configures Penny for batch tests: simulated, or real
// Bedrock and batch clients against the wire-level fakes (the runtime
// fake answers on-demand calls and, through the control-plane fake, the
// jobs' records). min is batch.min_records.
func newBatchEnv(t *testing.T, fakes bool, min int) *batchEnv {
	t.Helper()
	cfg := simConfig(t, 0)
	cfg.Batch.MinRecords, cfg.Batch.PollInterval, cfg.Batch.PollMax = min, config.Duration(5*time.Millisecond), config.Duration(20*time.Millisecond)
	env := &batchEnv{cfg: cfg, opts: Options{Logger: quiet(), BatchTick: 10 * time.Millisecond}}
	if fakes {
		rt := bedrocktest.New(t)
		s3srv, err := batchsim.NewS3("penny-jobs")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s3srv.Close)
		cp := batchsim.NewControlPlane(batchsim.Options{S3: s3srv.Client(),
			Run: func(_ context.Context, model string, req *llm.Request) (*llm.Response, error) {
				return rt.Echo(model, req)
			}})
		t.Cleanup(cp.Close)
		env.cp = cp
		cfg.Simulate, cfg.Auth = false, "off"
		cfg.Batch.S3URI, cfg.Batch.RoleARN = "s3://penny-jobs/batch/", "arn:aws:iam::111122223333:role/penny-batch"
		env.cfg = cfg
		env.opts.Bedrock = &bedrock.Options{Region: "us-east-1", BaseEndpoint: rt.URL(),
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
		env.opts.BatchJobs = bedrockbatch.New(s3srv.Client(), cp.Client(), "")
	}
	env.start(t)
	return env
}

func (env *batchEnv) start(t *testing.T) {
	t.Helper()
	a := servingWith(t, env.cfg, env.opts)
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	env.app = a
}

func (env *batchEnv) openai(tenant string) openai.Client {
	return openai.NewClient(option.WithBaseURL(env.app.URL()+"/v1"), option.WithAPIKey("x"), option.WithMaxRetries(0),
		option.WithHeader("X-Penny-Tenant", tenant))
}

// records flushes the ledger and returns every record.
func (env *batchEnv) records(t *testing.T) []ledger.Record {
	t.Helper()
	ctx := context.Background()
	if err := env.app.Ledger.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := env.app.Store.Records(ctx, ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func chatLines(n int, model string) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"custom_id":"req-%d","method":"POST","url":"/v1/chat/completions","body":{"model":%q,"messages":[{"role":"user","content":"Moderate post number %d: is it spam?"}],"max_tokens":50}}`+"\n", i, model, i)
	}
	return b.Bytes()
}

// waitBatch polls the batch until it is over.
func waitBatch(t *testing.T, c openai.Client, id string) *openai.Batch {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := c.Batches.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		switch b.Status {
		case openai.BatchStatusCompleted, openai.BatchStatusFailed, openai.BatchStatusCancelled, openai.BatchStatusExpired:
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch still %s: %s", b.Status, b.RawJSON())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// outputLines downloads a file and decodes its lines.
func outputLines(t *testing.T, c openai.Client, id string) []map[string]any {
	t.Helper()
	resp, err := c.Files.Content(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// submit uploads lines and creates a batch with the OpenAI SDK.
func submit(t *testing.T, c openai.Client, lines []byte) *openai.Batch {
	t.Helper()
	ctx := context.Background()
	f, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(bytes.NewReader(lines), "posts.jsonl", "application/jsonl"), Purpose: openai.FilePurposeBatch})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: f.ID, Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions,
		CompletionWindow: openai.BatchNewParamsCompletionWindow24h, Metadata: map[string]string{"job": "moderation"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkBatchRecords checks that the ledger holds each request id once, at
// batch prices (half of on demand for Nova Micro: cost × 2 = baseline).
func checkBatchRecords(t *testing.T, recs []ledger.Record, ids map[string]bool, api string) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range recs {
		if !ids[r.RequestID] {
			continue
		}
		seen[r.RequestID]++
		if r.Mode != "batch" || !strings.Contains(r.Strategy, "batch") || r.API != api || r.Status != ledger.StatusOK ||
			r.Cost <= 0 || d(r.Cost*2, r.BaselineCost) > 1 || !strings.HasPrefix(r.Tags[batch.TagBatch], "job ") {
			t.Errorf("record not billed at batch prices: %+v", r)
		}
	}
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("request %s is in the ledger %d times, want once", id, seen[id])
		}
	}
}

func d(a, b llm.Money) llm.Money {
	if a > b {
		return a - b
	}
	return b - a
}

// TestOpenAIBatchRoundTrip uploads a file, creates a batch, polls it and
// downloads its output with the official OpenAI SDK, simulated and
// against the fakes; every line is in the ledger once, at batch prices.
func TestOpenAIBatchRoundTrip(t *testing.T) {
	for _, fakes := range []bool{false, true} {
		t.Run(map[bool]string{false: "simulate", true: "fakes"}[fakes], func(t *testing.T) {
			env := newBatchEnv(t, fakes, 3)
			c := env.openai("acme")
			b := submit(t, c, chatLines(5, "nova-micro"))
			if b.Status != openai.BatchStatusValidating || b.RequestCounts.Total != 5 {
				t.Errorf("new batch: %s", b.RawJSON())
			}
			b = waitBatch(t, c, b.ID)
			if b.Status != openai.BatchStatusCompleted || b.RequestCounts.Completed != 5 || b.OutputFileID == "" || b.ErrorFileID != "" ||
				b.Metadata["job"] != "moderation" || b.CompletedAt == 0 || b.InProgressAt == 0 || b.FinalizingAt == 0 {
				t.Fatalf("finished batch: %s", b.RawJSON())
			}
			lines := outputLines(t, c, b.OutputFileID)
			ids := map[string]bool{}
			for i, l := range lines {
				resp := l["response"].(map[string]any)
				body := resp["body"].(map[string]any)
				text := body["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
				if l["custom_id"] != fmt.Sprintf("req-%d", i) || resp["status_code"] != 200.0 || text == "" || l["error"] != nil {
					t.Errorf("output line %d: %v", i, l)
				}
				ids[resp["request_id"].(string)] = true
			}
			if len(lines) != 5 || len(ids) != 5 {
				t.Fatalf("%d output lines, %d request ids", len(lines), len(ids))
			}
			checkBatchRecords(t, env.records(t), ids, "batch")
			if fakes && env.cp.Creates() != 1 {
				t.Errorf("%d jobs created, want 1", env.cp.Creates())
			}
			page, err := c.Batches.List(context.Background(), openai.BatchListParams{Limit: openai.Int(10)})
			if err != nil || len(page.Data) != 1 || page.Data[0].ID != b.ID {
				t.Errorf("list: %v %v", page, err)
			}
		})
	}
}

// TestBatchTenantIsolation: another tenant cannot read, list or cancel a
// tenant's files and batches.
func TestBatchTenantIsolation(t *testing.T) {
	env := newBatchEnv(t, false, 100)
	ctx := context.Background()
	owner, other := env.openai("acme"), env.openai("globex")
	b := submit(t, owner, chatLines(2, "nova-micro"))
	if _, err := other.Batches.Get(ctx, b.ID); !isStatus(err, 404) {
		t.Errorf("get another tenant's batch: %v", err)
	}
	if _, err := other.Batches.Cancel(ctx, b.ID); !isStatus(err, 404) {
		t.Errorf("cancel another tenant's batch: %v", err)
	}
	if _, err := other.Files.Get(ctx, b.InputFileID); !isStatus(err, 404) {
		t.Errorf("get another tenant's file: %v", err)
	}
	if _, err := other.Files.Content(ctx, b.InputFileID); !isStatus(err, 404) {
		t.Errorf("read another tenant's file: %v", err)
	}
	if _, err := other.Files.Delete(ctx, b.InputFileID); !isStatus(err, 404) {
		t.Errorf("delete another tenant's file: %v", err)
	}
	page, err := other.Batches.List(ctx, openai.BatchListParams{})
	if err != nil || len(page.Data) != 0 {
		t.Errorf("another tenant lists %v (%v)", page, err)
	}
	if _, err := owner.Batches.Cancel(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if got := waitBatch(t, owner, b.ID); got.Status != openai.BatchStatusCancelled || got.RequestCounts.Failed != 2 {
		t.Errorf("cancelled batch: %s", got.RawJSON())
	}
}

func isStatus(err error, status int) bool {
	var e *openai.Error
	return err != nil && asOpenAI(err, &e) && e.StatusCode == status
}

func asOpenAI(err error, target **openai.Error) bool {
	e, ok := err.(*openai.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestBatchFileValidation: a bad file is refused naming its line, in
// OpenAI's error format.
func TestBatchFileValidation(t *testing.T) {
	env := newBatchEnv(t, false, 100)
	c := env.openai("acme")
	bad := append(chatLines(1, "nova-micro"), []byte(`{"custom_id":"x","method":"POST","url":"/v1/chat/completions","body":{"model":"nova-micro","messages":[],"n":2}}`+"\n")...)
	_, err := c.Files.New(context.Background(), openai.FileNewParams{File: openai.File(bytes.NewReader(bad), "bad.jsonl", "application/jsonl"), Purpose: openai.FilePurposeBatch})
	var e *openai.Error
	if !asOpenAI(err, &e) || e.StatusCode != 400 || !strings.Contains(e.Message, "line 2") {
		t.Fatalf("bad file: %v", err)
	}
}

// deferConverse sends a Converse request with x-penny-defer through the
// AWS SDK and returns the deferred id from the 202.
func deferConverse(t *testing.T, env *batchEnv, text string) string {
	t.Helper()
	client := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(env.app.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), RetryMaxAttempts: 1,
		APIOptions: []func(*middleware.Stack) error{smithyhttp.AddHeaderValue("X-Penny-Defer", "24h")}})
	out, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("us.amazon.nova-micro-v1:0"),
		Messages: []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: text}}}}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
	if raw == nil || raw.StatusCode != http.StatusAccepted || raw.Header.Get("X-Penny-Deferred-Id") == "" {
		t.Fatalf("deferred Converse answer: %+v", raw)
	}
	return raw.Header.Get("X-Penny-Deferred-Id")
}

// pollDeferred polls GET /v1/penny/deferred/{id} until it is not 202.
func pollDeferred(t *testing.T, env *batchEnv, id string) (*http.Response, []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(env.app.URL() + "/v1/penny/deferred/" + id)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return resp, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("deferred request still waiting: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeferredConverse sends a deferred Converse request with the AWS SDK,
// polls it, and gets Bedrock's own Converse answer back, billed at batch
// prices, simulated and against the fakes.
func TestDeferredConverse(t *testing.T) {
	for _, fakes := range []bool{false, true} {
		t.Run(map[bool]string{false: "simulate", true: "fakes"}[fakes], func(t *testing.T) {
			env := newBatchEnv(t, fakes, 1)
			id := deferConverse(t, env, "Summarise this support ticket overnight.")
			resp, body := pollDeferred(t, env, id)
			if resp.StatusCode != 200 || resp.Header.Get("X-Penny-Request-Id") != id || resp.Header.Get("X-Penny-Cost-Usd") == "" {
				t.Fatalf("deferred answer %d %v: %s", resp.StatusCode, resp.Header, body)
			}
			out, err := converse.DecodeResponse(body)
			if err != nil || out.Text() == "" || out.Usage.OutputTokens == 0 {
				t.Fatalf("not a Converse answer (%v): %s", err, body)
			}
			checkBatchRecords(t, env.records(t), map[string]bool{id: true}, "converse")
		})
	}
}
