// Command faults measures what Penny's ledger keeps under faults, against a
// real `penny serve --simulate` (time_scale 0) in its own process:
//
//	go run ./scripts/faults kill9   -penny ./penny -durability fast -runs 5
//	go run ./scripts/faults stall   -penny ./penny -hold 40s
//	go run ./scripts/faults latency -penny ./penny -durability strict
//
// kill9 drives paced load (half OpenAI chat completions, half streams, every
// prompt different), logs the request id of every answer received complete
// (a 200 body read to its end, a stream read to data: [DONE]), kills Penny
// with SIGKILL at a random moment, restarts it on the same database (it
// replays its spool, if any), stops it, and counts the served requests
// missing from the ledger. stall holds the database's write lock from
// another connection while the load runs and reports the latency during the
// lock, then checks every served request is in the ledger once. latency
// runs the load alone (paced, then closed-loop for throughput).
//
// Every run is bounded by its flags; scripts/faults/run.sh runs the
// figures docs/reliability.md quotes.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/sqlite"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: faults kill9|stall|latency [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	o := opts{}
	fs.StringVar(&o.penny, "penny", "./penny", "the penny binary")
	fs.StringVar(&o.durability, "durability", "fast", "ledger.durability: fast or strict (\"\" sets no ledger keys, for a Penny from before them)")
	fs.DurationVar(&o.maxWait, "max-wait", 0, "ledger.max_wait (0: Penny's default)")
	fs.Float64Var(&o.rate, "rate", 500, "requests per second")
	fs.IntVar(&o.runs, "runs", 5, "kill9: runs")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "kill9: longest run before the kill (the kill comes between half of it and all of it); latency: each measurement")
	fs.DurationVar(&o.hold, "hold", 40*time.Second, "stall: how long the write lock is held")
	fs.IntVar(&o.concurrency, "concurrency", 64, "latency: closed-loop workers for throughput")
	fs.StringVar(&o.dir, "dir", "", "working directory (default: a temporary one, removed)")
	fs.Parse(os.Args[2:])
	if o.dir == "" {
		d, err := os.MkdirTemp("", "penny-faults-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	var err error
	switch os.Args[1] {
	case "kill9":
		err = kill9(o)
	case "stall":
		err = stall(o)
	case "latency":
		err = latency(o)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "faults:", err)
	os.Exit(1)
}

type opts struct {
	penny, durability, dir string
	rate                   float64
	runs, concurrency      int
	duration, hold         time.Duration
	maxWait                time.Duration
}

// kill9 runs o.runs kill -9 cycles and reports served-but-missing records.
func kill9(o opts) error {
	var served, missing int
	for run := 1; run <= o.runs; run++ {
		dir := filepath.Join(o.dir, fmt.Sprint("run", run))
		p, err := startPenny(o, dir)
		if err != nil {
			return err
		}
		l := newLoad(p.url, o.rate, filepath.Join(dir, "served.txt"))
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.run(ctx); close(done) }()
		after := o.duration/2 + rand.N(o.duration/2)
		time.Sleep(after)
		p.kill()
		time.Sleep(300 * time.Millisecond) // the load notices: nothing more is served
		stop()
		<-done
		ids := l.servedIDs()
		p, err = startPenny(o, dir) // replays the spool, if any
		if err != nil {
			return err
		}
		if err := p.stop(); err != nil {
			return err
		}
		stored, err := storedIDs(filepath.Join(dir, "penny.db"))
		if err != nil {
			return err
		}
		lost := 0
		for _, id := range ids {
			if !stored[id] {
				lost++
			}
		}
		served += len(ids)
		missing += lost
		fmt.Printf("run %d (%s): killed after %s; %d served, %d missing from the ledger (%.1f per 1,000); p50 %s p99 %s\n",
			run, o.durability, after.Round(time.Millisecond), len(ids), lost, perMille(lost, len(ids)), l.quantile(0.5), l.quantile(0.99))
	}
	fmt.Printf("%s: %d runs, %d served, %d missing: %.2f per 1,000\n", o.durability, o.runs, served, missing, perMille(missing, served))
	return nil
}

