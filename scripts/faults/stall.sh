#!/usr/bin/env bash
# A database stall must not become an API stall: builds penny, serves
# RATE req/s (half streams) and, from another connection, holds the
# SQLite write lock for HOLD, for each ledger.durability; prints the
# latency of the requests sent while the lock was held and checks that
# every answered request is in the ledger exactly once. About HOLD + 10 s
# per mode. See docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${RATE:-500} HOLD=${HOLD:-40s} MAX_WAIT=${MAX_WAIT:-0}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/penny" ./cmd/penny
go build -o "$bin/faults" ./scripts/faults
for mode in ${MODES:-fast strict}; do
  "$bin/faults" stall -penny "$bin/penny" -durability "$mode" -rate "$RATE" -hold "$HOLD" -max-wait "$MAX_WAIT"
done
