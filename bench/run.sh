#!/usr/bin/env bash
# make bench: starts the stack if needed, then runs bench/bench.py, which measures POST
# /orders against pgbench, the whole saga's throughput, latency and cost per order (CPU by
# component, Kafka and SQL counts), RSS and start-up time; writes a Markdown report to
# .run/bench/report.md and a JSON result to bench/results/. Then the generated parts of
# docs/benchmarks.md and its pictures are rewritten from the stored results (BENCH_DOCS=0
# leaves the doc alone). The stack's shape is the running one: `make up KAFKA_NODES=3` first
# (in its own run folder) to measure the cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/infra/scripts/stack.sh" up
/usr/bin/python3 "$root/bench/bench.py" "$@"
if [ "${BENCH_DOCS:-1}" != 0 ] && { [ $# -eq 0 ] || [[ " $* " == *" saga "* ]]; }; then
  /usr/bin/python3 "$root/bench/results.py" docs
fi
