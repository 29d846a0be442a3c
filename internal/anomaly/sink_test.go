package anomaly_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/anomaly"
)

var sample = anomaly.Alert{Kind: anomaly.KindRunawayLoop, Tenant: "acme", KeyID: "k1", Value: 20, Threshold: 20,
	Unit: anomaly.UnitRequests, Window: time.Minute, At: time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC),
	PromptHash: "abc", Message: "loop"}

func TestWebhookFormats(t *testing.T) {
	for _, format := range []string{anomaly.FormatJSON, anomaly.FormatSlack} {
		t.Run(format, func(t *testing.T) {
			var calls atomic.Int32
			bodies := make(chan []byte, 2)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if calls.Add(1) == 1 {
					w.WriteHeader(http.StatusBadGateway) // first attempt fails: retried once
					return
				}
				bodies <- b
			}))
			defer srv.Close()
			w, err := anomaly.WebhookSink(srv.URL, format, anomaly.WebhookOptions{RetryAfter: time.Millisecond,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			w.Send(sample)
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if calls.Load() != 2 || w.Failed() != 0 {
				t.Fatalf("calls %d failed %d, want 2 and 0", calls.Load(), w.Failed())
			}
			b := <-bodies
			if format == anomaly.FormatJSON {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				if m["kind"] != "runaway_loop" || m["key_id"] != "k1" || m["window_seconds"] != 60.0 || m["prompt_hash"] != "abc" {
					t.Errorf("json body %s", b)
				}
				var back anomaly.Alert
				if err := json.Unmarshal(b, &back); err != nil || back != sample {
					t.Errorf("round trip %+v, %v", back, err)
				}
			} else {
				var m struct {
					Text   string `json:"text"`
					Blocks []struct {
						Type string `json:"type"`
						Text struct{ Type, Text string }
					} `json:"blocks"`
				}
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				if m.Text == "" || len(m.Blocks) != 1 || m.Blocks[0].Type != "section" || m.Blocks[0].Text.Type != "mrkdwn" {
					t.Errorf("slack body %s", b)
				}
			}
		})
	}
}

// TestWebhookNeverBlocks: a hung receiver does not block Send; the queue
// overflows into drops, and Close gives up when its context ends.
func TestWebhookNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	w, err := anomaly.WebhookSink(srv.URL, anomaly.FormatJSON, anomaly.WebhookOptions{Queue: 2, Timeout: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 10 {
		w.Send(sample)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send blocked for %s", d)
	}
	if w.Dropped() < 7 {
		t.Errorf("dropped %d, want at least 7", w.Dropped())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err == nil {
		t.Error("Close returned nil with deliveries stuck")
	}
}

func TestWebhookBadFormat(t *testing.T) {
	if _, err := anomaly.WebhookSink("http://127.0.0.1:1", "xml", anomaly.WebhookOptions{}); err == nil {
		t.Error("want an error")
	}
}
