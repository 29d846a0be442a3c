// Package govern enforces the limits stored with each API key: requests and
// tokens per minute (RateLimit) and a monthly budget (Budget). Both are
// llm.Stages that read the key from the context (keys.FromContext); requests
// without a key, or whose key has no such limit, pass untouched.
//
// State is kept in memory, per process: several Penny instances in front of
// one ledger each enforce the limits on their own traffic.
package govern
