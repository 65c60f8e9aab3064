#!/usr/bin/env bash
# `make k8s-validate`: renders every overlay and validates it offline (validate.py), with
# the tools deploy/k8s/install-deps.sh put in the run folder. Secrets are made first when
# missing (secrets.sh), since kustomize reads them.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
run=${EVENTIFY_RUN_DIR:-$root/.run}
"$root/deploy/k8s/install-deps.sh" >/dev/null
"$root/deploy/k8s/secrets.sh" >/dev/null
if kubectl kustomize --help >/dev/null 2>&1; then
  kustomize=(kubectl kustomize)
else
  kustomize=("$run/bin/kustomize" build)
fi
export EVENTIFY_CNPG_CRDS=$(cat "$run/cnpg-crds.path")
export EVENTIFY_STRIMZI_VALIDATOR=$root/deploy/k8s/crd-validate/strimzi.mjs
"$run/venv/bin/python" "$root/deploy/k8s/validate.py" "${kustomize[@]}"
# The same checks on a copy with a planted fault for each: they must all be reported.
"$run/venv/bin/python" "$root/deploy/k8s/validate.py" --self-test "${kustomize[@]}"
