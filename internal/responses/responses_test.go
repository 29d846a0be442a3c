package responses_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/responses"
)

// sweepStore records the sweeps it sees.
type sweepStore struct {
	responses.Store
	mu    sync.Mutex
	calls []time.Time
}

func (s *sweepStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, now)
	return 1, nil
}

func (s *sweepStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// TestSweep checks that the sweep runs at once, then every interval with
// the clock's time, and returns when its context ends.
func TestSweep(t *testing.T) {
	st := &sweepStore{}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		responses.Sweep(ctx, st, responses.SweepOptions{Every: time.Millisecond, Now: func() time.Time { return at }})
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for st.count() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if st.count() < 3 || !st.calls[0].Equal(at) {
		t.Errorf("sweeps: %v", st.calls)
	}
}

func TestConversation(t *testing.T) {
	s := &responses.Stored{
		Input:  []json.RawMessage{json.RawMessage(`1`), json.RawMessage(`2`)},
		Output: []json.RawMessage{json.RawMessage(`3`)},
	}
	got, _ := json.Marshal(s.Conversation())
	if string(got) != "[1,2,3]" {
		t.Errorf("conversation %s", got)
	}
	if len(s.Input) != 2 {
		t.Error("Conversation changed the input")
	}
}
