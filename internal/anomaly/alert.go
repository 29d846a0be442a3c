package anomaly

import (
	"encoding/json"
	"sync"
	"time"
)

// Kinds of Alert.
const (
	KindSpendSpike = "spend_spike"
	// KindBudget is a budget crossing one of its thresholds (published by
	// the budget stage through Detector.Publish).
	KindBudget      = "budget_threshold"
	KindRateSpike   = "rate_spike"
	KindRunawayLoop = "runaway_loop"
)

// Alert is one anomaly. Value, Baseline and Threshold are in Unit: dollars
// per minute for spend spikes, requests per minute for rate spikes, and
// identical requests within Window for runaway loops. They are floats for
// display only; the detector's money sums are exact.
type Alert struct {
	Kind string
	// Tenant and KeyID name the subject: KeyID is "" for a tenant-wide
	// alert.
	Tenant    string
	KeyID     string
	Value     float64
	Baseline  float64
	Threshold float64
	Unit      string
	// Window is the span Value was measured over.
	Window time.Duration
	At     time.Time
	// PromptHash is the repeated prompt's hash (runaway loops only).
	PromptHash string
	Message    string
}

// Units of Alert.Unit.
const (
	UnitDollarsPerMinute  = "usd/min"
	UnitRequestsPerMinute = "requests/min"
	UnitRequests          = "requests"
)

type alertJSON struct {
	Kind          string    `json:"kind"`
	Tenant        string    `json:"tenant"`
	KeyID         string    `json:"key_id,omitempty"`
	Value         float64   `json:"value"`
	Baseline      float64   `json:"baseline"`
	Threshold     float64   `json:"threshold"`
	Unit          string    `json:"unit"`
	WindowSeconds float64   `json:"window_seconds"`
	At            time.Time `json:"at"`
	PromptHash    string    `json:"prompt_hash,omitempty"`
	Message       string    `json:"message"`
}

// MarshalJSON encodes the alert with snake_case fields and the window in
// seconds; it is the generic webhook's body and the shape for an API.
func (a Alert) MarshalJSON() ([]byte, error) {
	return json.Marshal(alertJSON{
		Kind: a.Kind, Tenant: a.Tenant, KeyID: a.KeyID, Value: a.Value, Baseline: a.Baseline,
		Threshold: a.Threshold, Unit: a.Unit, WindowSeconds: a.Window.Seconds(), At: a.At.UTC(),
		PromptHash: a.PromptHash, Message: a.Message,
	})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (a *Alert) UnmarshalJSON(b []byte) error {
	var j alertJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*a = Alert{Kind: j.Kind, Tenant: j.Tenant, KeyID: j.KeyID, Value: j.Value, Baseline: j.Baseline,
		Threshold: j.Threshold, Unit: j.Unit, Window: time.Duration(j.WindowSeconds * float64(time.Second)),
		At: j.At, PromptHash: j.PromptHash, Message: j.Message}
	return nil
}

// ring keeps the most recent alerts.
type ring struct {
	mu    sync.Mutex
	buf   []Alert
	next  int
	count int
}

func newRing(n int) *ring { return &ring{buf: make([]Alert, n)} }

func (r *ring) add(a Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = a
	r.next = (r.next + 1) % len(r.buf)
	if r.count < len(r.buf) {
		r.count++
	}
}

// list returns the alerts newest first.
func (r *ring) list() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Alert, 0, r.count)
	for i := 1; i <= r.count; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}
