package gateway

import (
	"context"
	"net/http"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

type middlewareStack = middleware.Stack

// captureHeaders adds a deserialize middleware that copies the raw HTTP
// response headers into *h.
func captureHeaders(stack *middleware.Stack, h *http.Header) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("pennyHeaders",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
				*h = resp.Header.Clone()
			}
			return out, md, err
		}), middleware.After)
}

// addHeader adds a build middleware that sets header k on the request.
func addHeader(stack *middleware.Stack, k, v string) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("pennyHeader",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if r, ok := in.Request.(*smithyhttp.Request); ok {
				r.Header.Set(k, v)
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
}
