#!/usr/bin/env bash
# Every benchmark once, in its shortest form (1 round, small N), on the running testbed: so none
# breaks unseen. CI runs it after `make test` (`make bench-smoke`); the figures mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
run() {
  local start=$SECONDS
  echo "bench-smoke: $*"
  "$PY" "$@"
  echo "bench-smoke: $1 passed in $((SECONDS - start)) s"
}
run benchmarks/spawn_latency.py --rounds 1
run benchmarks/spawn_phases.py --last 1
run benchmarks/slurmctld_load.py --sizes 3 --window 5
run benchmarks/hub_api_latency.py --servers 3
run benchmarks/engines_ready.py --rounds 1
run benchmarks/kernel_start.py --rounds 1
run benchmarks/scale.py --servers 12 --window 10
