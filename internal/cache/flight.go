package cache

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
)

// flights coalesces identical calls in flight at the same time: the first
// caller of a key starts the call, later callers of the key wait for it,
// and all get its result.
//
// The call runs on its own goroutine with a context that keeps the first
// caller's values but not its cancellation: it is canceled only when every
// caller has stopped waiting, so one impatient client does not fail the
// others. A caller whose context ends stops waiting at once.
type flights[T any] struct {
	// panicked, if set, is told about a panic in a call, which do returns
	// to every caller as an internal error: the call runs on a goroutine
	// of its own, where no HTTP server recovers it.
	panicked func(v any, stack []byte)
	// timeout bounds a call, which no longer has its first caller's
	// deadline; zero means none.
	timeout time.Duration

	mu sync.Mutex
	m  map[string]*flight[T]
}

type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
	// waiting counts the callers still waiting; guarded by flights.mu.
	waiting int
	// paid is set once a caller has taken the result as its payer;
	// guarded by flights.mu.
	paid   bool
	cancel context.CancelFunc
}

// do returns the result of fn for key, calling fn only if no call for key
// is in flight. payer is true for exactly one caller that received the
// result: the one that started the call, or, if it stopped waiting, the
// first other caller to receive it; the upstream call's cost is that
// caller's, and the others' answers are free. done is false when ctx
// ended first, and err is then ctx's error.
//
// fn must not keep anything of the caller's that the caller may change
// after do returns: fn may still be running then.
func (g *flights[T]) do(ctx context.Context, key string, fn func(context.Context) (T, error)) (val T, err error, payer, done bool) {
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]*flight[T]{}
	}
	f, ok := g.m[key]
	if ok {
		f.waiting++
	} else {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if g.timeout > 0 {
			fctx, cancel = withTimeout(fctx, cancel, g.timeout)
		}
		f = &flight[T]{done: make(chan struct{}), waiting: 1, cancel: cancel}
		g.m[key] = f
		go g.run(fctx, key, f, fn)
	}
	g.mu.Unlock()

	select {
	case <-f.done:
		g.mu.Lock()
		payer = !f.paid
		f.paid = true
		g.mu.Unlock()
		g.leave(key, f)
		return f.val, f.err, payer, true
	case <-ctx.Done():
		g.leave(key, f)
		var zero T
		return zero, ctx.Err(), false, false
	}
}

// withTimeout bounds ctx by d; the returned cancel releases both.
func withTimeout(ctx context.Context, cancel context.CancelFunc, d time.Duration) (context.Context, context.CancelFunc) {
	tctx, tcancel := context.WithTimeout(ctx, d)
	return tctx, func() { tcancel(); cancel() }
}

func (g *flights[T]) run(ctx context.Context, key string, f *flight[T], fn func(context.Context) (T, error)) {
	defer func() {
		g.mu.Lock()
		if g.m[key] == f {
			delete(g.m, key)
		}
		g.mu.Unlock()
		f.cancel()
		close(f.done)
	}()
	defer func() {
		if v := recover(); v != nil {
			if g.panicked != nil {
				g.panicked(v, debug.Stack())
			}
			var zero T
			f.val, f.err = zero, llm.Errorf(llm.KindInternal, "response cache: upstream call panicked: %v", fmt.Sprint(v))
		}
	}()
	f.val, f.err = fn(ctx)
}

// leave records that a caller stopped waiting for f. When the last one
// leaves a call still in flight, the call is canceled and forgotten, so
// that a later caller starts afresh instead of joining a canceled call.
func (g *flights[T]) leave(key string, f *flight[T]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f.waiting--
	if f.waiting > 0 {
		return
	}
	select {
	case <-f.done:
		return
	default:
	}
	if g.m[key] == f {
		delete(g.m, key)
	}
	f.cancel()
}

// inFlight returns the number of calls in flight, for tests.
func (g *flights[T]) inFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}
