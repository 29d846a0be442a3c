package fallback

import (
	"testing"
	"time"
)

func TestBreakers(t *testing.T) {
	c := newClock()
	b := NewBreakers(3, 10*time.Second, c.Now)
	const k = "amazon.nova-pro-v1:0"
	type step struct {
		do        string // fail, ok, release, advance, allow, deny, state
		d         time.Duration
		wantState State
	}
	steps := []step{
		{do: "allow", wantState: Closed},
		{do: "fail", wantState: Closed},
		{do: "fail", wantState: Closed},
		{do: "ok", wantState: Closed}, // a success resets the count
		{do: "fail"}, {do: "fail"}, {do: "fail", wantState: Open},
		{do: "deny", wantState: Open},
		{do: "advance", d: 9 * time.Second, wantState: Open},
		{do: "advance", d: time.Second, wantState: HalfOpen},
		{do: "allow", wantState: HalfOpen}, // the probe
		{do: "deny", wantState: HalfOpen},  // one probe at a time
		{do: "fail", wantState: Open},      // a failed probe reopens
		{do: "advance", d: 10 * time.Second, wantState: HalfOpen},
		{do: "allow"},
		{do: "release", wantState: HalfOpen}, // a canceled probe frees the slot
		{do: "allow"},
		{do: "ok", wantState: Closed},
		{do: "allow", wantState: Closed},
	}
	for i, s := range steps {
		switch s.do {
		case "fail":
			b.Failure(k)
		case "ok":
			b.Success(k)
		case "release":
			b.Release(k)
		case "advance":
			c.Advance(s.d)
		case "allow", "deny":
			if ok, _ := b.Allow(k); ok != (s.do == "allow") {
				t.Fatalf("step %d: Allow = %v", i, ok)
			}
		}
		if s.wantState != "" {
			if got := b.State(k); got != s.wantState {
				t.Fatalf("step %d (%s): state %s, want %s", i, s.do, got, s.wantState)
			}
		}
	}
	if got := b.State("US.amazon.nova-pro-v1:0"); got != Closed {
		t.Errorf("a profile has its own breaker: %s", got)
	}
}
