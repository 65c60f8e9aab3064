#!/usr/bin/env bash
# The local stack: PostgreSQL, a Kafka cluster (KRaft, 1 or 3 nodes), the seven services
# (1..9 instances each) and the web UI, all under one supervisord, all data and logs in .run/
# (or $EVENTIFY_RUN_DIR).
#   stack.sh up       start what is not running, wait until everything is ready, print URLs
#   stack.sh down     stop everything (data stays)
#   stack.sh status   what runs
#   stack.sh logs [name]
#   stack.sh prometheus-config   the Prometheus configuration `up` writes, on stdout
# Service settings come from the environment of `up` (docs/conventions.md).
# EVENTIFY_KAFKA_NODES (1 or 3) and EVENTIFY_REPLICAS (1..9) shape the stack (docs/reliability.md):
# Kafka node i listens on 9092+offset+10*(i-1) (controller 9093+...), instance k of a service
# on its port+10*(k-1); instance 1 keeps the plain names (program `order`, logs/order.log),
# instance k>1 is `order-k` (logs/order-k.log).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# Absolute, so that the walks up its parents below end at /.
run=$(realpath -m "${EVENTIFY_RUN_DIR:-$root/.run}")
# EVENTIFY_PORT_OFFSET shifts every port, so two checkouts can run a stack side by side.
port_offset=${EVENTIFY_PORT_OFFSET:-0}
pg_port=${EVENTIFY_PG_PORT:-$((5432 + port_offset))}
kafka_port=${EVENTIFY_KAFKA_PORT:-$((9092 + port_offset))}
controller_port=${EVENTIFY_KAFKA_CONTROLLER_PORT:-$((9093 + port_offset))}
web_port=${EVENTIFY_WEB_PORT:-$((3000 + port_offset))}
prometheus_port=${EVENTIFY_PROMETHEUS_PORT:-$((9090 + port_offset))}
# The trace backend (Jaeger v2, docs/observability.md): OTLP/HTTP in, query API, health.
otlp_port=$((4318 + port_offset))
trace_query_port=$((16686 + port_offset))
trace_grpc_port=$((16685 + port_offset))
trace_health_port=$((13133 + port_offset))
# Its binary: the run folder's own build, or the main run folder's (as the chaos stack shares
# the Kafka jars), or EVENTIFY_JAEGER_BIN.
jaeger_bin=${EVENTIFY_JAEGER_BIN:-$run/jaeger/bin/jaeger}
[ -x "$jaeger_bin" ] || [ -n "${EVENTIFY_JAEGER_BIN:-}" ] || jaeger_bin=$root/.run/jaeger/bin/jaeger
kafka_nodes=${EVENTIFY_KAFKA_NODES:-1}
replicas=${EVENTIFY_REPLICAS:-1}
# The broker jars: the run folder's own, or another run folder's (the chaos stack shares them).
kafka_lib=${EVENTIFY_KAFKA_LIB:-$run/kafka/lib}
pg_bin=/usr/lib/postgresql/15/bin
conf=$run/supervisor/supervisord.conf
# PostgreSQL refuses to run as root: as root it runs as Debian's `postgres` user.
if [ "$(id -u)" -eq 0 ]; then pg_os_user=postgres; else pg_os_user=$(id -un); fi
# Nothing else needs a privilege either (every port is above 1024): as root, the services,
# the Kafka nodes, Jaeger and Prometheus run as this system user (made at the first up),
# nginx as www-data; supervisord alone stays root, to start each as its user.
svc_user=""
[ "$(id -u)" -ne 0 ] || svc_user=${EVENTIFY_SERVICE_USER:-eventify}

