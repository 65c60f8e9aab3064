#!/bin/sh
# PostgreSQL for the Compose stack: initialises $PGDATA once, then, on every start and before
# accepting connections from the network, makes sure each role and database of
# POSTGRES_DATABASES ("orders inventory ...") exists and that each role's password is the
# content of $POSTGRES_SECRETS_DIR/pg-<role> (a Compose secret), so a rotated secret applies at
# the next start. Passwords go to psql on stdin, never on a command line.
set -eu
# The socket lives in /tmp (a tmpfs with a read-only root file system); PGHOST points psql there.
export PGHOST=/tmp
bin=/usr/lib/postgresql/15/bin
secrets=${POSTGRES_SECRETS_DIR:-/run/secrets}
: "${POSTGRES_DATABASES:?names of the databases, one role each}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  "$bin/initdb" -D "$PGDATA" -U postgres -E UTF8 --no-locale --auth-local=trust \
    --auth-host=scram-sha-256 >/dev/null
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
unix_socket_directories = '/tmp'
max_connections = 300
log_min_duration_statement = 1000
CONF
fi
# Set up on the local socket only, then restart listening on the network.
"$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
for db in $POSTGRES_DATABASES; do
  [ -s "$secrets/pg-$db" ] || { echo "postgres: missing secret $secrets/pg-$db" >&2; exit 1; }
  { printf '\\set pw `cat %s`\n' "$secrets/pg-$db"; cat <<SQL; } | "$bin/../bin/psql" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 -v db="$db" >/dev/null
SELECT format('CREATE ROLE %I LOGIN', :'db')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'db') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'db', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'db')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
done
"$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
echo "postgres: roles and databases present: $POSTGRES_DATABASES"
exec "$bin/postgres" -D "$PGDATA"
