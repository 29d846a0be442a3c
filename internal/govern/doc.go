// Package govern enforces spending and rate limits: requests and tokens per
// minute per key, with penalties the anomaly detector can impose (Limiter,
// RateLimit), and budgets (Budget): each key's monthly budget plus the
// configured BudgetRules per tenant, key, tag or route, daily or monthly,
// which block or downgrade. The stages read the key from the context
// (keys.FromContext) and the attribution from req.Meta; requests that no
// limit applies to pass untouched.
//
// State is kept in memory, per process: several Penny instances in front of
// one ledger each enforce the limits on their own traffic.
package govern
