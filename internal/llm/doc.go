// Package llm holds Penny's provider-neutral core types: the Converse-shaped
// Request and Response, streaming events, the Invoker interface every stage
// and provider implements, and the typed Error every frontend maps to its own
// API's error format.
//
// It imports nothing outside the standard library's basic packages; the
// dependency test in this package keeps it that way.
package llm
