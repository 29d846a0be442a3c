package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/gateway"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/logtest"
	"github.com/penny-gateway/penny/internal/sqlite/sqlitetest"
)

// A fault makes the database file unwritable, for real, and undoes it.
type fault struct {
	name string
	// root says the fault needs root (chattr).
	root  bool
	apply func(t *testing.T, db string)
	undo  func(t *testing.T, db string)
}

var faults = []fault{
	{
		// SQLite keeps writing to the open file, wherever it is now: Penny
		// notices the path no longer names it (sqlite.ErrFileGone).
		name: "file replaced by a directory",
		apply: func(t *testing.T, db string) {
			must(t, os.Rename(db, db+".away"))
			must(t, os.Mkdir(db, 0o755))
		},
		undo: func(t *testing.T, db string) {
			must(t, os.Remove(db))
			must(t, os.Rename(db+".away", db))
		},
	},
	{
		// Read-only for real, root included: the immutable attribute on
		// the file and its write-ahead log (chmod does not stop root, and
		// open files are written through their descriptors anyway).
		name: "file made immutable", root: true,
		apply: func(t *testing.T, db string) { chattr(t, "+i", db, db+"-wal") },
		undo:  func(t *testing.T, db string) { chattr(t, "-i", db, db+"-wal") },
	},
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func chattr(t *testing.T, flag string, files ...string) {
	t.Helper()
	if out, err := exec.Command("chattr", append([]string{flag}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s: %v: %s", flag, err, out)
	}
}

// canChattr reports whether chattr +i works here (root on a file system
// that has the attribute).
func canChattr(t *testing.T) bool {
	f := filepath.Join(t.TempDir(), "probe")
	if os.WriteFile(f, nil, 0o600) != nil || exec.Command("chattr", "+i", f).Run() != nil {
		return false
	}
	exec.Command("chattr", "-i", f).Run()
	return true
}

// ledgerConfig is a simulated Penny with its ledger in a fresh directory.
func ledgerConfig(t *testing.T) (config.Config, string) {
	cfg := simConfig(t, 0)
	db := filepath.Join(t.TempDir(), "penny.db")
	cfg.Database = "sqlite://" + db
	cfg.Ledger.FlushInterval = config.Duration(5 * time.Millisecond)
	return cfg, db
}

// servingLogged is serving, logging to a buffer the test reads.
func servingLogged(t *testing.T, cfg config.Config) (*App, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	a, err := New(context.Background(), cfg, Options{Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	must(t, a.Listen())
	go a.Serve()
	return a, logs
}

const ledgerChat = `{"model":"nova-micro","messages":[{"role":"user","content":"Where is my order?"}]}`

// chatID sends a chat request and returns its status and request id.
func chatID(t *testing.T, a *App) (int, string, []byte) {
	t.Helper()
	resp, body := post(t, a, ledgerChat, nil)
	return resp.StatusCode, resp.Header.Get(gateway.HeaderRequestID), body
}

func postPath(t *testing.T, a *App, path, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(a.URL()+path, "application/json", strings.NewReader(body))
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func getReady(t *testing.T, a *App) (int, string) {
	t.Helper()
	resp, err := http.Get(a.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Status, Reason string }
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v.Reason
}

func metric(t *testing.T, a *App, name string) string {
	t.Helper()
	resp, err := http.Get(a.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stored counts each request id in the ledger.
func stored(t *testing.T, a *App) map[string]int {
	t.Helper()
	recs, err := a.Store.Records(context.Background(), ledger.RecordQuery{})
	must(t, err)
	n := map[string]int{}
	for _, r := range recs {
		n[r.RequestID]++
	}
	return n
}

// TestLedgerFailureIsLoud breaks the database file under a serving Penny:
// requests keep being answered (ledger.on_failure: spool), their records
// go to the spool, /readyz says why it is not ready, /metrics and the log
// say so; once the file is back, the spool is replayed and every request
// is in the ledger exactly once.
func TestLedgerFailureIsLoud(t *testing.T) {
	root := canChattr(t)
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			if f.root && !root {
				t.Skip("chattr +i needs root on a file system with the immutable attribute")
			}
			cfg, db := ledgerConfig(t)
			a, logs := servingLogged(t, cfg)
			defer a.Shutdown(context.Background())
			var ids []string
			serve := func(n int) {
				for range n {
					code, id, body := chatID(t, a)
					if code != http.StatusOK {
						t.Fatalf("status %d with on_failure spool: %s", code, body)
					}
					ids = append(ids, id)
				}
			}
			serve(3)
			must(t, a.Ledger.Flush(context.Background()))
			if code, _ := getReady(t, a); code != http.StatusOK {
				t.Fatalf("/readyz = %d on a healthy ledger", code)
			}

			f.apply(t, db)
			healed := false
			defer func() {
				if !healed {
					f.undo(t, db)
				}
			}()
			serve(20)
			waitFor(t, "/readyz to say not ready", func() bool { code, _ := getReady(t, a); return code == http.StatusServiceUnavailable })
			waitFor(t, "the records to be spooled", func() bool { return a.Ledger.Stats().Queued == 0 })
			_, reason := getReady(t, a)
			if !strings.Contains(reason, "spool") {
				t.Errorf("/readyz reason %q, want it to say where the records are kept", reason)
			}
			if got := metric(t, a, "penny_ledger_healthy"); got != "0" {
				t.Errorf("penny_ledger_healthy = %q while the file is broken, want 0", got)
			}
			if got := metric(t, a, "penny_ledger_records_spooled_total"); got == "" || got == "0" {
				t.Errorf("penny_ledger_records_spooled_total = %q, want the records spooled", got)
			}
			if !strings.Contains(logs.String(), "the database is not taking records") {
				t.Errorf("nothing logged about the failure:\n%s", logs)
			}

			f.undo(t, db)
			healed = true
			serve(2)
			waitFor(t, "the spool to be replayed", func() bool {
				code, _ := getReady(t, a)
				return code == http.StatusOK && a.Ledger.Stats().InSpool == 0
			})
			must(t, a.Ledger.Flush(context.Background()))
			got := stored(t, a)
			for _, id := range ids {
				if got[id] != 1 {
					t.Errorf("request %s is in the ledger %d times, want once", id, got[id])
				}
			}
			if got := metric(t, a, "penny_ledger_records_failed_total"); got != "0" {
				t.Errorf("penny_ledger_records_failed_total = %q, want 0", got)
			}
		})
	}
}

// TestLedgerGoneSpoolsAndRestartReplays removes the database's directory
// (the spool is configured elsewhere): nothing is written to the nameless
// file in silence, shutdown says the records are in the spool, not
// written, and the next start replays them into a new database.
func TestLedgerGoneSpoolsAndRestartReplays(t *testing.T) {
	cfg, db := ledgerConfig(t)
	cfg.Ledger.SpoolPath = filepath.Join(t.TempDir(), "penny.spool")
	a := serving(t, cfg)
	_, first, _ := chatID(t, a)
	must(t, a.Ledger.Flush(context.Background()))
	must(t, os.RemoveAll(filepath.Dir(db)))
	var ids []string
	for range 10 {
		code, id, body := chatID(t, a)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		ids = append(ids, id)
	}
	waitFor(t, "/readyz to say not ready", func() bool { code, _ := getReady(t, a); return code == http.StatusServiceUnavailable })
	if err := a.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown = %v; no record was lost", err)
	}
	sum := a.LedgerSummary()
	if !strings.HasPrefix(sum, "1 ledger records written, 10 kept in the spool") || strings.Contains(sum, "LOST") {
		t.Errorf("LedgerSummary = %q, want 1 written (before the directory went) and 10 in the spool", sum)
	}

	must(t, os.MkdirAll(filepath.Dir(db), 0o755))
	b := startApp(t, cfg)
	must(t, b.Ledger.Flush(context.Background()))
	got := stored(t, b)
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("request %s is in the new ledger %d times, want once", id, got[id])
		}
	}
	if got[first] != 0 || len(got) != len(ids) {
		t.Errorf("the new ledger holds %d records, want the %d spooled", len(got), len(ids))
	}
}

// TestLedgerRefuse: with ledger.on_failure: refuse, a Penny whose database
// fails refuses new requests in each API's own format (OpenAI and Bedrock
// 503, Anthropic 529), and serves again once it is back.
func TestLedgerRefuse(t *testing.T) {
	cfg, db := ledgerConfig(t)
	cfg.Ledger.OnFailure = config.LedgerRefuse
	a := startApp(t, cfg)
	f := faults[0]
	f.apply(t, db)
	// The first request is served (it was admitted); its record fails
	// and is spooled, and the ledger is then known to fail.
	chatID(t, a)
	waitFor(t, "the ledger to refuse", func() bool { code, _ := getReady(t, a); return code == http.StatusServiceUnavailable })

	resp, body := post(t, a, ledgerChat, nil)
	var oe struct {
		Error struct{ Type, Code, Message string }
	}
	json.Unmarshal(body, &oe)
	if resp.StatusCode != http.StatusServiceUnavailable || oe.Error.Code != "ledger_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("OpenAI: %d %s, Retry-After %q; want 503 ledger_unavailable with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	sdk := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(a.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), RetryMaxAttempts: 1})
	_, err := sdk.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("nova-micro"),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
			&types.ContentBlockMemberText{Value: "Where is my order?"}}}}})
	var su *types.ServiceUnavailableException
	if !errors.As(err, &su) || !strings.Contains(err.Error(), "ledger") {
		t.Errorf("Converse: %v, want a ServiceUnavailableException about the ledger", err)
	}

	resp, body = postPath(t, a, "/v1/messages", `{"model":"nova-micro","max_tokens":50,"messages":[{"role":"user","content":"Hi"}]}`)
	if resp.StatusCode != 529 || !strings.Contains(string(body), "overloaded_error") {
		t.Errorf("Anthropic: %d %s, want 529 overloaded_error", resp.StatusCode, body)
	}

	f.undo(t, db)
	waitFor(t, "Penny to serve again", func() bool { code, _, _ := chatID(t, a); return code == http.StatusOK })
	if code, _ := getReady(t, a); code != http.StatusOK {
		t.Errorf("/readyz = %d once the database is back", code)
	}
}

