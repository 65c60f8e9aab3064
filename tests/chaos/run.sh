#!/usr/bin/env bash
# Runs the chaos suite on its own stack: 3 Kafka nodes, 2 instances of every service, in
# .run/chaos with the port offset EVENTIFY_PORT_OFFSET+50, so it never disturbs the stack of
# `make up`. Starts that stack, runs tests/chaos/chaos.py (CHAOS_SECONDS, CHAOS_RATE,
# CHAOS_SEED), stops the stack (CHAOS_KEEP=1 leaves it running) and exits with its result.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export EVENTIFY_RUN_DIR=${EVENTIFY_CHAOS_RUN_DIR:-$root/.run/chaos}
export EVENTIFY_PORT_OFFSET=$((${EVENTIFY_PORT_OFFSET:-0} + 50))
export EVENTIFY_KAFKA_NODES=${KAFKA_NODES:-3} EVENTIFY_REPLICAS=${REPLICAS:-2}
export EVENTIFY_KAFKA_LIB=$root/.run/kafka/lib # the jars `make deps` put in the main run folder
# A saga deadline a little longer than a broker's recovery, quick retries: both outcomes of
# the race between a late payment and the deadline happen under load.
export EVENTIFY_SAGA_TIMEOUT_MS=${EVENTIFY_SAGA_TIMEOUT_MS:-15000} EVENTIFY_MAX_ATTEMPTS=3 \
  EVENTIFY_RETRY_BACKOFF_MS=50 EVENTIFY_LOG_LEVEL=warn
started=$SECONDS
"$root/infra/scripts/stack.sh" up >"$root/.run/chaos-stack.log" 2>&1 || {
  tail -n 30 "$root/.run/chaos-stack.log" >&2
  echo "chaos: the chaos stack did not start (log: .run/chaos-stack.log)" >&2
  "$root/infra/scripts/stack.sh" down >/dev/null 2>&1 || true
  exit 1
}
echo "chaos: stack up in $((SECONDS - started))s (run folder $EVENTIFY_RUN_DIR, port offset $EVENTIFY_PORT_OFFSET)"
rc=0
rm -f "$EVENTIFY_RUN_DIR/chaos-report.txt"
/usr/bin/python3 "$root/tests/chaos/chaos.py" || rc=$?
if [ "${CHAOS_KEEP:-0}" != 1 ]; then
  stopping=$SECONDS
  "$root/infra/scripts/stack.sh" down
  echo "chaos: stack down in $((SECONDS - stopping))s"
fi
# A stalled consumer group's description again, where CI's excerpt of the output ends.
if [ "$rc" != 0 ] && grep -q '^stall ' "$EVENTIFY_RUN_DIR/chaos-report.txt" 2>/dev/null; then
  grep '^stall ' "$EVENTIFY_RUN_DIR/chaos-report.txt" | cut -c1-400
fi
echo "chaos: $((SECONDS - started))s in all, exit $rc (report: $EVENTIFY_RUN_DIR/chaos-report.txt)"
exit $rc
