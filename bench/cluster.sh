#!/usr/bin/env bash
# make bench-cluster: the saga bench (bench/run.sh saga) on a three-node Kafka cluster with one
# instance of each service, in its own run folder (.run/k3), so that what the cluster costs
# per order stands beside the default stack's figures in docs/benchmarks.md. The default
# stack uses the same ports: `make down` first. The cluster is stopped afterwards; its data
# stays in .run/k3 for the next run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if supervisorctl -c "$root/.run/supervisor/supervisord.conf" pid >/dev/null 2>&1; then
  echo "bench-cluster: the default stack is running on the same ports: make down first" >&2
  exit 1
fi
export EVENTIFY_RUN_DIR=$root/.run/k3
export EVENTIFY_KAFKA_LIB=$root/.run/kafka/lib # the jars `make deps` put in the main run folder
export EVENTIFY_KAFKA_NODES=3 EVENTIFY_REPLICAS=1
trap '"$root/infra/scripts/stack.sh" down >/dev/null 2>&1 || true' EXIT
# Three JVMs starting together on a busy machine can outlast the stack's patience for a node;
# they keep starting under supervisord, and the next `up` finds them.
for attempt in 1 2 3; do
  "$root/infra/scripts/stack.sh" up && break
  ((attempt < 3)) || exit 1
  echo "bench-cluster: the cluster is still starting; waiting for it again" >&2
done
"$root/bench/run.sh" saga