func perMille(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 1000 * float64(n) / float64(of)
}

// stall holds the write lock for o.hold while the load runs.
func stall(o opts) error {
	p, err := startPenny(o, o.dir)
	if err != nil {
		return err
	}
	l := newLoad(p.url, o.rate, filepath.Join(o.dir, "served.txt"))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	time.Sleep(2 * time.Second)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(o.dir, "penny.db")+"?_txlock=immediate&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	l.mark("locked")
	fmt.Printf("write lock held for %s at %.0f req/s (ledger.durability %s)…\n", o.hold, o.rate, o.durability)
	time.Sleep(o.hold)
	tx.Rollback()
	l.mark("released")
	time.Sleep(3 * time.Second)
	stop()
	<-done
	during := l.between("locked", "released")
	fmt.Printf("during the lock: %s\n", during)
	fmt.Printf("whole run:       %s\n", l.summary(l.latencies()))
	if err := p.waitReady(30 * time.Second); err != nil {
		return err
	}
	if err := p.stop(); err != nil {
		return err
	}
	stored, err := storedCounts(filepath.Join(o.dir, "penny.db"))
	if err != nil {
		return err
	}
	ids := l.servedIDs()
	missing, twice := 0, 0
	for _, id := range ids {
		switch stored[id] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	fmt.Printf("ledger: %d served, %d missing, %d stored more than once\n", len(ids), missing, twice)
	return nil
}

// latency measures paced latency, then closed-loop throughput.
func latency(o opts) error {
	p, err := startPenny(o, o.dir)
	if err != nil {
		return err
	}
	defer p.stop()
	l := newLoad(p.url, o.rate, "")
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	l.run(ctx)
	cancel()
	fmt.Printf("%s, paced at %.0f req/s: %s\n", o.durability, o.rate, l.summary(l.latencies()))
	c := newLoad(p.url, 0, "")
	c.workers = o.concurrency
	ctx, cancel = context.WithTimeout(context.Background(), o.duration)
	start := time.Now()
	c.run(ctx)
	cancel()
	lat := c.latencies()
	fmt.Printf("%s, closed loop (%d workers): %.0f answers/s; %s\n", o.durability, o.concurrency,
		float64(len(lat))/time.Since(start).Seconds(), c.summary(lat))
	return nil
}

// penny is a running `penny serve`.
type penny struct {
	cmd *exec.Cmd
	url string
	log *os.File
}

func startPenny(o opts, dir string) (*penny, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "penny.yaml")
	body := `simulate: true
auth: "off"
database: sqlite://penny.db
simulator: {time_scale: 0}
cache: {enabled: false}
log: {level: warn}
`
	if o.durability != "" { // a Penny with the ledger keys, and an admin listener
		body += "admin_listen: \"off\"\n"
		body += "ledger: {durability: " + o.durability
		if o.maxWait > 0 {
			body += ", max_wait: " + o.maxWait.String()
		}
		body += "}\n"
	}
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(dir, "penny.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.penny, "serve", "--config", cfg, "--addr", addr)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &penny{cmd: cmd, url: "http://" + addr, log: log}
	if err := p.waitReady(30 * time.Second); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (p *penny) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	probe := "/readyz"
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + probe)
		if err == nil {
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				return nil
			case http.StatusNotFound:
				probe = "/healthz" // a Penny from before /readyz
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("penny at %s not ready after %s (see %s)", p.url, within, p.log.Name())
}

func (p *penny) kill() {
	p.cmd.Process.Kill() // SIGKILL
	p.cmd.Wait()
	p.log.Close()
}

func (p *penny) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.cmd.Wait()
	p.log.Close()
	if err != nil {
		return fmt.Errorf("penny exited: %w (see %s)", err, p.log.Name())
	}
	return nil
}

func storedIDs(path string) (map[string]bool, error) {
	n, err := storedCounts(path)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(n))
	for id := range n {
		ids[id] = true
	}
	return ids, nil
}

