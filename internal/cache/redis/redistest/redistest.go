// Package redistest gives tests the Redis server to run against.
package redistest

import (
	"os"
	"testing"
)

// EnvURL names the environment variable with the test server's URL;
// scripts/test starts a redis-server and sets it.
const EnvURL = "PENNY_TEST_REDIS_URL"

// URL returns the test server's URL. Without one the test is skipped,
// except under CI=true, where a missing server is a failure: CI must run
// every test.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u != "" {
		return u
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is not set but CI=true: Redis tests must run in CI; run ./scripts/test (it starts a redis-server) or set %s=redis://host:port/db", EnvURL, EnvURL)
	}
	tb.Skipf("%s is not set; skipping the Redis test (./scripts/test starts a redis-server)", EnvURL)
	return ""
}
