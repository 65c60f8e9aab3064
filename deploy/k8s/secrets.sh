#!/usr/bin/env bash
# Writes the files that kustomize turns into the Secrets (secrets/kustomization.yaml): the
# admin token and one password per database role (the roles of infra/topology.json), each
# random. Existing files are kept, so running it again changes nothing; delete a file to get
# a new value. They are ignored by git and readable only by their owner.
#   deploy/k8s/secrets.sh            # then: kubectl apply -k deploy/k8s/overlays/prod
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$root/deploy/k8s/secrets
umask 077
random() { head -c 32 /dev/urandom | base64 | tr -d '/+=\n' | head -c 40; }
if [ ! -s "$dir/admin-token" ]; then
  random >"$dir/admin-token"
  echo "k8s: wrote a new admin token to deploy/k8s/secrets/admin-token"
fi
for role in $(jq -r '.services[].database' "$root/infra/topology.json"); do
  if [ ! -s "$dir/pg-$role.env" ]; then
    printf 'username=%s\npassword=%s\n' "$role" "$(random)" >"$dir/pg-$role.env"
    echo "k8s: wrote a new password for role $role to deploy/k8s/secrets/pg-$role.env"
  fi
done
