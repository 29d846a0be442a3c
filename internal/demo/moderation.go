package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/route"
	"github.com/penny-gateway/penny/internal/texttable"
)

// ModerationSystem is the content-moderation prompt.
const ModerationSystem = "You moderate posts on a community forum. Answer with one label: ok, spam, abuse or off-topic, " +
	"then one sentence saying why."

// moderationRoute serves both moderation runs: Nova Micro, on demand or
// in a batch job, so that the difference is the consumption mode alone.
var moderationRoute = config.Route{Config: route.Config{Name: "moderation", Baseline: "nova-micro", Strategy: "fixed",
	Tiers: []route.Tier{{Name: "micro", Model: "nova-micro"}}}}

// ModerationWorkload returns n forum posts collected through a day:
// mostly ordinary, some spam and abuse.
func ModerationWorkload(n int, seed uint64) []Prompt {
	ordinary := []string{"Has anyone tried the new firmware on the %s? My battery lasts longer now.",
		"Great thread about %s, thanks for the tips on setting it up.", "Where can I find the manual for the %s?",
		"The %s arrived yesterday, the packaging was damaged but it works fine."}
	spam := []string{"BUY CHEAP %s NOW!!! 90%% OFF, click the link in my profile", "Earn $5000 a week from home, no %s needed, DM me"}
	abuse := []string{"Anyone who buys a %s is an idiot and should leave this forum."}
	things := []string{"headphones", "smart watch", "router", "e-reader", "camera", "speaker"}
	r := rand.New(rand.NewPCG(seed, 11))
	out := make([]Prompt, n)
	for i := range out {
		set := ordinary
		switch x := r.IntN(10); {
		case x < 2:
			set = spam
		case x < 3:
			set = abuse
		}
		out[i] = Prompt{Text: fmt.Sprintf("Post #%d: ", i+1) + fmt.Sprintf(set[r.IntN(len(set))], things[r.IntN(len(things))])}
	}
	return out
}

// Moderation is the moderation story: the same posts moderated on demand,
// one request each as they arrive, and collected into one batch job.
type Moderation struct {
	Posts            int
	OnDemand, Batch  ledger.Summary
	BatchID          string
	BatchElapsed     time.Duration
	OnDemandElapsed  time.Duration
	MinRecords, Jobs int
}

// runModeration moderates the posts on demand (tag demo=moderation-on-demand),
// then submits them through the OpenAI Batch API as one batch (tag
// demo=moderation-batch) and waits for it.
func runModeration(ctx context.Context, client *http.Client, a *app.App, o Options, posts []Prompt) (*Moderation, error) {
	m := &Moderation{Posts: len(posts), MinRecords: a.Batch.Policy().MinRecords}
	ph := &Phase{Title: "Moderation on demand", Route: moderationRoute.Name, System: ModerationSystem, Prompts: posts,
		Tags: "app=forum,demo=moderation-on-demand", Answered: make([]string, len(posts))}
	t0 := time.Now()
	if err := drive(ctx, client, a.URL(), ph, o); err != nil {
		return nil, err
	}
	m.OnDemandElapsed = time.Since(t0)

	var lines bytes.Buffer
	for i, p := range posts {
		b, _ := json.Marshal(map[string]any{"custom_id": fmt.Sprint("post-", i+1), "method": "POST", "url": "/v1/chat/completions",
			"body": map[string]any{"model": moderationRoute.Name, "max_tokens": 600, "messages": []map[string]string{
				{"role": "system", "content": ModerationSystem}, {"role": "user", "content": p.Text}}}})
		lines.Write(append(b, '\n'))
	}
	t0 = time.Now()
	bar := newBar(o, "Moderation batch job", len(posts))
	defer bar.Done()
	var file struct{ ID string }
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("purpose", "batch")
	fw, _ := mw.CreateFormFile("file", "posts.jsonl")
	fw.Write(lines.Bytes())
	mw.Close()
	if err := call(ctx, client, http.MethodPost, a.URL()+"/v1/files", mw.FormDataContentType(), &body, &file); err != nil {
		return nil, err
	}
	var b struct {
		ID, Status    string
		RequestCounts struct{ Total, Completed, Failed int } `json:"request_counts"`
	}
	req, _ := json.Marshal(map[string]string{"input_file_id": file.ID, "endpoint": "/v1/chat/completions", "completion_window": "24h"})
	if err := call(ctx, client, http.MethodPost, a.URL()+"/v1/batches", "application/json", bytes.NewReader(req), &b); err != nil {
		return nil, err
	}
	m.BatchID = b.ID
	done := 0
	for b.Status != "completed" {
		if b.Status == "failed" || b.Status == "cancelled" || b.Status == "expired" {
			return nil, fmt.Errorf("demo: the moderation batch ended %s", b.Status)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if err := call(ctx, client, http.MethodGet, a.URL()+"/v1/batches/"+m.BatchID, "", nil, &b); err != nil {
			return nil, err
		}
		if n := b.RequestCounts.Completed + b.RequestCounts.Failed; n > done {
			bar.Add(n - done)
			done = n
		}
	}
	m.BatchElapsed = time.Since(t0)
	return m, nil
}

// call sends a Batch API request as tenant acme and decodes the answer.
func call(ctx context.Context, client *http.Client, method, url, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("X-Penny-Tenant", "acme")
	req.Header.Set("X-Penny-Tags", "app=forum,demo=moderation-batch")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("demo: %s %s: %s: %s", method, url, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// summarize fills in the two runs' figures from the ledger's records of
// this run.
func (m *Moderation) summarize(recs []ledger.Record) {
	for _, r := range recs {
		s := &m.OnDemand
		switch r.Tags["demo"] {
		case "moderation-on-demand":
		case "moderation-batch":
			s = &m.Batch
		default:
			continue
		}
		s.Requests++
		s.InputTokens += int64(r.InputTokens)
		s.OutputTokens += int64(r.OutputTokens)
		s.Cost += r.Cost
		s.BaselineCost += r.BaselineCost
	}
}

// printModeration writes the moderation story.
func (r *Result) printModeration(w io.Writer) {
	m := r.Moderation
	if m == nil {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Content moderation: %d forum posts collected through the day (SIMULATED, Nova Micro)\n", m.Posts)
	fmt.Fprintln(w)
	rows := [][]string{{"", "On demand, as posted", "One Bedrock batch job"}}
	rows = append(rows, []string{"requests", fmt.Sprint(m.OnDemand.Requests), fmt.Sprint(m.Batch.Requests)},
		[]string{"tokens in / out", fmt.Sprintf("%d / %d", m.OnDemand.InputTokens, m.OnDemand.OutputTokens),
			fmt.Sprintf("%d / %d", m.Batch.InputTokens, m.Batch.OutputTokens)},
		[]string{"cost", usd(m.OnDemand.Cost), usd(m.Batch.Cost)})
	texttable.Write(w, rows, 3)
	saved := m.OnDemand.Cost - m.Batch.Cost
	fmt.Fprintf(w, "\nOne batch job through the OpenAI Batch API (%s) costs %s less: %s.\n", m.BatchID, usd(saved), pct(saved, m.OnDemand.Cost))
	fmt.Fprintf(w, "Bedrock answers batch jobs within 24 hours at its batch prices; this simulated job took %s (jobs need %d records or more).\n",
		m.BatchElapsed.Round(100*time.Millisecond), m.MinRecords)
}
