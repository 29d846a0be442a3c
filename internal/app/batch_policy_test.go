package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
)

// TestBatchResumesAfterRestart stops Penny while its job runs on the
// fakes, starts it again on the same database, and checks the batch
// completes with every line in the ledger exactly once.
func TestBatchResumesAfterRestart(t *testing.T) {
	env := newBatchEnv(t, true, 3)
	env.cp.Pause(true)
	b := submit(t, env.openai("acme"), chatLines(4, "nova-micro"))
	deadline := time.Now().Add(10 * time.Second)
	for env.cp.Creates() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no job was created")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := env.app.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	env.cp.Pause(false)
	env.start(t)
	c := env.openai("acme")
	got := waitBatch(t, c, b.ID)
	if got.Status != openai.BatchStatusCompleted || got.RequestCounts.Completed != 4 {
		t.Fatalf("batch after restart: %s", got.RawJSON())
	}
	ids := map[string]bool{}
	for _, l := range outputLines(t, c, got.OutputFileID) {
		ids[l["response"].(map[string]any)["request_id"].(string)] = true
	}
	if len(ids) != 4 || env.cp.Creates() != 1 {
		t.Fatalf("%d answered, %d jobs", len(ids), env.cp.Creates())
	}
	checkBatchRecords(t, env.records(t), ids, "batch")
}

// deferChat sends a deferred chat completion and returns its id.
func deferChat(t *testing.T, env *batchEnv, body string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", env.app.URL()+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Penny-Defer", "24h")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st struct{ ID, Status string }
	json.Unmarshal(b, &st)
	if resp.StatusCode != http.StatusAccepted || st.ID == "" || st.ID != resp.Header.Get("X-Penny-Deferred-Id") || st.Status != "queued" {
		t.Fatalf("deferred chat: %d %s", resp.StatusCode, b)
	}
	return st.ID
}

const simpleChat = `{"model":"nova-micro","messages":[{"role":"user","content":"Tag this review."}]}`

func recordOf(t *testing.T, env *batchEnv, id string) ledger.Record {
	t.Helper()
	var found []ledger.Record
	for _, r := range env.records(t) {
		if r.RequestID == id {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("request %s is in the ledger %d times, want once", id, len(found))
	}
	return found[0]
}

// TestBelowMinimumPolicies: work below the minimum waits max_wait, then
// runs on demand or on flex (and says so in its record), or keeps
// waiting.
func TestBelowMinimumPolicies(t *testing.T) {
	for _, policy := range []string{"on_demand", "flex", "wait"} {
		t.Run(policy, func(t *testing.T) {
			cfg := simConfig(t, 0)
			cfg.Batch.BelowMinimum, cfg.Batch.MaxWait = policy, config.Duration(20*time.Millisecond)
			env := &batchEnv{cfg: cfg, opts: Options{Logger: quiet(), BatchTick: 10 * time.Millisecond}}
			env.start(t)
			id := deferChat(t, env, strings.Replace(simpleChat, "nova-micro", "nova-pro", 1)) // Nova Pro has a flex tier
			if policy == "wait" {
				time.Sleep(200 * time.Millisecond)
				resp, err := http.Get(env.app.URL() + "/v1/penny/deferred/" + id)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(b), `"status":"queued"`) {
					t.Errorf("with wait, below the minimum: %d %s", resp.StatusCode, b)
				}
				return
			}
			resp, body := pollDeferred(t, env, id)
			if resp.StatusCode != 200 || !strings.Contains(string(body), "chat.completion") {
				t.Fatalf("answer %d: %s", resp.StatusCode, body)
			}
			r := recordOf(t, env, id)
			if r.Mode != "on_demand" || strings.Contains(r.Strategy, "batch") || !strings.HasPrefix(r.Tags[batch.TagBatch], policy+" (below the minimum of 100") {
				t.Errorf("record: mode %s strategy %q tag %q", r.Mode, r.Strategy, r.Tags[batch.TagBatch])
			}
			if policy == "flex" && r.ServiceTier != "flex" {
				t.Errorf("flex run recorded at tier %q", r.ServiceTier)
			}
		})
	}
}