say() { echo "stack: $*"; }
die() { echo "stack: $*" >&2; exit 1; }
sup() { supervisorctl -c "$conf" "$@"; }
sup_running() { [ -S "$run/supervisor/supervisor.sock" ] && sup pid >/dev/null 2>&1; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# reach USER PATH: give "search" permission on the way down to PATH where USER lacks it.
reach() {
  local d=$2
  while [ "$d" != / ]; do
    runuser -u "$1" -- test -x "$d" 2>/dev/null || chmod o+x "$d"
    d=$(dirname "$d")
  done
}

# As root: the service user exists, reaches the binaries and the run folder, owns what its
# processes write (Kafka's, Jaeger's and Prometheus' data, the services' log files) and may
# read the admin token (group-readable; the other secrets reach the services through
# supervisor's environment, whose file stays root's own) and PostgreSQL's socket folder.
init_service_user() {
  [ -n "$svc_user" ] || return 0
  id -u "$svc_user" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$svc_user" ||
    die "cannot create the system user $svc_user"
  reach "$svc_user" "$root/build/release/bin"
  reach "$svc_user" "$run/logs"
  reach "$svc_user" "$kafka_lib"
  reach "$svc_user" "$(dirname "$jaeger_bin")"
  reach "$svc_user" "$root/infra/prometheus"
  local program rest
  while read -r program rest; do
    touch "$run/logs/$program.log"
    chown "$svc_user:" "$run/logs/$program.log"
  done < <(instances)
  chown -R "$svc_user:" "$run/kafka" "$run/jaeger" "$run/prometheus"
  chgrp "$svc_user" "$run/pg-socket"
  chgrp "$svc_user" "$run/secrets" "$run/secrets/admin-token"
  chmod 750 "$run/secrets"
  chmod 640 "$run/secrets/admin-token"
}

# supervisor's user= line for a program of the service user (nothing when not root)
svc_user_line() { [ -z "$svc_user" ] || echo "user=$svc_user"; }

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
  say "$what ready"
}

# The services come from the topology table (libs/src/topology.c), exported as
# infra/topology.json: one "name port database" line each, ports shifted by the offset.
all_services() {
  jq -r --argjson offset "$port_offset" '.services[] | "\(.name) \(.httpPort + $offset) \(.database)"' \
    "$root/infra/topology.json"
}

services() { # the services to run: EVENTIFY_SERVICES or every service
  if [ -n "${EVENTIFY_SERVICES+set}" ]; then
    for s in $EVENTIFY_SERVICES; do all_services | grep -E "^$s[[:space:]]"; done
  else
    all_services
  fi
}

instances() { # every instance to run: "program service port database", instance 1 first
  local name port db k
  while read -r name port db; do
    for ((k = 1; k <= replicas; k++)); do
      if ((k == 1)); then echo "$name $name $port $db"; else echo "$name-$k $name $((port + 10 * (k - 1))) $db"; fi
    done
  done < <(services)
}

# --- the Kafka cluster ---------------------------------------------------------------------
# One node: program `kafka`, data in kafka/data (as before clusters). N nodes: programs
# kafka-1..kafka-N, data in kafka/cluster-N/node-i. A run folder keeps one node count
# (check_nodes).
node_port() { echo $((kafka_port + 10 * ($1 - 1))); }
node_controller_port() { echo $((controller_port + 10 * ($1 - 1))); }
node_program() { if ((kafka_nodes == 1)); then echo kafka; else echo "kafka-$1"; fi; }
node_dir() { if ((kafka_nodes == 1)); then echo "$run/kafka"; else echo "$run/kafka/cluster-$kafka_nodes/node-$1"; fi; }
node_data() { if ((kafka_nodes == 1)); then echo "$run/kafka/data"; else echo "$(node_dir "$1")/data"; fi; }
kafka_brokers() {
  local i list=""
  for ((i = 1; i <= kafka_nodes; i++)); do list+="${list:+,}localhost:$(node_port "$i")"; done
  echo "$list"
}

# Who may log in how, rewritten on every up (create_databases reloads it). On the socket the
# superuser is only for the accounts of pg_ident's "admins" map (root, postgres and the
# account that runs the stack, checked by the kernel: peer); every service role, on the
# socket as on TCP, gives its password (SCRAM).
write_pg_auth() {
  cat >"$run/pg/pg_hba.conf" <<HBA
# written by infra/scripts/stack.sh on every up
local all postgres           peer map=admins
local all all                scram-sha-256
host  all all 127.0.0.1/32   scram-sha-256
host  all all ::1/128        scram-sha-256
HBA
  {
    echo "# written by infra/scripts/stack.sh on every up"
    echo "admins postgres postgres"
    echo "admins root postgres"
    [ "$(id -u)" -eq 0 ] || echo "admins $(id -un) postgres"
  } >"$run/pg/pg_ident.conf"
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$run/pg/pg_hba.conf" "$run/pg/pg_ident.conf"
  chmod 600 "$run/pg/pg_hba.conf" "$run/pg/pg_ident.conf"
}

