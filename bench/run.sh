#!/usr/bin/env bash
# make bench: starts the stack if needed, then runs bench/bench.py, which measures POST
# /orders against pgbench, the whole saga's throughput and latency, RSS and start-up time,
# and writes a Markdown report to .run/bench/report.md (copied by hand into
# docs/benchmarks.md with the machine it ran on).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/infra/scripts/stack.sh" up
exec /usr/bin/python3 "$root/bench/bench.py" "$@"