// TestLedgerStallIsBounded holds the database's write lock from another
// connection, as another process can, while requests keep coming: with
// ledger.max_wait 200ms no request waits for the lock, in either
// durability mode, and every request is in the ledger once it is
// released. (`scripts/faults/run.sh stall` runs the 40 s, 500 req/s version.)
func TestLedgerStallIsBounded(t *testing.T) {
	for _, durability := range []string{config.LedgerFast, config.LedgerStrict} {
		t.Run(durability, func(t *testing.T) {
			cfg, db := ledgerConfig(t)
			cfg.Ledger.Durability = durability
			cfg.Ledger.MaxWait = config.Duration(200 * time.Millisecond)
			a := startApp(t, cfg)
			chatID(t, a) // warm up
			lock := sqlitetest.HoldWriteLock(t, db)
			var (
				mu   sync.Mutex
				lat  []time.Duration
				ids  []string
				wg   sync.WaitGroup
				tick = time.NewTicker(10 * time.Millisecond) // 100 req/s
			)
			for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
				wg.Go(func() {
					start := time.Now()
					code, id, body := chatID(t, a)
					d := time.Since(start)
					if code != http.StatusOK {
						t.Errorf("status %d while the database is locked: %s", code, body)
						return
					}
					mu.Lock()
					lat, ids = append(lat, d), append(ids, id)
					mu.Unlock()
				})
			}
			tick.Stop()
			wg.Wait()
			lock.Rollback()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			p99 := lat[len(lat)*99/100]
			t.Logf("%d requests with the database locked: p50 %s, p99 %s, max %s", len(lat), lat[len(lat)/2], p99, lat[len(lat)-1])
			if p99 > 500*time.Millisecond {
				t.Errorf("p99 %s with the database locked; want it bounded by ledger.max_wait (200ms)", p99)
			}
			waitFor(t, "the ledger to recover", func() bool { return a.Ledger.Health().OK && a.Ledger.Stats().InSpool == 0 })
			must(t, a.Ledger.Flush(context.Background()))
			got := stored(t, a)
			for _, id := range ids {
				if got[id] != 1 {
					t.Errorf("request %s is in the ledger %d times, want once", id, got[id])
				}
			}
		})
	}
}

