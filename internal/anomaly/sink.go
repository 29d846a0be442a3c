package anomaly

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Sink receives alerts. Send is called on the goroutine that called
// Observe and must not block: a sink that does I/O queues (see Webhook).
type Sink interface {
	Send(Alert)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Alert)

// Send calls f(a).
func (f SinkFunc) Send(a Alert) { f(a) }

// LogSink logs each alert as a warning.
func LogSink(l *slog.Logger) Sink {
	return SinkFunc(func(a Alert) {
		l.Warn("anomaly: "+a.Message, "kind", a.Kind, "tenant", a.Tenant, "key", a.KeyID,
			"value", a.Value, "baseline", a.Baseline, "threshold", a.Threshold, "unit", a.Unit)
	})
}

// Webhook formats.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
)

// WebhookOptions tunes a Webhook. Zero fields take the defaults shown.
type WebhookOptions struct {
	// Client sends the requests (http.DefaultClient).
	Client *http.Client
	// Timeout bounds each attempt (5 s).
	Timeout time.Duration
	// RetryAfter is the pause before the single retry (1 s).
	RetryAfter time.Duration
	// Queue is how many alerts may wait for delivery (256); alerts beyond
	// it are dropped, logged and counted.
	Queue int
	// Logger reports failed deliveries (default: nowhere).
	Logger *slog.Logger
}

// Webhook posts alerts to a URL from a goroutine, as the Alert's JSON
// (format "json") or as a Slack incoming-webhook message (format "slack").
// A failed post (a transport error, 429 or 5xx) is retried once.
type Webhook struct {
	url, format string
	opt         WebhookOptions
	queue       chan Alert
	done        chan struct{}
	stop        context.CancelFunc
	ctx         context.Context
	closeOnce   sync.Once
	mu          sync.RWMutex // guards closed against Send racing Close
	closed      bool
	dropped     atomic.Int64
	failed      atomic.Int64
}

// WebhookSink starts a Webhook posting to url in format ("json" or
// "slack"). Close it to stop.
func WebhookSink(url, format string, opt WebhookOptions) (*Webhook, error) {
	if format != FormatJSON && format != FormatSlack {
		return nil, fmt.Errorf("anomaly: unknown webhook format %q (want %q or %q)", format, FormatJSON, FormatSlack)
	}
	if url == "" {
		return nil, errors.New("anomaly: webhook url is empty")
	}
	if opt.Client == nil {
		opt.Client = http.DefaultClient
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.RetryAfter <= 0 {
		opt.RetryAfter = time.Second
	}
	if opt.Queue <= 0 {
		opt.Queue = 256
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	w := &Webhook{url: url, format: format, opt: opt, queue: make(chan Alert, opt.Queue),
		done: make(chan struct{}), ctx: ctx, stop: stop}
	go w.run()
	return w, nil
}

// Send queues a for delivery without blocking; when the queue is full, or
// the webhook closed, the alert is dropped.
func (w *Webhook) Send(a Alert) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.dropped.Add(1)
		return
	}
	select {
	case w.queue <- a:
	default:
		w.dropped.Add(1)
		w.opt.Logger.Warn("anomaly: webhook queue full; alert dropped", "kind", a.Kind, "tenant", a.Tenant, "key", a.KeyID)
	}
}

// Dropped counts alerts dropped because the queue was full or the webhook
// closed; Failed counts alerts whose delivery failed after the retry.
func (w *Webhook) Dropped() int64 { return w.dropped.Load() }
func (w *Webhook) Failed() int64  { return w.failed.Load() }

// Close stops accepting alerts and delivers those queued until ctx is
// done, then abandons the rest and returns ctx's error.
func (w *Webhook) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		close(w.queue)
		w.mu.Unlock()
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.stop()
		<-w.done
		return ctx.Err()
	}
}

func (w *Webhook) run() {
	defer close(w.done)
	for a := range w.queue {
		if w.ctx.Err() != nil {
			w.dropped.Add(1)
			continue
		}
		body, err := w.body(a)
		if err == nil {
			err = w.post(body)
			if retryable(err) {
				select {
				case <-time.After(w.opt.RetryAfter):
				case <-w.ctx.Done():
				}
				err = w.post(body)
			}
		}
		if err != nil {
			w.failed.Add(1)
			w.opt.Logger.Error("anomaly: webhook delivery failed", "kind", a.Kind, "tenant", a.Tenant, "key", a.KeyID, "err", err)
		}
	}
}

// statusError is a response that was not 2xx.
type statusError struct{ code int }

func (e statusError) Error() string { return fmt.Sprintf("webhook answered %d", e.code) }

func retryable(err error) bool {
	if err == nil {
		return false
	}
	var se statusError
	if errors.As(err, &se) {
		return se.code == http.StatusTooManyRequests || se.code >= 500
	}
	return true
}

func (w *Webhook) post(body []byte) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "penny-anomaly")
	resp, err := w.opt.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError{resp.StatusCode}
	}
	return nil
}

// slackMessage is a Slack incoming-webhook body: text is the fallback and
// the notification line, the block carries the details.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (w *Webhook) body(a Alert) ([]byte, error) {
	if w.format == FormatJSON {
		return json.Marshal(a)
	}
	title := fmt.Sprintf(":rotating_light: Penny %s", a.Kind)
	detail := fmt.Sprintf("*%s*\n%s\n*tenant* `%s`", title, a.Message, a.Tenant)
	if a.KeyID != "" {
		detail += fmt.Sprintf("  *key* `%s`", a.KeyID)
	}
	detail += fmt.Sprintf("\n*value* %.4g %s  *baseline* %.4g  *threshold* %.4g  *at* %s",
		a.Value, a.Unit, a.Baseline, a.Threshold, a.At.UTC().Format(time.RFC3339))
	return json.Marshal(slackMessage{
		Text:   title + ": " + a.Message,
		Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: detail}}},
	})
}
