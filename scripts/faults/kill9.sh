#!/usr/bin/env bash
# Records lost per 1,000 served under kill -9, for each ledger.durability:
# builds penny, then for each mode runs RUNS cycles of paced load (RATE
# req/s, half streams) against `penny serve --simulate`, a SIGKILL at a
# random moment within DURATION, a restart on the same database, and a
# count of the answered requests missing from the ledger. About
# RUNS x (DURATION + 2 s) per mode. See docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5} RATE=${RATE:-500} DURATION=${DURATION:-8s}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/penny" ./cmd/penny
go build -o "$bin/faults" ./scripts/faults
for mode in ${MODES:-fast strict}; do
  "$bin/faults" kill9 -penny "$bin/penny" -durability "$mode" -runs "$RUNS" -rate "$RATE" -duration "$DURATION"
done
