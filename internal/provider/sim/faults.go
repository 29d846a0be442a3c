package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// FaultRates are the probabilities, each between 0 and 1, that one call
// fails in a given way. Throttle, ServerError and Timeout exclude each other
// (their sum must not exceed 1); MidStream is drawn separately and applies
// to streamed calls only.
type FaultRates struct {
	// Throttle fails the call at once with ThrottlingException.
	Throttle float64 `yaml:"throttle"`
	// ServerError fails the call at once with InternalServerException or
	// ServiceUnavailableException (half each).
	ServerError float64 `yaml:"server_error"`
	// Timeout fails the call with ModelTimeoutException after
	// Faults.TimeoutAfter.
	Timeout float64 `yaml:"timeout"`
	// MidStream breaks a stream with modelStreamErrorException after some
	// of its events were delivered.
	MidStream float64 `yaml:"mid_stream"`
	// FlexThrottle is the extra probability that a call at the Flex tier
	// is throttled (Flex runs on spare capacity), on top of Throttle.
	FlexThrottle float64 `yaml:"flex_throttle"`
}

// Faults configures the simulator's fault injection. In YAML:
//
//	throttle: 0.02      # 2 % of calls are throttled
//	server_error: 0.01
//	timeout: 0.005
//	mid_stream: 0.01
//	timeout_after: 30s  # simulated time before ModelTimeoutException
//	models:             # per model, by catalog id; replaces the rates above
//	  nova-pro: {throttle: 0.2}
//
// The draws are deterministic: the same Seed and the same sequence of calls
// give the same faults. Every call that passes validation takes one draw,
// whatever the rates, so changing a rate does not shift later draws.
type Faults struct {
	FaultRates `yaml:",inline"`
	// TimeoutAfter is how long, in simulated time (scaled by TimeScale), a
	// call that times out takes to fail. Zero means 30 seconds.
	TimeoutAfter time.Duration `yaml:"timeout_after"`
	// Models overrides the rates for some models, keyed by catalog id (or
	// any name the catalog resolves). A model listed here uses its own
	// rates instead of the top-level ones, all of them: unset ones are 0.
	Models map[string]FaultRates `yaml:"models"`
}

const defaultTimeoutAfter = 30 * time.Second

// Validate checks that every rate is a probability, that the exclusive
// rates sum to at most 1, and that every model key names a catalog model.
func (f *Faults) Validate(cat *catalog.Catalog) error {
	if err := f.FaultRates.validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	if f.TimeoutAfter < 0 {
		return fmt.Errorf("faults: timeout_after must not be negative")
	}
	names := make([]string, 0, len(f.Models))
	for name := range f.Models {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := f.Models[name]
		if err := r.validate(); err != nil {
			return fmt.Errorf("faults: models.%s: %w", name, err)
		}
		if cat != nil {
			if t, err := cat.Resolve(name); err != nil || t.Model == nil {
				return fmt.Errorf("faults: models.%s: not a catalog model", name)
			}
		}
	}
	return nil
}

func (r FaultRates) validate() error {
	for _, v := range []struct {
		name string
		p    float64
	}{{"throttle", r.Throttle}, {"server_error", r.ServerError}, {"timeout", r.Timeout}, {"mid_stream", r.MidStream},
		{"flex_throttle", r.FlexThrottle}} {
		if !(v.p >= 0 && v.p <= 1) {
			return fmt.Errorf("%s is %v, want a probability between 0 and 1", v.name, v.p)
		}
	}
	if s := r.Throttle + r.FlexThrottle + r.ServerError + r.Timeout; s > 1 {
		return fmt.Errorf("throttle + flex_throttle + server_error + timeout is %v, more than 1", s)
	}
	return nil
}

// faultKind is what a call's draw decided.
type faultKind int

const (
	faultNone faultKind = iota
	faultThrottle
	faultInternal
	faultUnavailable
	faultTimeout
)

// draw is one call's share of the fault generator: three uniform numbers in
// [0, 1), taken together so that every call consumes the same amount of the
// sequence whatever the configuration.
type draw struct{ kind, stream, where float64 }

// dice is the provider's seeded generator, shared by concurrent calls.
type dice struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newDice(seed int64) *dice {
	return &dice{rng: rand.New(rand.NewPCG(uint64(seed), 0x70656e6e79))} // "penny"
}

func (d *dice) roll() draw {
	d.mu.Lock()
	defer d.mu.Unlock()
	return draw{d.rng.Float64(), d.rng.Float64(), d.rng.Float64()}
}

// rates returns the fault rates that apply to model id.
func (p *Provider) rates(id string) FaultRates {
	if r, ok := p.modelFaults[id]; ok {
		return r
	}
	return p.opts.Faults.FaultRates
}

// decide turns a draw into a fault for a call, and for streams the point
// (a fraction of the stream's events) where a mid-stream error strikes, or
// a negative number for none.
func decide(r FaultRates, d draw, stream, flex bool) (faultKind, float64) {
	k := faultNone
	if flex {
		r.Throttle += r.FlexThrottle
	}
	switch u := d.kind; {
	case u < r.Throttle:
		k = faultThrottle
	case u < r.Throttle+r.ServerError:
		// The position within the band picks one of the two exceptions.
		if (u-r.Throttle)/r.ServerError < 0.5 {
			k = faultInternal
		} else {
			k = faultUnavailable
		}
	case u < r.Throttle+r.ServerError+r.Timeout:
		k = faultTimeout
	}
	mid := -1.0
	if stream && d.stream < r.MidStream {
		mid = d.where
	}
	return k, mid
}

// faultError returns the error Bedrock answers with for k, after the delay
// a timeout takes.
func (p *Provider) faultError(ctx context.Context, k faultKind) error {
	switch k {
	case faultThrottle:
		return &llm.Error{Kind: llm.KindThrottled, Upstream: "ThrottlingException",
			Message: "Too many tokens, please wait before trying again."}
	case faultInternal:
		return &llm.Error{Kind: llm.KindUnavailable, Upstream: "InternalServerException",
			Message: "The server encountered an internal error while processing the request."}
	case faultUnavailable:
		return &llm.Error{Kind: llm.KindUnavailable, Upstream: "ServiceUnavailableException",
			Message: "Bedrock is unable to process your request."}
	case faultTimeout:
		after := p.opts.Faults.TimeoutAfter
		if after <= 0 {
			after = defaultTimeoutAfter
		}
		if err := p.sleep(ctx, p.scaled(after)); err != nil {
			return err
		}
		return &llm.Error{Kind: llm.KindTimeout, Upstream: "ModelTimeoutException",
			Message: "Model has timed out in processing the request. Try your request again."}
	}
	return nil
}

// midStreamError is the exception that breaks a stream.
func midStreamError() error {
	return &llm.Error{Kind: llm.KindModelError, Upstream: "modelStreamErrorException",
		Message: "The model stream encountered an error while processing the response. Try your request again."}
}
