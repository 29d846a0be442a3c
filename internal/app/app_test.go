package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/provider/bedrock"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/route"
	"github.com/penny-gateway/penny/internal/sqlite"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func simConfig(t *testing.T, timeScale float64) config.Config {
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "127.0.0.1:0"
	cfg.Simulate = true
	cfg.Database = "sqlite://" + filepath.Join(t.TempDir(), "penny.db")
	cfg.Simulator.TimeScale = &timeScale
	return cfg
}

// TestShutdownDrainsAndLosesNothing starts slow streamed requests, shuts
// down while they are in flight, and checks every one finished and is in
// the ledger.
func TestShutdownDrainsAndLosesNothing(t *testing.T) {
	cfg := simConfig(t, 0.3)
	a := serving(t, cfg)

	const n = 20
	var wg sync.WaitGroup
	results := make(chan string, n)
	started := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := `{"model":"nova-pro","stream":true,"messages":[{"role":"user","content":"Explain step by step how TLS works, part ` + string(rune('a'+i)) + `"}]}`
			resp, err := http.Post(a.URL()+"/v1/chat/completions", "application/json", strings.NewReader(body))
			started <- struct{}{}
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
				results <- "truncated stream"
				return
			}
			results <- "ok"
		}(i)
	}
	for range n { // every stream is under way: its headers came back
		<-started
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r != "ok" {
			t.Errorf("client saw %s", r)
		}
	}
	store := openStore(t, cfg.Database)
	recs, err := store.Records(context.Background(), ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n {
		t.Fatalf("ledger has %d records, want %d", len(recs), n)
	}
	for _, r := range recs {
		if r.Status != ledger.StatusOK || r.OutputTokens == 0 || r.Cost <= 0 {
			t.Errorf("record %+v", r)
		}
	}
}

func TestMissingCredentialsFailsAtStart(t *testing.T) {
	cfg := config.Defaults()
	cfg.Database = "sqlite://" + filepath.Join(t.TempDir(), "penny.db")
	_, err := New(context.Background(), cfg, Options{Logger: quiet(), Bedrock: &bedrock.Options{
		Region:      "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return aws.Credentials{}, io.ErrUnexpectedEOF }),
	}})
	if err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("err = %v, want a clear credentials error", err)
	}
}

func TestBadConfigIsRefused(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Simulator.Faults.Models = map[string]sim.FaultRates{"gpt-9": {Throttle: 0.5}}
	if _, err := New(context.Background(), cfg, Options{Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "gpt-9") {
		t.Errorf("unknown model in faults: %v", err)
	}
	cfg = simConfig(t, 0)
	cfg.Routes = []config.Route{{Config: route.Config{Name: "r", Baseline: "nova-pro", Tiers: []route.Tier{{Model: "gpt-9"}}}}}
	if _, err := New(context.Background(), cfg, Options{Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "gpt-9") {
		t.Errorf("unknown model in route: %v", err)
	}
}

func TestModelsEndpointAndHealth(t *testing.T) {
	a, err := New(context.Background(), simConfig(t, 0), Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	defer a.Shutdown(context.Background())
	resp, err := http.Get(a.URL() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp, err = http.Get(a.URL() + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Data []struct{ ID string } }
	json.NewDecoder(resp.Body).Decode(&list)
	if len(list.Data) < 10 {
		t.Errorf("models: %+v", list)
	}
}

// TestShutdownCancelsOverdueStreams: a stream that outlives the drain time
// is cancelled, and still recorded, priced on what was sent.
func TestShutdownCancelsOverdueStreams(t *testing.T) {
	cfg := simConfig(t, 5) // five times slower than Bedrock: the stream takes many seconds
	a := serving(t, cfg)
	got := make(chan string, 1)
	go func() {
		body := `{"model":"nova-pro","stream":true,"messages":[{"role":"user","content":"Write a long essay, step by step, on the history of networking."}]}`
		resp, err := http.Post(a.URL()+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	time.Sleep(3 * time.Second) // past the first tokens
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	// The client is told why its stream ended: an SSE error event.
	if body := <-got; !strings.Contains(body, `"error"`) || !strings.Contains(body, "shutting down") {
		t.Errorf("stream cut by shutdown ended without an error event: ...%s", body[max(0, len(body)-300):])
	}
	store := openStore(t, cfg.Database)
	recs, err := store.Records(context.Background(), ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Status != ledger.StatusError || recs[0].InputTokens == 0 || recs[0].Cost <= 0 {
		t.Fatalf("ledger: %+v", recs)
	}
}

// TestExampleConfigServes builds Penny from examples/penny.yaml as shipped
// (on the simulator, with a temporary ledger) and routes a request by it.
func TestExampleConfigServes(t *testing.T) {
	cfg, err := config.Load("../../examples/penny.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Simulate = true
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "127.0.0.1:0"
	cfg.Database = "sqlite://" + filepath.Join(t.TempDir(), "penny.db")
	zero := 0.0
	cfg.Simulator.TimeScale = &zero
	a := serving(t, cfg)
	defer a.Shutdown(context.Background())
	resp, err := http.Post(a.URL()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"support","messages":[{"role":"user","content":"My deploy fails with a timeout error, how do I debug it?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Penny-Model") != "nova-lite" || resp.Header.Get("X-Penny-Route") != "support" {
		t.Errorf("status %d, model %q route %q", resp.StatusCode, resp.Header.Get("X-Penny-Model"), resp.Header.Get("X-Penny-Route"))
	}
	// The request shows in the Prometheus metrics, on the admin listener.
	mresp, err := http.Get(a.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`penny_invocations_total{model="nova-lite",route="support",tenant="default"} 1`, "penny_cost_usd_total", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func openStore(t *testing.T, url string) *sqlite.LedgerStore {
	t.Helper()
	db, err := sqlite.OpenURL(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sqlite.NewLedgerStore(db)
}

// openKeys opens the key store in the database url names. The test closes
// the database when it has made its keys, or leaves it to the cleanup.
func openKeys(t *testing.T, url string) (*sqlite.DB, *sqlite.KeyStore) {
	t.Helper()
	db, err := sqlite.OpenURL(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ks, err := sqlite.NewKeyStore(context.Background(), db, sqlite.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return db, ks
}

// TestShutdownConverseStreamGetsException: a ConverseStream cut by a
// shutdown ends with an exception frame the AWS SDK surfaces as a typed
// error, not a bare close.
func TestShutdownConverseStreamGetsException(t *testing.T) {
	cfg := simConfig(t, 5)
	a := serving(t, cfg)
	sdk := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(a.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), RetryMaxAttempts: 1})
	out, err := sdk.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String("nova-pro"),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
			&types.ContentBlockMemberText{Value: "Write a long essay, step by step, on the history of networking."}}}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range out.GetStream().Events() {
		}
		done <- out.GetStream().Err()
	}()
	time.Sleep(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var su *types.ServiceUnavailableException
	if err := <-done; !errors.As(err, &su) || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("stream error %v, want ServiceUnavailableException saying Penny is shutting down", err)
	}
}