// TestFailedRecordRetry: a record the job failed is run once on demand,
// or reported in the error file, by policy; either way it is recorded once.
func TestFailedRecordRetry(t *testing.T) {
	for _, policy := range []string{"on_demand", "report"} {
		t.Run(policy, func(t *testing.T) {
			env := newBatchEnv(t, true, 3)
			env.app.Shutdown(context.Background())
			env.cfg.Batch.RetryFailed = policy
			env.start(t)
			var failed atomic.Bool
			env.cp.FailRecords(func(string) bool { return failed.CompareAndSwap(false, true) })
			c := env.openai("acme")
			b := waitBatch(t, c, submit(t, c, chatLines(3, "nova-micro")).ID)
			recs := env.records(t)
			var retried, reported int
			for _, r := range recs {
				switch {
				case strings.HasPrefix(r.Tags[batch.TagBatch], "on_demand (retry after job"):
					retried++
					if r.Mode != "on_demand" || r.Status != ledger.StatusOK {
						t.Errorf("retried record %+v", r)
					}
				case r.Status == ledger.StatusError:
					reported++
					if r.Mode != "batch" || r.Cost != 0 {
						t.Errorf("reported record %+v", r)
					}
				}
			}
			if len(recs) != 3 {
				t.Errorf("%d records, want 3", len(recs))
			}
			switch policy {
			case "on_demand":
				if b.RequestCounts.Completed != 3 || retried != 1 || b.ErrorFileID != "" {
					t.Errorf("retry: %s (retried %d)", b.RawJSON(), retried)
				}
			case "report":
				if b.RequestCounts.Failed != 1 || reported != 1 || b.ErrorFileID == "" {
					t.Fatalf("report: %s (reported %d)", b.RawJSON(), reported)
				}
				lines := outputLines(t, c, b.ErrorFileID)
				if len(lines) != 1 || lines[0]["response"].(map[string]any)["status_code"].(float64) < 500 {
					t.Errorf("error file: %v", lines)
				}
			}
		})
	}
}

// TestDeferredToolsRunOnDemand: Converse batch jobs reject tool
// definitions, so a deferred request with tools runs on demand, and its
// record says why.
func TestDeferredToolsRunOnDemand(t *testing.T) {
	env := newBatchEnv(t, true, 1)
	id := deferChat(t, env, `{"model":"nova-micro","messages":[{"role":"user","content":"Weather in Paris?"}],
		"tools":[{"type":"function","function":{"name":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}`)
	if resp, body := pollDeferred(t, env, id); resp.StatusCode != 200 {
		t.Fatalf("answer %d: %s", resp.StatusCode, body)
	}
	r := recordOf(t, env, id)
	if r.Mode != "on_demand" || !strings.Contains(r.Tags[batch.TagBatch], "reject tool definitions") || env.cp.Creates() != 0 {
		t.Errorf("record %+v, %d jobs", r, env.cp.Creates())
	}
}

// TestDeferredWebhook: with batch.webhook_url, the answer is posted when
// it is done.
func TestDeferredWebhook(t *testing.T) {
	got := make(chan batch.Notification, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n batch.Notification
		json.NewDecoder(r.Body).Decode(&n)
		got <- n
	}))
	defer hook.Close()
	cfg := simConfig(t, 0)
	cfg.Batch.MinRecords, cfg.Batch.WebhookURL, cfg.Batch.PollInterval = 1, hook.URL, config.Duration(5*time.Millisecond)
	env := &batchEnv{cfg: cfg, opts: Options{Logger: quiet(), BatchTick: 10 * time.Millisecond}}
	env.start(t)
	id := deferChat(t, env, simpleChat)
	select {
	case n := <-got:
		if n.ID != id || n.Status != "done" || n.StatusCode != 200 || !strings.Contains(string(n.Response), "chat.completion") {
			t.Errorf("webhook: %+v", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook")
	}
}

// TestDeferredIsPerTenant: another tenant's deferred id is a 404.
func TestDeferredIsPerTenant(t *testing.T) {
	env := newBatchEnv(t, false, 100)
	id := deferChat(t, env, simpleChat)
	req, _ := http.NewRequest("GET", env.app.URL()+"/v1/penny/deferred/"+id, nil)
	req.Header.Set("X-Penny-Tenant", "globex")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("another tenant's deferred request: %d", resp.StatusCode)
	}
}

// TestDeferredNativeInvoke: an InvokeModel body Penny passes through (a
// Llama prompt) is deferred to an InvokeModel-shape job, and answered with
// the model's own body, billed at batch prices; a translated API that
// cannot be deferred is refused, not run on demand.
func TestDeferredNativeInvoke(t *testing.T) {
	env := newBatchEnv(t, false, 1)
	req, _ := http.NewRequest("POST", env.app.URL()+"/model/meta.llama3-1-8b-instruct-v1:0/invoke",
		strings.NewReader(`{"prompt":"Classify this review as positive or negative: great headphones, terrible battery.","max_gen_len":64}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Penny-Defer", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Penny-Deferred-Id")
	if resp.StatusCode != http.StatusAccepted || id == "" {
		t.Fatalf("deferred invoke: %d", resp.StatusCode)
	}
	ans, body := pollDeferred(t, env, id)
	if ans.StatusCode != 200 || !strings.Contains(string(body), `"generation"`) {
		t.Fatalf("answer %d: %s", ans.StatusCode, body)
	}
	r := recordOf(t, env, id)
	if r.Mode != "batch" || r.API != "invoke" || r.InputTokens == 0 || r.OutputTokens == 0 || d(r.Cost*2, r.BaselineCost) > 1 {
		t.Errorf("record %+v", r)
	}

	req, _ = http.NewRequest("POST", env.app.URL()+"/v1/responses", strings.NewReader(`{"model":"nova-micro","input":"hi"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Penny-Defer", "24h")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("deferred Responses request: %d, want 400", resp.StatusCode)
	}
}