// TestStrictRecordBeforeTheEnd: with ledger.durability: strict, a
// request's record is committed by the time its client has the end of the
// answer: the body of a complete answer, a stream's last event. The
// ledger is read at that moment, without a Flush.
func TestStrictRecordBeforeTheEnd(t *testing.T) {
	cfg, _ := ledgerConfig(t)
	cfg.Ledger.Durability = config.LedgerStrict
	cfg.Ledger.FlushInterval = config.Duration(time.Hour) // strict does not wait for it
	a := startApp(t, cfg)
	inLedger := func(id string) bool {
		recs, err := a.Store.Records(context.Background(), ledger.RecordQuery{RequestID: id})
		return err == nil && len(recs) == 1
	}
	for _, tt := range []struct {
		name, path, body string
		// end reads the answer up to its end as the API defines it.
		end func(r *bufio.Reader) error
	}{
		{"openai", "/v1/chat/completions", ledgerChat, readAll},
		{"openai stream", "/v1/chat/completions",
			`{"model":"nova-micro","stream":true,"messages":[{"role":"user","content":"Where is my order?"}]}`, untilLine("data: [DONE]")},
		{"anthropic stream", "/v1/messages",
			`{"model":"nova-micro","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Where is my order?"}]}`,
			untilLine("event: message_stop")},
		{"responses stream", "/v1/responses", `{"model":"nova-micro","stream":true,"input":"Where is my order?"}`,
			untilLine("event: response.completed")},
		{"converse", "/model/nova-micro/converse", `{"messages":[{"role":"user","content":[{"text":"Where is my order?"}]}]}`, readAll},
		{"converse stream", "/model/nova-micro/converse-stream", `{"messages":[{"role":"user","content":[{"text":"Where is my order?"}]}]}`,
			untilBytes("metadata")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", a.URL()+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("anthropic-version", "2023-06-01")
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			must(t, tt.end(bufio.NewReader(resp.Body)))
			id := resp.Header.Get(gateway.HeaderRequestID)
			if !inLedger(id) {
				t.Errorf("the client has the end of the answer and request %s is not in the ledger", id)
			}
		})
	}
}

func readAll(r *bufio.Reader) error { _, err := io.ReadAll(r); return err }

func untilLine(line string) func(*bufio.Reader) error {
	return func(r *bufio.Reader) error {
		for {
			l, err := r.ReadString('\n')
			if strings.TrimSpace(l) == line {
				return nil
			}
			if err != nil {
				return fmt.Errorf("stream ended before %q: %w", line, err)
			}
		}
	}
}

// untilBytes reads until b has been seen (the event-stream frame of the
// metadata event, the last, names it in its :event-type header).
func untilBytes(b string) func(*bufio.Reader) error {
	return func(r *bufio.Reader) error {
		var seen []byte
		buf := make([]byte, 512)
		for {
			n, err := r.Read(buf)
			seen = append(seen, buf[:n]...)
			if bytes.Contains(seen, []byte(b)) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("stream ended before %q: %w", b, err)
			}
		}
	}
}
