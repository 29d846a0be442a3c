// Package responses is Penny's store of OpenAI Responses API answers: what
// is kept of a response (per tenant, until it expires), the Store
// interface its implementations (package sqlite) satisfy, how a follow-up
// request's conversation is built from the response it continues
// (previous_response_id), and the sweep that deletes expired responses.
//
// A stored response is self-contained: its input is the whole
// conversation it was generated from, the conversation it continued
// included. So continuing a response never needs its ancestors, which
// may have expired or been deleted meanwhile.
package responses

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"
)

// DefaultRetention is how long a response is kept unless the config says
// otherwise: 30 days, as OpenAI keeps them.
const DefaultRetention = 30 * 24 * time.Hour

// ErrNotFound is returned for a response that does not exist, has
// expired, or belongs to another tenant: the three are indistinguishable
// to the caller, so that one tenant learns nothing of another's ids.
var ErrNotFound = errors.New("response not found")

// Stored is one stored response.
type Stored struct {
	// ID is the response's id ("resp_…"), unique in a Store.
	ID     string
	Tenant string
	// Created is when the response was made; Expires when it stops being
	// served (a Store never returns it after that, and deletes it).
	Created time.Time
	Expires time.Time
	// Response is the Response object as it was answered, in JSON.
	Response json.RawMessage
	// Input is the items the response was generated from, in order, each
	// in JSON: the conversation it continued, then its request's input.
	// Output is the response's output items.
	Input  []json.RawMessage
	Output []json.RawMessage
}

// Conversation is what a request continuing s starts from: s's input,
// then its output.
func (s *Stored) Conversation() []json.RawMessage {
	out := make([]json.RawMessage, 0, len(s.Input)+len(s.Output))
	return append(append(out, s.Input...), s.Output...)
}

// Store keeps stored responses. Every read is scoped to a tenant; an
// expired response is never returned. Implementations are safe for
// concurrent use.
type Store interface {
	// Put stores s, whose id must be new.
	Put(ctx context.Context, s *Stored) error
	// Get returns the tenant's response id, or ErrNotFound.
	Get(ctx context.Context, tenant, id string) (*Stored, error)
	// Delete deletes the tenant's response id, or returns ErrNotFound.
	Delete(ctx context.Context, tenant, id string) error
	// DeleteExpired deletes every response that expired at or before
	// now and returns how many it deleted.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// SweepOptions configure Sweep.
type SweepOptions struct {
	// Every is how often to sweep (default one hour).
	Every time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Sweep deletes expired responses from st at once and then every
// opts.Every, until ctx ends; it returns then. Failures are logged and
// retried at the next sweep: expired responses are never served anyway.
func Sweep(ctx context.Context, st Store, opts SweepOptions) {
	if opts.Every <= 0 {
		opts.Every = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(opts.Every)
	defer t.Stop()
	for {
		n, err := st.DeleteExpired(ctx, opts.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			opts.Logger.Warn("deleting expired stored responses failed; retrying at the next sweep", "err", err)
		case n > 0:
			opts.Logger.Debug("deleted expired stored responses", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
