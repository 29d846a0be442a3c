package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/penny-gateway/penny/internal/llm"
)

// expire fails the queued items whose completion window has ended (the
// below-minimum policy "wait" waits until then), each recorded at no
// cost, and marks batches past their window expired once their items are
// over. Items already in a job are left to the job: Bedrock expires it.
func (e *Engine) expire(ctx context.Context) error {
	now := e.o.Now()
	f := &flusher{e: e}
	rerr := &llm.Error{Kind: llm.KindTimeout, Code: "batch_expired", Message: "the request was not run within the completion window"}
	err := e.o.Store.Expired(ctx, now, func(it *Item) error {
		if it.State != ItemQueued {
			return nil
		}
		return e.finish(ctx, it, nil, "expired", llm.ModeBatch, "", fixed{err: rerr}, true, f)
	})
	if err := errors.Join(err, f.flush(ctx)); err != nil {
		return err
	}
	bs, err := e.o.Store.ActiveBatches(ctx)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Status != StatusInProgress || now.Before(b.ExpiresAt) {
			continue
		}
		e.mu.Lock()
		c, err := e.o.Store.BatchCounts(ctx, b.ID)
		if err == nil && c.Completed+c.Failed >= b.Counts.Total {
			// finishBatch makes its files; it is then expired, not completed.
			if err = e.finishBatchLocked(ctx, b.Tenant, b.ID); err == nil {
				if cur, gerr := e.o.Store.GetBatch(ctx, b.Tenant, b.ID); gerr == nil && c.Failed > 0 {
					cur.Status, cur.ExpiredAt = StatusExpired, now
					err = e.o.Store.UpdateBatch(ctx, cur)
				}
			}
		}
		e.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// notify posts the answers of finished deferred requests to the
// webhook, retrying at each tick until it answers 2xx.
func (e *Engine) notify(ctx context.Context) error {
	if e.p.WebhookURL == "" {
		return nil
	}
	f := &flusher{e: e}
	var errs []error
	err := e.o.Store.Notifying(ctx, func(it *Item) error {
		if err := e.post(ctx, it); err != nil {
			errs = append(errs, err)
			return nil
		}
		it.Notify = false
		return f.add(ctx, it)
	})
	return errors.Join(err, errors.Join(errs...), f.flush(ctx))
}

// Notification is what the webhook receives for a finished deferred
// request: its id, status, and its answer (or error) in the request's
// API format.
type Notification struct {
	ID         string          `json:"id"`
	Object     string          `json:"object"`
	Status     string          `json:"status"`
	API        string          `json:"api"`
	StatusCode int             `json:"status_code"`
	Response   json.RawMessage `json:"response,omitempty"`
	Error      *struct {
		Code    string `json:"code,omitempty"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// NotificationOf returns the notification of a finished item.
func NotificationOf(it *Item) Notification {
	n := Notification{ID: it.ID, Object: "penny.deferred", Status: string(it.State), API: it.API}
	if r := it.Result; r != nil {
		n.StatusCode, n.Response = r.Status, r.Body
		if r.Kind != "" {
			n.Error = &struct {
				Code    string `json:"code,omitempty"`
				Message string `json:"message"`
			}{r.Code, r.Message}
		}
	}
	return n
}

func (e *Engine) post(ctx context.Context, it *Item) error {
	body, err := json.Marshal(NotificationOf(it))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.p.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Penny-Deferred-Id", it.ID)
	resp, err := e.o.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("batch webhook: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("batch webhook: %s answered %s", e.p.WebhookURL, resp.Status)
	}
	return nil
}
