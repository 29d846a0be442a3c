package llm

import "context"

// headerKey is the context key of a request's header lookup.
type headerKey struct{}

// WithHeader returns ctx carrying h, the lookup of the client's request
// headers (routing rules match on headers). Frontends set it; stages read
// it with HeaderFrom, so they need not know HTTP.
func WithHeader(ctx context.Context, h func(name string) string) context.Context {
	return context.WithValue(ctx, headerKey{}, h)
}

// HeaderFrom returns the header lookup ctx carries, or nil.
func HeaderFrom(ctx context.Context) func(name string) string {
	h, _ := ctx.Value(headerKey{}).(func(string) string)
	return h
}
