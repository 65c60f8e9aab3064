#!/bin/sh
# Entry point of the service images: a secret mounted as a file (Compose or Kubernetes) becomes
# the environment variable the service reads, then the service replaces this shell.
#   EVENTIFY_PG_PASSWORD_FILE -> EVENTIFY_PG_PASSWORD
# (the admin token is read from its file by the service itself: EVENTIFY_ADMIN_TOKEN_FILE)
set -eu
if [ -n "${EVENTIFY_PG_PASSWORD_FILE:-}" ]; then
  EVENTIFY_PG_PASSWORD=$(cat "$EVENTIFY_PG_PASSWORD_FILE")
  export EVENTIFY_PG_PASSWORD
fi
exec "$@"
