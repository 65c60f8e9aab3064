#!/usr/bin/env bash
# Installs whatever the project needs and is missing on Debian 12: apt packages, the Kafka
# broker jars (Maven Central, via infra/kafka/pom.xml), the trace backend (Jaeger, built
# with the Go module proxy), the web UI's npm packages and the
# Python tools that Debian does not package (schemathesis, into a virtual environment in the
# run folder).
# Idempotent: a second run checks and does nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
run=${EVENTIFY_RUN_DIR:-$root/.run}

packages=(
  build-essential cmake ninja-build pkg-config git
  librdkafka-dev libssl-dev libpq-dev libulfius-dev libmicrohttpd-dev libwslay-dev libgnutls28-dev
  libjansson-dev uuid-dev libcmocka-dev libunistring-dev libcurl4-gnutls-dev
  libprotobuf-c-dev protobuf-c-compiler
  postgresql postgresql-contrib supervisor kcat nginx openjdk-17-jre-headless maven
  prometheus
  python3 python3-pytest python3-confluent-kafka python3-psycopg2 python3-jsonschema
  python3-requests python3-websocket python3-venv
  python3-matplotlib
  chromium nodejs npm
  cppcheck clang-tidy clang-format clang libclang-rt-14-dev wrk hey valgrind gdb curl jq procps iproute2
  podman buildah runc podman-compose debootstrap
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A newer node/npm may already be on the machine outside apt: then Debian's is not needed.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -ra missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps: apt packages present"

# The jars follow the pom: a changed pom (its hash kept beside them) resolves them anew.
pom_hash=$(sha256sum "$root/infra/kafka/pom.xml" | cut -d' ' -f1)
if ! compgen -G "$run/kafka/lib/kafka_2.13-*.jar" >/dev/null ||
  [ "$(cat "$run/kafka/lib/.pom.sha256" 2>/dev/null)" != "$pom_hash" ]; then
  echo "deps: resolving the Kafka broker from Maven Central"
  rm -rf "$run/kafka/lib"
  mkdir -p "$run/kafka/lib"
  mvn -q -B -Dstyle.color=never -f "$root/infra/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$run/kafka/lib" -DincludeScope=runtime
  echo "$pom_hash" >"$run/kafka/lib/.pom.sha256"
fi
echo "deps: Kafka broker jars in $run/kafka/lib"

# The trace backend: Jaeger v2 built from its Go module (pinned in infra/jaeger/go.mod, a
# wrapper module whose one tool is cmd/jaeger) into the run folder, once: about five
# minutes on two cores; a changed go.sum builds it again. Needs Go >= 1.24 (the machine's
# /usr/local/go; Debian 12's golang is too old).
jaeger_bin=$run/jaeger/bin/jaeger
jaeger_stamp=$run/jaeger/bin/go.sum
if [ ! -x "$jaeger_bin" ] || ! cmp -s "$root/infra/jaeger/go.sum" "$jaeger_stamp"; then
  go=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go" ] || { echo "deps: Go >= 1.24 is needed to build the trace backend (Jaeger)" >&2; exit 1; }
  echo "deps: building the trace backend (Jaeger v2, go install; about five minutes the first time)"
  mkdir -p "$run/jaeger/bin"
  (cd "$root/infra/jaeger" && GOBIN="$run/jaeger/bin" GOFLAGS=-mod=readonly \
    "$go" install -trimpath -ldflags="-s -w" tool)
  cp "$root/infra/jaeger/go.sum" "$jaeger_stamp"
fi
echo "deps: Jaeger in $jaeger_bin"

for dir in web tests/browser; do
  if [ -f "$root/$dir/package-lock.json" ] && [ ! -d "$root/$dir/node_modules" ]; then
    echo "deps: npm ci in $dir"
    (cd "$root/$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

# The API fuzzer: schemathesis from PyPI, pinned, in a virtual environment of the run folder
# so that nothing is installed into the system's Python. requirements-api-fuzz.txt names it.
venv=$run/venv
reqs=$root/infra/scripts/requirements-api-fuzz.txt
if [ ! -x "$venv/bin/python" ]; then
  echo "deps: creating the virtual environment $venv"
  /usr/bin/python3 -m venv "$venv"   # Debian's Python (python3-venv), as the tests use
fi
if ! cmp -s "$reqs" "$venv/.requirements" 2>/dev/null; then
  echo "deps: pip install -r $reqs into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$venv/.requirements"
fi
echo "deps: schemathesis in $venv"
# The Compose file's validator (make compose-validate): check-jsonschema, which carries the
# Compose specification's schema, pinned in requirements-compose.txt, into the same environment.
reqs=$root/infra/scripts/requirements-compose.txt
if ! cmp -s "$reqs" "$venv/.requirements-compose" 2>/dev/null; then
  echo "deps: pip install -r $reqs into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$venv/.requirements-compose"
fi
echo "deps: check-jsonschema in $venv"
"$root/deploy/k8s/install-deps.sh" # kustomize, kubernetes-validate, the CRDs (make k8s-validate)
