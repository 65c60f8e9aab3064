#!/usr/bin/env bash
# make compose-test (docs/deploy.md): builds the images, starts compose.yaml with podman-compose
# (plus deploy/compose/compose.test.yaml, which publishes PostgreSQL and Kafka for the tests),
# waits until everything is healthy, runs the system tests against it, then stops it and
# removes its volumes, whatever happened.
# The Compose stack uses the port offset EVENTIFY_PORT_OFFSET+70, so it runs beside the local
# stack of `make test`. Its secrets and logs are in <run folder>/compose.
# The system tests marked local_stack stop, kill or start the local stack's processes; they
# cannot drive containers and are deselected here (tests/system/pytest.ini).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
run=$(realpath -m "${EVENTIFY_RUN_DIR:-$root/.run}")
offset=$((${EVENTIFY_PORT_OFFSET:-0} + 70))
dir=$run/compose
project=eventify-compose-$offset
say() { echo "compose-test: $*"; }
die() { echo "compose-test: $*" >&2; exit 1; }
started=$SECONDS

# The environment compose.yaml reads: host ports, secrets, the test stack's short deadlines.
export EVENTIFY_SECRETS_DIR=$dir/secrets
export EVENTIFY_WEB_PORT=$((3000 + offset)) EVENTIFY_PG_PORT=$((5432 + offset))
export EVENTIFY_KAFKA_PORT_1=$((9092 + offset)) EVENTIFY_KAFKA_PORT_2=$((9102 + offset)) \
  EVENTIFY_KAFKA_PORT_3=$((9112 + offset))
export EVENTIFY_ORDER_PORT=$((8081 + offset)) EVENTIFY_ORCHESTRATOR_PORT=$((8082 + offset)) \
  EVENTIFY_INVENTORY_PORT=$((8083 + offset)) EVENTIFY_SHIPPING_PORT=$((8084 + offset)) \
  EVENTIFY_PAYMENT_PORT=$((8085 + offset)) EVENTIFY_READ_MODEL_PORT=$((8086 + offset)) \
  EVENTIFY_NOTIFICATION_PORT=$((8087 + offset))
export EVENTIFY_SAGA_TIMEOUT_MS=6000 EVENTIFY_MAX_ATTEMPTS=3 EVENTIFY_RETRY_BACKOFF_MS=50

compose() {
  podman-compose -p "$project" -f "$root/compose.yaml" -f "$root/deploy/compose/compose.test.yaml" "$@"
}
# podman-compose 1.0.3 neither waits for depends_on conditions nor knows profiles: the stack
# comes up in the order the conditions describe, and kafbat's UI (profile kafka-ui) is left out.
infra=(postgres kafka-1 kafka-2 kafka-3)
services=(order orchestrator inventory shipping payment read-model notification)

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { say "$what not ready after ${seconds}s"; return 1; }
    sleep 1
  done
  say "$what ready ($((SECONDS - started))s)"
}
container() { # the container of a service, whichever naming podman-compose uses
  podman ps -a --format '{{.Names}}' | grep -E "^${project}[-_]$1[-_]1$" | head -n1
}
health() { podman healthcheck run "$(container "$1")"; }
exited_ok() { [ "$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$(container "$1")")" = "exited 0" ]; }

stop() {
  local rc=$?
  if ((rc != 0)); then
    mkdir -p "$dir/logs"
    local c
    for c in $(podman ps -a --format '{{.Names}}' | grep "^$project"); do podman logs "$c" >"$dir/logs/$c.log" 2>&1 || true; done
    say "failed: container logs in $dir/logs"
  fi
  compose down -v >"$dir/down.log" 2>&1 || say "down failed: see $dir/down.log"
  # (podman-compose 1.0.3's down leaves the project's network behind)
  podman network rm -f "${project}_default" >>"$dir/down.log" 2>&1 || true
  say "stopped, volumes removed ($((SECONDS - started))s in all)"
  exit "$rc"
}

mkdir -p "$dir"
"$root/infra/scripts/images.sh" build
say "images ready ($((SECONDS - started))s)"
"$root/deploy/compose/secrets.sh"
trap stop EXIT
compose down -v >/dev/null 2>&1 || true # what a killed run left
compose up -d --no-build "${infra[@]}" >"$dir/up.log" 2>&1
for s in "${infra[@]}"; do wait_for 600 "$s" health "$s" || exit 1; done
compose up -d --no-build topics >>"$dir/up.log" 2>&1
wait_for 300 "topics" exited_ok topics || exit 1
compose up -d --no-build "${services[@]}" >>"$dir/up.log" 2>&1
for s in "${services[@]}"; do wait_for 300 "$s" health "$s" || exit 1; done
compose up -d --no-build web >>"$dir/up.log" 2>&1
wait_for 120 "web" health web || exit 1
wait_for 30 "web UI on :$EVENTIFY_WEB_PORT" curl -sf -o /dev/null "http://localhost:$EVENTIFY_WEB_PORT/api/stats" || exit 1

say "system tests against the Compose stack (not the local_stack ones)"
EVENTIFY_RUN_DIR=$dir EVENTIFY_PORT_OFFSET=$offset EVENTIFY_PG_PORT=$EVENTIFY_PG_PORT \
  EVENTIFY_KAFKA_BROKERS="localhost:$EVENTIFY_KAFKA_PORT_1,localhost:$EVENTIFY_KAFKA_PORT_2,localhost:$EVENTIFY_KAFKA_PORT_3" \
  EVENTIFY_WEB_URL="http://localhost:$EVENTIFY_WEB_PORT" \
  /usr/bin/python3 -m pytest -p no:cacheprovider -m "not local_stack" "$root/tests/system"
