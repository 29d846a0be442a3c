// Package cache is Penny's exact response cache and request coalescing: a
// stage that answers a request from a stored answer to an identical earlier
// request, and makes identical requests in flight at the same time share one
// upstream call.
//
// The stage runs after routing, so a request's model is the one chosen for
// it. Entries are kept by a Backend: package cache/memory (in-process,
// bounded by bytes) or package cache/redis (shared by several Penny
// instances).
//
// # Keys
//
// A key is the SHA-256 of a canonical encoding of the tenant, the canonical
// model id, the system blocks, the messages (every block kind, image and
// document bytes included), the tools and tool choice, the inference
// configuration and the additional model request fields; see Key. Entries
// are scoped per tenant unless the policy shares them across tenants.
//
// # Semantics
//
//   - Hit: req.Meta.Cache is set to llm.CacheHit and the stored answer is
//     returned with its original Usage (the account stage prices a hit at
//     zero and uses that usage for the baseline). A streamed request is
//     answered with a replay of the stored answer as stream events.
//   - Miss: req.Meta.Cache is set to llm.CacheMiss, the request goes on, and
//     a successful answer is stored: never an error, never a stop reason
//     other than end_turn, stop_sequence, max_tokens or tool_use, never an
//     entry over the policy's MaxEntryBytes. A streamed miss is passed
//     through event by event and stored once it ends cleanly; a stream that
//     fails or is closed early stores nothing.
//   - Bypass (req.Meta.Cache == llm.CacheBypass, from x-penny-cache: bypass
//     or Cache-Control: no-cache): the lookup is skipped and the request is
//     not coalesced, so the client gets a fresh answer; that answer is still
//     stored, refreshing the entry for everyone else. Meta.Cache stays
//     bypass.
//   - Not cacheable (the policy is disabled, or the temperature rule below
//     refuses the request): the request passes through untouched.
//   - Temperature: with AllowNonZeroTemperature false (the default) only a
//     request that sets temperature to exactly 0 is cached. A request that
//     leaves temperature unset gets the model's default, which is above 0
//     on Bedrock, so its answers vary and are not cached either. With
//     AllowNonZeroTemperature true every request is cached, and a repeated
//     request gets the first sampled answer again.
//   - Backend failures (Redis down, a corrupt entry) never fail a request:
//     they are logged, at most once every ten seconds, and the request is
//     served from upstream. Each Get and Set is bounded by
//     Options.BackendTimeout.
//
// # Coalescing
//
// Non-streamed requests with the same key that miss at the same time make
// one upstream call: the first starts it, the others wait and get the same
// answer with req.Meta.Cache = llm.CacheHit and req.Meta.Coalesced = true.
// The call runs detached from the first caller's cancellation and is
// canceled only when every caller has stopped waiting; a caller whose
// context ends stops waiting at once. If the call fails, every waiter gets
// the same error (with Coalesced set and Cache left at miss): retrying an
// identical request N times at once would only multiply the load on an
// upstream that is throttling or down.
//
// Streamed requests are not coalesced: a stream's point is its time to
// first token, which waiting for another request's whole answer would
// defeat. A streamed miss calls upstream and its answer is stored, so the
// requests after it hit.
package cache