init_postgres() {
  mkdir -p "$run/pg" "$run/pg-socket" "$run/logs"
  # The postgres user must reach $run: give "search" permission on the way down if needed.
  [ "$(id -u)" -ne 0 ] || reach postgres "$run"
  if [ ! -f "$run/pg/PG_VERSION" ]; then
    say "initialising PostgreSQL in $run/pg"
    [ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$run/pg" "$run/pg-socket"
    chmod 700 "$run/pg"
    as_pg "$pg_bin/initdb" -D "$run/pg" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 >"$run/logs/initdb.log"
  fi
  write_pg_auth
  # The services reach PostgreSQL on its Unix socket: a round trip costs about 15 % less CPU
  # than on loopback TCP (the floor in docs/benchmarks.md). As root they run as $svc_user, which
  # reaches the socket through the folder's group (init_service_user); nobody else reaches it.
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$run/pg-socket"
  if [ "$(id -u)" -eq 0 ]; then chmod 750 "$run/pg-socket"; else chmod 700 "$run/pg-socket"; fi
  # Settings are rewritten on every up, so a changed port applies on the next start.
  cat >"$run/pg/eventify.conf" <<CONF
listen_addresses = 'localhost'
port = $pg_port
unix_socket_directories = '$run/pg-socket'
# per-statement counts for make bench (docs/benchmarks.md); a small constant cost per statement
shared_preload_libraries = 'pg_stat_statements'
max_connections = 300
shared_buffers = 256MB
wal_compression = lz4
checkpoint_timeout = 15min
max_wal_size = 2GB
log_min_duration_statement = 1000
CONF
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$run/pg/eventify.conf"
  grep -q "^include 'eventify.conf'" "$run/pg/postgresql.conf" ||
    echo "include 'eventify.conf'" >>"$run/pg/postgresql.conf"
}

init_kafka() {
  case $kafka_nodes in 1 | 3) ;; *) die "KAFKA_NODES must be 1 or 3 (got $kafka_nodes)" ;; esac
  mkdir -p "$run/kafka" "$run/logs"
  compgen -G "$kafka_lib/kafka_2.13-*.jar" >/dev/null ||
    die "Kafka jars missing in $kafka_lib: run infra/scripts/install-deps.sh (make deps)"
  local i voters="" rf=$kafka_nodes min_isr=1
  ((kafka_nodes == 1)) || min_isr=2
  for ((i = 1; i <= kafka_nodes; i++)); do voters+="${voters:+,}$i@localhost:$(node_controller_port "$i")"; done
  # One cluster id for every node of this cluster, kept beside its log directories. It is
  # passed as --cluster-id=ID: an id starting with "-" (1 in 64) would read as an option.
  local id_file=$run/kafka/cluster-id
  ((kafka_nodes == 1)) || id_file=$run/kafka/cluster-$kafka_nodes/cluster-id
  for ((i = 1; i <= kafka_nodes; i++)); do
    local dir data
    dir=$(node_dir "$i")
    data=$(node_data "$i")
    mkdir -p "$data"
    sed -e "s#@NODE_ID@#$i#g" -e "s#@VOTERS@#$voters#g" -e "s#@DATA@#$data#g" \
      -e "s#@KAFKA_PORT@#$(node_port "$i")#g" -e "s#@CONTROLLER_PORT@#$(node_controller_port "$i")#g" \
      -e "s#@RF@#$rf#g" -e "s#@MIN_ISR@#$min_isr#g" \
      "$root/infra/kafka/server.properties.in" >"$dir/server.properties"
    if [ ! -f "$data/meta.properties" ]; then
      if [ ! -s "$id_file" ]; then
        /usr/bin/python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))' >"$id_file"
      fi
      say "formatting Kafka storage of node $i in $data"
      java -cp "$kafka_lib/*" -Dlog4j2.configurationFile="$root/infra/kafka/log4j2.properties" \
        kafka.tools.StorageTool format --cluster-id="$(cat "$id_file")" -c "$dir/server.properties" \
        >"$run/logs/kafka-format.log" 2>&1 || die "Kafka storage format failed: see $run/logs/kafka-format.log"
    fi
  done
}

# Secrets, made once at the first up and kept readable by their owner only: the admin token,
# which guards every endpoint that changes state outside the customer API, and one random
# PostgreSQL password per database role (secrets/pg-<role>).
new_secret() { # FILE: 32 random bytes as hex, written owner-only
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1")
}

# Jaeger's configuration with this stack's ports (infra/jaeger/config.yaml.in).
init_jaeger() {
  [ -x "$jaeger_bin" ] || die "$jaeger_bin is missing: run infra/scripts/install-deps.sh (make deps)"
  mkdir -p "$run/jaeger"
  sed -e "s#@OTLP_PORT@#$otlp_port#g" -e "s#@QUERY_PORT@#$trace_query_port#g" \
    -e "s#@QUERY_GRPC_PORT@#$trace_grpc_port#g" -e "s#@HEALTH_PORT@#$trace_health_port#g" \
    -e "s#@MAX_TRACES@#${EVENTIFY_TRACE_MAX_TRACES:-5000}#g" \
    "$root/infra/jaeger/config.yaml.in" >"$run/jaeger/config.yaml"
}