func storedCounts(path string) (map[string]int, error) {
	db, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	recs, err := sqlite.NewLedgerStore(db).Records(context.Background(), ledger.RecordQuery{})
	if err != nil {
		return nil, err
	}
	n := make(map[string]int, len(recs))
	for _, r := range recs {
		n[r.RequestID]++
	}
	return n, nil
}

// load sends requests at a rate (open loop) or from workers (closed loop)
// and keeps, for each answer received complete, its request id, when it
// ended and how long it took.
type load struct {
	url     string
	rate    float64
	workers int
	client  *http.Client
	seq     atomic.Int64
	out     *bufio.Writer

	mu    sync.Mutex
	done  []answer
	marks map[string]time.Time
}

type answer struct {
	id  string
	end time.Time
	lat time.Duration
}

func newLoad(url string, rate float64, servedFile string) *load {
	l := &load{url: url, rate: rate, marks: map[string]time.Time{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}}}
	if servedFile != "" {
		if f, err := os.Create(servedFile); err == nil {
			l.out = bufio.NewWriter(f)
		}
	}
	return l
}

func (l *load) run(ctx context.Context) {
	var wg sync.WaitGroup
	if l.rate <= 0 {
		for range l.workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					l.one(ctx)
				}
			})
		}
		wg.Wait()
		return
	}
	sem := make(chan struct{}, 512)
	interval := time.Duration(float64(time.Second) / l.rate)
	start := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			l.one(ctx)
		})
	}
	wg.Wait()
	if l.out != nil {
		l.out.Flush()
	}
}

// one sends a request, streamed every other time, and keeps its id if
// the whole answer came.
func (l *load) one(ctx context.Context) {
	n := l.seq.Add(1)
	stream := n%2 == 0
	body := fmt.Sprintf(`{"model":"nova-micro","stream":%v,"messages":[{"role":"user","content":"Where is order %d? It was due yesterday."}]}`, stream, n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !complete(resp.Body, stream) {
		return
	}
	a := answer{id: resp.Header.Get("X-Penny-Request-Id"), end: time.Now()}
	a.lat = a.end.Sub(start)
	l.mu.Lock()
	l.done = append(l.done, a)
	if l.out != nil {
		fmt.Fprintln(l.out, a.id)
	}
	l.mu.Unlock()
}

// complete reads an answer to its end: a body read without error, or a
// stream up to data: [DONE].
func complete(body io.Reader, stream bool) bool {
	if !stream {
		_, err := io.Copy(io.Discard, body)
		return err == nil
	}
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if sc.Text() == "data: [DONE]" {
			return true
		}
	}
	return false
}

func (l *load) mark(name string) {
	l.mu.Lock()
	l.marks[name] = time.Now()
	l.mu.Unlock()
}

func (l *load) servedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, len(l.done))
	for i, a := range l.done {
		ids[i] = a.id
	}
	return ids
}

func (l *load) latencies() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lat := make([]time.Duration, len(l.done))
	for i, a := range l.done {
		lat[i] = a.lat
	}
	return lat
}

// between summarises the answers whose request started between two marks.
func (l *load) between(from, to string) string {
	l.mu.Lock()
	a, b := l.marks[from], l.marks[to]
	var lat []time.Duration
	for _, x := range l.done {
		if s := x.end.Add(-x.lat); !s.Before(a) && s.Before(b) {
			lat = append(lat, x.lat)
		}
	}
	l.mu.Unlock()
	return l.summary(lat)
}

func (l *load) quantile(q float64) time.Duration { return quantile(l.latencies(), q) }

func (l *load) summary(lat []time.Duration) string {
	if len(lat) == 0 {
		return "no answers"
	}
	return fmt.Sprintf("%d answers, p50 %s, p99 %s, p99.9 %s, max %s", len(lat),
		quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 0.999), quantile(lat, 1))
}

func quantile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(q*float64(len(s))))].Round(10 * time.Microsecond)
}
