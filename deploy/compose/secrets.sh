#!/usr/bin/env bash
# Makes the secrets of the Compose stack once (compose.yaml mounts them at /run/secrets/):
# the admin token and one random password per database role, 32 random bytes as hex each, in
# ${EVENTIFY_SECRETS_DIR:-.run/compose/secrets}. Existing files are kept.
# The folder is owner-only; the files in it are world-readable because each container reads
# its bind-mounted secret as its own non-root user (the folder still hides them on the host).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${EVENTIFY_SECRETS_DIR:-$root/.run/compose/secrets}
mkdir -p "$dir"
chmod 700 "$dir"
for name in admin-token pg-orders pg-orchestrator pg-inventory pg-shipping pg-payments \
  pg-readmodel pg-notifications; do
  if [ ! -s "$dir/$name" ]; then
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/$name"
    echo "secrets: generated $dir/$name"
  fi
  chmod 644 "$dir/$name"
done