init_secrets() {
  mkdir -p "$run/secrets"
  chmod 700 "$run/secrets"
  if [ ! -s "$run/secrets/admin-token" ]; then
    new_secret "$run/secrets/admin-token"
    say "generated the admin token in $run/secrets/admin-token"
  fi
  local name port db
  while read -r name port db; do
    if [ ! -s "$run/secrets/pg-$db" ]; then
      new_secret "$run/secrets/pg-$db"
      say "generated the PostgreSQL password of role $db in $run/secrets/pg-$db"
    fi
  done < <(all_services)
  chmod 600 "$run/secrets"/*
}

pg_password() { cat "$run/secrets/pg-$1"; }

service_env() { # PROGRAM PORT DATABASE -> supervisor environment= value
  local env="EVENTIFY_HTTP_PORT=\"$2\",EVENTIFY_KAFKA_BROKERS=\"$(kafka_brokers)\""
  env+=",EVENTIFY_ADMIN_TOKEN_FILE=\"$run/secrets/admin-token\""
  env+=",EVENTIFY_PG_HOST=\"$run/pg-socket\",EVENTIFY_PG_PORT=\"$pg_port\",EVENTIFY_PG_DATABASE=\"$3\""
  env+=",EVENTIFY_PG_USER=\"$3\",EVENTIFY_PG_PASSWORD=\"$(pg_password "$3")\",EVENTIFY_LOG_LEVEL=\"${EVENTIFY_LOG_LEVEL:-info}\""
  env+=",EVENTIFY_LOG_FILE=\"$run/logs/$1.log\""
  # Spans go to the stack's trace backend; EVENTIFY_OTLP_ENDPOINT= (empty) turns export off.
  env+=",EVENTIFY_OTLP_ENDPOINT=\"${EVENTIFY_OTLP_ENDPOINT-http://127.0.0.1:$otlp_port}\""
  # The web UI's pages are the only browser pages that may open the live-update WebSocket.
  # (every instance of the read model: its programs are read-model, read-model-2, ...)
  [[ $1 != read-model && $1 != read-model-* ]] ||
    env+=",EVENTIFY_WS_ALLOWED_ORIGINS=\"http://localhost:$web_port,http://127.0.0.1:$web_port\""
  local v
  for v in "${service_settings[@]}"; do
    [ -z "${!v:-}" ] || env+=",$v=\"${!v}\""
  done
  echo "$env"
}

# The service settings `up` passes on when they are set in its environment
# (docs/conventions.md); the stack sets the others itself (ports, database, brokers, log file).
service_settings=(EVENTIFY_HTTP_BIND EVENTIFY_HTTP_MAX_CONNECTIONS EVENTIFY_HTTP_THREADS
  EVENTIFY_HTTP_READ_TIMEOUT_S EVENTIFY_HTTP_BODY_TIMEOUT_MS EVENTIFY_PG_POOL_SIZE
  EVENTIFY_MAX_ATTEMPTS EVENTIFY_RETRY_BACKOFF_MS EVENTIFY_BATCH_WAIT_MS
  EVENTIFY_TRACE_SAMPLE_RATIO EVENTIFY_TRACE_QUEUE EVENTIFY_PAYMENT_LIMIT_CENTS
  EVENTIFY_SAGA_TIMEOUT_MS EVENTIFY_MODE EVENTIFY_SEED_CATALOG EVENTIFY_ADMISSION_MAX_DELAY_MS
  EVENTIFY_ADMISSION_MIN_BACKLOG EVENTIFY_WS_MAX_CLIENTS EVENTIFY_WS_QUEUE
  EVENTIFY_WS_PING_INTERVAL_MS EVENTIFY_WS_IDLE_TIMEOUT_MS)

# supervisord without any EVENTIFY_ variable: a program inherits supervisord's environment, and
# supervisord keeps the one of the `up` that started it. A setting given to that first `up` would
# otherwise stay with the services after a later `up` without it (the test settings of `make
# test` under a `make up`): the configuration written by the latest `up` is all they get.
start_supervisord() {
  local unset=() v
  for v in $(compgen -e); do [[ $v != EVENTIFY_* ]] || unset+=(-u "$v"); done
  env "${unset[@]}" supervisord -c "$conf"
}

# The UI's one origin: static pages, the read model under /api/, each other service under
# /api/<service>/ (prefix stripped: /api/order/orders -> order's /orders), the live stream
# at /ws. Page paths (/orders/, /notifications/, ...) are never proxied, so a direct visit or
# a reload shows the page. Each service is one upstream of all its instances (round robin; a
# request whose instance refuses the connection goes to the next). As root, nginx runs as www-data (supervisor starts it so, master
# and workers); otherwise as the user running the stack.

write_nginx_conf() {
  mkdir -p "$run/nginx/tmp" "$run/logs"
  local name port db k service_routes="" upstreams=""
  while read -r name port db; do
    upstreams+="  upstream $name {"$'\n'
    for ((k = 1; k <= replicas; k++)); do
      upstreams+="    server 127.0.0.1:$((port + 10 * (k - 1))) max_fails=1 fail_timeout=2s;"$'\n'
    done
    upstreams+="  }"$'\n'
    [ "$name" = read-model ] ||
      service_routes+="    location /api/$name/ { proxy_pass http://$name/; }"$'\n'
  done < <(all_services)
  # Next.js's static export inlines its bootstrap scripts and styles, hence 'unsafe-inline'
  # for those two; everything else comes from this origin only, and no site may frame it.
  local csp="default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
  csp+="; img-src 'self' data:; font-src 'self'; connect-src 'self' ws://\$host:\$server_port"
  csp+="; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
  cat >"$run/nginx/nginx.conf" <<CONF
# Serves the static web UI and proxies its API calls (generated by infra/scripts/stack.sh).
worker_processes 1;
pid $run/nginx/nginx.pid;
error_log $run/logs/nginx-error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  server_tokens off;
  client_body_temp_path $run/nginx/tmp/body;
  proxy_temp_path $run/nginx/tmp/proxy;
  fastcgi_temp_path $run/nginx/tmp/fastcgi;
  uwsgi_temp_path $run/nginx/tmp/uwsgi;
  scgi_temp_path $run/nginx/tmp/scgi;
$upstreams  server {
    listen 127.0.0.1:$web_port;
    root $root/web/out;
    add_header Content-Security-Policy "$csp" always;
    add_header X-Content-Type-Options nosniff always;
    add_header X-Frame-Options DENY always;
    add_header Referrer-Policy no-referrer always;
    location / { try_files \$uri \$uri.html \$uri/ =404; }
    error_page 404 /404.html;
    location /api/ { proxy_pass http://read-model; }
    # the trace backend's query API, for the order page's trace waterfall (read-only)
    location /trace/api/ { limit_except GET { deny all; }
      proxy_pass http://127.0.0.1:$trace_query_port/api/; }
$service_routes    location /prometheus/ { proxy_pass http://127.0.0.1:$prometheus_port; }
    location /ws { proxy_pass http://read-model; proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection "upgrade";
      proxy_read_timeout 1h; }
  }
}
CONF
  # nginx (as www-data when root) must read its configuration and the pages and write its
  # pid, temporary files and error log.
  if [ "$(id -u)" -eq 0 ]; then
    touch "$run/logs/nginx-error.log"
    chown -R www-data:www-data "$run/nginx"
    chown www-data:www-data "$run/logs/nginx-error.log"
    reach www-data "$root/web/out"
    [ ! -d "$root/web/out" ] || chmod -R o+rX "$root/web/out"
  fi
}

# --- Prometheus ------------------------------------------------------------------------------
# Scrapes every instance of every service (the topology's ports, shifted like the services')
# and evaluates the alert rules of infra/prometheus/alerts.yml. Its data stays in the run
# folder. It serves under /prometheus/ on its own port, so nginx (above) passes the UI's
# /prometheus/ to it unchanged and its pages' links work both ways.
prometheus_conf() {
  cat <<CONF
# Generated by infra/scripts/stack.sh from the topology: every instance of every service.
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
rule_files:
  - $root/infra/prometheus/alerts.yml
scrape_configs:
  - job_name: eventify
    metrics_path: /metrics
    static_configs:
CONF
  local program name port db
  while read -r program name port db; do
    printf '      - targets: ["localhost:%s"]\n        labels: {program: "%s"}\n' "$port" "$program"
  done < <(instances)
}

write_prometheus_conf() {
  mkdir -p "$run/prometheus/data"
  prometheus_conf >"$run/prometheus/prometheus.yml.new"
  mv "$run/prometheus/prometheus.yml.new" "$run/prometheus/prometheus.yml"
}

prometheus_ready() { curl -sf -o /dev/null --max-time 2 "http://localhost:$prometheus_port/prometheus/-/ready"; }

write_supervisor_conf() {
  mkdir -p "$run/supervisor" "$run/logs"
  local names=() name port db
  {
    cat <<CONF
; Generated by infra/scripts/stack.sh: every process of the local stack.
[unix_http_server]
file=$run/supervisor/supervisor.sock
[supervisord]
logfile=$run/logs/supervisord.log
; the services inherit this open-file limit: thousands of client connections each
minfds=16384
pidfile=$run/supervisor/supervisord.pid
childlogdir=$run/logs
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://$run/supervisor/supervisor.sock

[program:jaeger]
command=$jaeger_bin --config $run/jaeger/config.yaml
; One Go scheduler thread instead of one per core. With two, each garbage collection claims a
; whole core for its dedicated mark worker, and the saga's processes wait: at 250 orders/s p99
; was 190-446 ms with two and 157-283 ms with one, Jaeger's own CPU the same
; (docs/benchmarks.md, 2026-11-27).
environment=GOMAXPROCS="1"
$(svc_user_line)
priority=15
autorestart=true
stopwaitsecs=10
redirect_stderr=true
stdout_logfile=$run/logs/jaeger.log
stdout_logfile_maxbytes=10MB

[program:postgres]
command=$pg_bin/postgres -D $run/pg
user=$pg_os_user
priority=10
stopsignal=INT
stopwaitsecs=60
autorestart=true
redirect_stderr=true
stdout_logfile=$run/logs/postgres.log

CONF
    local i heap="-Xms256m -Xmx512m" stopwait=60 nodes=()
    # Three JVMs share two cores: smaller heaps, and a bounded stop (see down()).
    ((kafka_nodes == 1)) || { heap="-Xms128m -Xmx384m"; stopwait=20; }
    # The serial collector: on two cores with a heap under 512 MB, G1's concurrent threads and
    # write barriers cost steady CPU for pauses this heap does not have (docs/benchmarks.md,
    # "What moved the cost").
    local kafka_jvm="-XX:+UseSerialGC"
    for ((i = 1; i <= kafka_nodes; i++)); do
      nodes+=("$(node_program "$i")")
      cat <<CONF

[program:$(node_program "$i")]
command=java $heap $kafka_jvm -Dlog4j2.configurationFile=$root/infra/kafka/log4j2.properties -cp "$kafka_lib/*" kafka.Kafka $(node_dir "$i")/server.properties
$(svc_user_line)
priority=20
stopwaitsecs=$stopwait
autorestart=true
redirect_stderr=true
stdout_logfile=$run/logs/$(node_program "$i").log
stdout_logfile_maxbytes=50MB
CONF
    done
    ((kafka_nodes == 1)) || printf '\n[group:kafka]\nprograms=%s\n' "$(IFS=,; echo "${nodes[*]}")"
    local program service
    while read -r program service port db; do
      names+=("$program")
      cat <<CONF

[program:$program]
command=$root/build/release/bin/eventify-$service
environment=$(service_env "$program" "$port" "$db")
$(svc_user_line)
autostart=false
autorestart=true
startsecs=1
startretries=100
stopsignal=TERM
stopwaitsecs=20
redirect_stderr=true
stdout_logfile=$run/logs/$program.stdout.log
stdout_logfile_maxbytes=10MB
CONF
    done < <(instances)
    if ((${#names[@]})); then
      printf '\n[group:services]\nprograms=%s\n' "$(IFS=,; echo "${names[*]}")"
    fi
    cat <<CONF

[program:prometheus]
command=/usr/bin/prometheus --config.file=$run/prometheus/prometheus.yml --storage.tsdb.path=$run/prometheus/data --storage.tsdb.retention.time=7d --web.listen-address=127.0.0.1:$prometheus_port --web.external-url=http://localhost:$prometheus_port/prometheus/
$(svc_user_line)
autostart=false
autorestart=true
stopwaitsecs=20
redirect_stderr=true
stdout_logfile=$run/logs/prometheus.log
stdout_logfile_maxbytes=10MB
CONF
    if [ -d "$root/web/out" ]; then
      cat <<CONF

[program:web]
command=/usr/sbin/nginx -e $run/logs/nginx-error.log -c $run/nginx/nginx.conf -g "daemon off;"
$([ "$(id -u)" -ne 0 ] || echo "user=www-data")
autostart=false
autorestart=true
redirect_stderr=true
stdout_logfile=$run/logs/web.log
CONF
    fi
  } >"$conf.new"
  chmod 600 "$conf.new" # it holds the database passwords
  mv "$conf.new" "$conf"
}

# Roles log in with their random password (secrets/pg-<role>); it is set on every up, so a
# stack made when passwords equalled role names gets them too, and a rotated file applies.
# The password goes to psql on stdin, never on a command line.
create_databases() {
  local name port db
  as_pg "$pg_bin/../bin/psql" -h "$run/pg-socket" -p "$pg_port" -U postgres -d postgres -qAt \
    -c "SELECT pg_reload_conf()" >/dev/null || die "cannot reload PostgreSQL's settings"
  while read -r name port db; do
    as_pg "$pg_bin/../bin/psql" -h "$run/pg-socket" -p "$pg_port" -U postgres -d postgres -qAt \
      -v ON_ERROR_STOP=1 -v db="$db" >/dev/null <<SQL
SELECT format('CREATE ROLE %I LOGIN', :'db')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'db') \\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'db', '$(pg_password "$db")') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'db')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec
SQL
  done < <(all_services)
  say "databases and roles present, role passwords set"
}

http_ready() { curl -sf -o /dev/null --max-time 2 "http://localhost:$1/ready"; }

# The shape of the running stack, so that an up with another node count is refused instead
# of leaving two clusters half started.
shape_file() { echo "$run/supervisor/shape"; }

# The databases of a run folder follow the events of one cluster (the read model is rebuilt
# from its log, the seed products are events on it), so a run folder keeps the node count it
# was first started with: another count needs another folder (EVENTIFY_RUN_DIR).
nodes_file() { echo "$run/kafka/nodes"; }

check_nodes() {
  local first
  if [ -f "$(nodes_file)" ]; then
    first=$(cat "$(nodes_file)")
  elif [ -f "$run/kafka/data/meta.properties" ]; then
    first=1 # a run folder from before clusters
  else
    mkdir -p "$run/kafka" && echo "$kafka_nodes" >"$(nodes_file)"
    return 0
  fi
  [ "$first" = "$kafka_nodes" ] ||
    die "$run holds the data of a $first-node Kafka cluster and databases that follow its events: run KAFKA_NODES=$first here, or use another run folder (EVENTIFY_RUN_DIR=.run-$kafka_nodes make up KAFKA_NODES=$kafka_nodes)"
  [ -f "$(nodes_file)" ] || echo "$first" >"$(nodes_file)"
}

check_shape() {
  [[ $replicas =~ ^[1-9]$ ]] || die "REPLICAS must be 1..9 (got $replicas)"
  check_nodes
  if sup_running && [ -f "$(shape_file)" ]; then
    local running
    running=$(cat "$(shape_file)")
    [ "$running" = "$kafka_nodes" ] ||
      die "the stack runs with KAFKA_NODES=$running: make down first, then make up KAFKA_NODES=$kafka_nodes"
  fi
}

up() {
  local name port db program i
  check_shape
  while read -r name port db; do
    [ -x "$root/build/release/bin/eventify-$name" ] ||
      die "build/release/bin/eventify-$name is missing: build first (make build)"
  done < <(services)
  init_secrets
  init_postgres
  init_kafka
  init_jaeger
  write_nginx_conf
  write_prometheus_conf
  write_supervisor_conf
  init_service_user
  if sup_running; then
    sup reread >/dev/null && sup update >/dev/null
    sup start postgres >/dev/null 2>&1 || true
    sup start jaeger >/dev/null 2>&1 || true
    for ((i = 1; i <= kafka_nodes; i++)); do sup start "$(node_program "$i")" >/dev/null 2>&1 || true; done
  else
    if ss -Hltn "sport = :$pg_port" | grep -q .; then
      die "port $pg_port is taken by another PostgreSQL (Debian's own cluster? pg_lsclusters)"
    fi
    say "starting supervisord"
    start_supervisord
  fi
  echo "$kafka_nodes" >"$(shape_file)"
  wait_for 60 "PostgreSQL" "$pg_bin/pg_isready" -q -h localhost -p "$pg_port" ||
    die "PostgreSQL did not start: $(tail -n 20 "$run/logs/postgres.log")"
  create_databases
  wait_for 60 "trace backend (Jaeger)" curl -sf -o /dev/null "http://127.0.0.1:$trace_health_port/status" ||
    die "Jaeger did not start: $(tail -n 20 "$run/logs/jaeger.log")"
  for ((i = 1; i <= kafka_nodes; i++)); do
    wait_for 120 "Kafka node $i" kcat -b "localhost:$(node_port "$i")" -L -m 2 ||
      die "Kafka node $i did not start: $(tail -n 20 "$run/logs/$(node_program "$i").log")"
  done
  EVENTIFY_KAFKA_BROKERS="$(kafka_brokers)" EVENTIFY_KAFKA_NODES=$kafka_nodes \
    /usr/bin/python3 "$root/infra/scripts/topics.py" || die "creating the Kafka topics failed"
  restart_rebuilt
  while read -r program name port db; do
    sup start "services:$program" >/dev/null 2>&1 || true
  done < <(instances)
  while read -r program name port db; do
    wait_for 90 "$program on :$port" http_ready "$port" || {
      tail -n 20 "$run/logs/$program.log" "$run/logs/$program.stdout.log" >&2 2>/dev/null
      die "$program did not become ready"
    }
  done < <(instances)
  sup signal HUP prometheus >/dev/null 2>&1 || true # a running one rereads its targets
  sup start prometheus >/dev/null 2>&1 || true
  wait_for 60 "Prometheus on :$prometheus_port" prometheus_ready ||
    die "Prometheus did not start: $(tail -n 20 "$run/logs/prometheus.log")"
  if [ -d "$root/web/out" ]; then
    sup signal HUP web >/dev/null 2>&1 || true # a running nginx rereads its configuration
    sup start web >/dev/null 2>&1 || true
    wait_for 20 "web UI on :$web_port" curl -sf -o /dev/null "http://localhost:$web_port/"
  fi
  print_urls
}

print_urls() {
  echo
  echo "Eventify Commerce is up:"
  [ -d "$root/web/out" ] && echo "  web UI         http://localhost:$web_port"
  local program name port db
  while read -r program name port db; do printf '  %-14s http://localhost:%s\n' "$program" "$port"; done < <(instances)
  echo "  Prometheus     http://localhost:$prometheus_port/prometheus/   (alerts: .../classic/alerts; also the web UI's /prometheus/)"
  echo "  Kafka          $(kafka_brokers) ($kafka_nodes node(s))"
  echo "  traces         http://localhost:$trace_query_port/api/traces?service=order  (Jaeger query API; OTLP in on :$otlp_port; the UI's order page draws each order's trace)"
  echo "  PostgreSQL     localhost:$pg_port (database = role, e.g. orders; password in $run/secrets/pg-<role>)"
  echo "  logs           $run/logs   (make logs SERVICE=order)"
  echo "  admin token    $(cat "$run/secrets/admin-token")   (Authorization: Bearer <token>; kept in $run/secrets/admin-token)"
}

down() {
  if ! sup_running; then say "stack is down"; return 0; fi
  local pid
  pid=$(cat "$run/supervisor/supervisord.pid" 2>/dev/null || true)
  # Services first, so they finish their transactions while Kafka and PostgreSQL still run.
  sup stop web prometheus services:* >/dev/null 2>&1 || true
  stop_kafka
  sup shutdown >/dev/null
  local deadline=$((SECONDS + 90))
  while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || die "supervisord (pid $pid) did not stop"
    sleep 0.2
  done
  say "stopped (data kept in $run)"
}

# Kafka nodes one at a time, the highest id first. The last node of a KRaft quorum can wait
# for a controller that is gone (its controlled shutdown never completes): supervisor waits
# stopwaitsecs (20 s with 3 nodes), then SIGKILLs it; the node recovers its log at the next
# start. The one-node program `kafka` stops within its 60 s.
stop_kafka() {
  local programs
  # (supervisorctl status exits non-zero once anything is stopped: hence the `|| true`)
  programs=$({ sup status 2>/dev/null || true; } | awk '$1 ~ /^kafka(:kafka-[0-9]+)?$/ { print $1 }' | sort -r)
  local p started
  for p in $programs; do
    started=$SECONDS
    sup stop "$p" >/dev/null 2>&1 || true
    say "Kafka $p stopped in $((SECONDS - started))s"
  done
}

# Restarts every running service instance whose binary was built after the instance started:
# supervisor restarts a program whose configuration changed, not one whose binary did, so
# without this `make up` after a change went on running the old build.
restart_rebuilt() {
  sup_running || return 0
  local program name port db pid age now
  now=$(date +%s)
  while read -r program name port db; do
    pid=$(sup pid "services:$program" 2>/dev/null) || true
    [[ $pid =~ ^[1-9][0-9]*$ ]] || continue # 0 or an error: not running
    age=$(ps -o etimes= -p "$pid") || continue
    if (($(stat -c %Y "$root/build/release/bin/eventify-$name") > now - age)); then
      say "restarting $program: built anew since it started"
      sup restart "services:$program" >/dev/null
    fi
  done < <(instances)
}

status() { if sup_running; then sup status || true; else say "stack is down"; fi; }

logs() {
  if [ -n "${1:-}" ]; then tail -n 100 -F "$run/logs/$1.log"; else tail -n 20 -F "$run"/logs/*.log; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) logs "${2:-}" ;;
  prometheus-config) prometheus_conf ;;
  restart-rebuilt) restart_rebuilt ;;
  *) die "usage: stack.sh up|down|status|logs [name]|prometheus-config|restart-rebuilt" ;;
esac
