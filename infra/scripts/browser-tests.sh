#!/usr/bin/env bash
# Runs the browser tests (tests/browser, node's test runner, playwright-core with Debian's
# chromium) against the running stack; screenshots land in tests/browser/artifacts/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/tests/browser"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
exec node --test --test-concurrency=1 .
