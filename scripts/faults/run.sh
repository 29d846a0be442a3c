#!/usr/bin/env bash
# Measures what Penny's ledger keeps under faults (docs/reliability.md):
# builds penny and the harness (scripts/faults/main.go), then runs one
# measurement for each ledger.durability in MODES (default: fast strict)
# against `penny serve --simulate` in a temporary directory.
#
#   run.sh kill9     records lost per 1,000 served under kill -9: RUNS cycles
#                    (default 5) of RATE req/s, a SIGKILL within DURATION
#                    (default 8s), a restart; ~1 min per mode
#   run.sh stall     latency while another connection holds the SQLite write
#                    lock for HOLD (default 40s) at RATE req/s, then every
#                    request in the ledger once; MAX_WAIT sets ledger.max_wait;
#                    ~HOLD + 10 s per mode
#   run.sh latency   latency at RATE req/s for DURATION (default 15s), then
#                    closed-loop throughput with CONCURRENCY (default 64)
#                    workers; ~2 x DURATION per mode
#
# RATE defaults to 500; half of the requests are streamed.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmd=${1:?usage: run.sh kill9|stall|latency}
case $cmd in
  kill9) flags=(-runs "${RUNS:-5}" -duration "${DURATION:-8s}") ;;
  stall) flags=(-hold "${HOLD:-40s}" -max-wait "${MAX_WAIT:-0}") ;;
  latency) flags=(-duration "${DURATION:-15s}" -concurrency "${CONCURRENCY:-64}") ;;
  *) echo "run.sh: unknown measurement $cmd (kill9, stall or latency)" >&2; exit 2 ;;
esac
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/penny" ./cmd/penny
go build -o "$bin/faults" ./scripts/faults
for mode in ${MODES:-fast strict}; do
  "$bin/faults" "$cmd" -penny "$bin/penny" -durability "$mode" -rate "${RATE:-500}" "${flags[@]}"
done
