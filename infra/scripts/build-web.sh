#!/usr/bin/env bash
# Builds the web UI's static export into web/out (skipped when nothing changed since the
# last build). Its npm packages are installed by install-deps.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/web"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
if [ -f out/index.html ] && [ -z "$(find app lib components package-lock.json next.config.mjs \
  -newer out/index.html -print -quit)" ]; then
  echo "web: up to date"
  exit 0
fi
echo "web: building the static export"
NEXT_TELEMETRY_DISABLED=1 npx --no-install next build >"$root/web/.build.log" 2>&1 ||
  { tail -n 40 "$root/web/.build.log" >&2; exit 1; }
echo "web: built into web/out"
