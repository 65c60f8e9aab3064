#!/usr/bin/env bash
# What `make k8s-validate` needs, installed once into the run folder (called by
# infra/scripts/install-deps.sh; idempotent):
#  - kustomize: kubectl's built-in one when a kubectl is on the PATH, otherwise kustomize
#    built from the Go module proxy into .run/bin (once);
#  - kubernetes-validate (PyPI) into .run/venv;
#  - the CloudNativePG CRDs: the cloudnative-pg Go module (its config/crd/bases), fetched with
#    `go mod download` into .run/gomod;
#  - the Strimzi CRD schemas: @kubernetes-models/strimzi-kafka-operator and TypeScript (npm)
#    in deploy/k8s/crd-validate.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
run=${EVENTIFY_RUN_DIR:-$root/.run}
here=$root/deploy/k8s
KUSTOMIZE_VERSION=v5.5.0
CNPG_VERSION=v1.27.1

# Go: on the PATH, or where the Go distribution installs itself (a non-interactive shell may
# not have it on the PATH), or else Debian's.
go_bin() {
  local go
  go=$(command -v go || true)
  [ -n "$go" ] || [ ! -x /usr/local/go/bin/go ] || go=/usr/local/go/bin/go
  if [ -z "$go" ]; then
    echo "deps: installing Debian's golang-go (for the Go module proxy)" >&2
    local sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
    $sudo_ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq \
      --no-install-recommends golang-go >/dev/null
    go=$(command -v go)
  fi
  echo "$go"
}

if ! kubectl kustomize --help >/dev/null 2>&1 && [ ! -x "$run/bin/kustomize" ]; then
  echo "deps: building kustomize $KUSTOMIZE_VERSION from the Go module proxy into $run/bin"
  GOBIN=$run/bin GOMODCACHE=$run/gomod GOFLAGS=-modcacherw \
    "$(go_bin)" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

venv=$run/venv
if ! cmp -s "$here/requirements.txt" "$venv/.requirements-k8s" 2>/dev/null; then
  echo "deps: pip install -r deploy/k8s/requirements.txt into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/.requirements-k8s"
fi

crds=$run/gomod/github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION/config/crd/bases
if [ ! -f "$crds/postgresql.cnpg.io_clusters.yaml" ]; then
  echo "deps: the CloudNativePG $CNPG_VERSION CRDs (Go module) into $run/gomod"
  go=$(go_bin)
  (cd "$run" && GOMODCACHE=$run/gomod GOFLAGS=-modcacherw \
    "$go" mod download "github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION")
fi
echo "$crds" >"$run/cnpg-crds.path"

lock=$here/crd-validate/package-lock.json
if ! cmp -s "$lock" "$here/crd-validate/node_modules/.eventify-lock" 2>/dev/null; then
  echo "deps: npm ci in deploy/k8s/crd-validate"
  (cd "$here/crd-validate" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$here/crd-validate/node_modules/.eventify-lock"
fi
echo "deps: Kubernetes validation tools present"
