#!/usr/bin/env bash
# Runs the browser tests (tests/browser, node's test runner, playwright-core with Debian's
# chromium) against the running stack; screenshots land in tests/browser/artifacts/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
port_offset=${EVENTIFY_PORT_OFFSET:-0}
export EVENTIFY_WEB_URL=${EVENTIFY_WEB_URL:-http://localhost:$((3000 + port_offset))}
export EVENTIFY_KAFKA_BROKERS=${EVENTIFY_KAFKA_BROKERS:-localhost:$((9092 + port_offset))}
cd "$root/tests/browser"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
exec node --test --test-concurrency=1 .
