package govern

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// upstream answers every request with fixed usage, after delay, or fails
// with err. Its streams are the answer's events.
type upstream struct {
	usage llm.Usage
	err   error
	delay time.Duration
	// streamErr, if set, is returned by the stream after its events.
	events    func(r *llm.Response) []llm.Event
	streamErr error
	calls     atomic.Int64
}

func (u *upstream) answer() *llm.Response {
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("ok")}},
		StopReason: llm.StopEndTurn, Usage: u.usage}
}

func (u *upstream) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	u.calls.Add(1)
	if u.delay > 0 {
		time.Sleep(u.delay)
	}
	if u.err != nil {
		return nil, u.err
	}
	return u.answer(), nil
}

func (u *upstream) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	u.calls.Add(1)
	if u.err != nil {
		return nil, u.err
	}
	evs := llm.EventsOf(u.answer())
	if u.events != nil {
		evs = u.events(u.answer())
	}
	return &llm.SliceStream{Events: evs, Err: u.streamErr}, nil
}

func withKey(k *keys.Key) context.Context {
	return keys.NewContext(context.Background(), k)
}

func request(model, prompt string, maxTokens int) *llm.Request {
	r := &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock(prompt)}}}}
	if maxTokens > 0 {
		r.Config.MaxTokens = &maxTokens
	}
	return r
}
