#!/usr/bin/env bash
# What ledger.durability: strict costs: builds penny and, for each mode,
# measures latency at RATE req/s (half streams) for DURATION, then
# closed-loop throughput with CONCURRENCY workers for DURATION. About
# 2 x DURATION per mode. See docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${RATE:-500} DURATION=${DURATION:-15s} CONCURRENCY=${CONCURRENCY:-64}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/penny" ./cmd/penny
go build -o "$bin/faults" ./scripts/faults
for mode in ${MODES:-fast strict}; do
  "$bin/faults" latency -penny "$bin/penny" -durability "$mode" -rate "$RATE" -duration "$DURATION" -concurrency "$CONCURRENCY"
done
