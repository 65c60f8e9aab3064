#!/usr/bin/env bash
# Builds the container images of the Compose stack with podman (docs/deploy.md):
#   images.sh base    the base image debian:bookworm-slim, made locally by debootstrap from
#                     Debian's mirror (no registry is reachable here), once
#   images.sh build   base, then every image of deploy/docker/ (cached, incremental)
#   images.sh sizes   one "image size" line per image
# Also writes /etc/containers/containers.conf when it lacks the settings podman needs on this
# kind of machine (root only): runc, cgroupfs, ulimits below the host's hard limits.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
run=$(realpath -m "${EVENTIFY_RUN_DIR:-$root/.run}")
base=debian:bookworm-slim
# The image names the Dockerfiles and compose.yaml use; tag prefix localhost/ is podman's own.
services=(order inventory payment shipping notification read-model orchestrator)
say() { echo "images: $*"; }
die() { echo "images: $*" >&2; exit 1; }

containers_conf() {
  local conf=/etc/containers/containers.conf
  if [ -f "$conf" ] && grep -q '^runtime *= *"runc"' "$conf" && grep -q 'nofile=20000:20000' "$conf" &&
    grep -q '^cgroup_manager *= *"cgroupfs"' "$conf"; then
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || { say "warning: $conf lacks runc/cgroupfs/ulimits (needs root to write)"; return 0; }
  [ ! -f "$conf" ] || cp "$conf" "$conf.before-eventify"
  mkdir -p /etc/containers
  # crun fails on hybrid cgroups and podman's default ulimits exceed this host's hard limits.
  cat >"$conf" <<CONF
# Written by eventify infra/scripts/images.sh (a previous file, if any: $conf.before-eventify)
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
  say "wrote $conf"
}

# The mirror this machine's apt uses (deb822 sources or the classic list), else Debian's.
debian_mirror() {
  local m
  m=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    grep -v security | head -n1 | tr -d ' ')
  echo "${m:-http://deb.debian.org/debian}"
}

base_image() {
  containers_conf
  if podman image exists "docker.io/library/$base"; then return 0; fi
  command -v debootstrap >/dev/null || die "debootstrap missing: make deps"
  local dir=$run/images/rootfs mirror
  mirror=$(debian_mirror)
  rm -rf "$dir" && mkdir -p "$dir"
  say "debootstrap --variant=minbase bookworm from $mirror (once)"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$run/images/debootstrap.log" 2>&1 ||
    die "debootstrap failed: see $run/images/debootstrap.log"
  # Slim it as the official image does: no apt lists, docs or locales beyond C.
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* \
    "$dir"/var/log/*.log
  # As in Debian's official image: apt keeps no downloaded packages, dpkg installs no docs,
  # man pages or translations, so that images built on it stay small.
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
CONF
  echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CONF
  # The host's own trust anchors (/usr/local/share/ca-certificates: on this machine Maven
  # Central and npm are reached through a TLS-inspecting proxy), so that the build stages'
  # ca-certificates trusts what the host trusts. Debian's image has none.
  mkdir -p "$dir/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/" 2>/dev/null || true
  echo "deb $mirror bookworm main" >"$dir/etc/apt/sources.list"
  echo "deb $mirror bookworm-updates main" >>"$dir/etc/apt/sources.list"
  tar -C "$dir" -c . | podman import --quiet --change 'CMD ["bash"]' - "docker.io/library/$base" >/dev/null
  rm -rf "$dir"
  say "imported $base ($(podman image inspect --format '{{.Size}}' "docker.io/library/$base") bytes)"
}

# IMAGE DOCKERFILE [TARGET]: one image, tagged localhost/eventify/IMAGE. Docker's image format,
# so that HEALTHCHECK is kept (podman's default OCI format drops it). Layers are cached: an
# unchanged image costs seconds, and the seven services share one builder stage.
build_one() {
  local image=$1 dockerfile=$2 target=${3:-}
  local started=$SECONDS
  podman build --quiet --format docker --layers -f "$root/deploy/docker/$dockerfile" \
    ${target:+--target "$target"} -t "localhost/eventify/$image:latest" "$root" \
    >"$run/images/build-$image.log" 2>&1 ||
    { tail -n 30 "$run/images/build-$image.log" >&2; die "building $image failed: see $run/images/build-$image.log"; }
  say "$image built in $((SECONDS - started))s"
}

build() {
  base_image
  mkdir -p "$run/images"
  local s
  for s in "${services[@]}"; do build_one "$s" services.Dockerfile "$s"; done
  build_one topics services.Dockerfile topics
  build_one postgres postgres.Dockerfile
  build_one kafka kafka.Dockerfile
  build_one web web.Dockerfile
}

sizes() {
  local image
  for image in "${services[@]}" topics postgres kafka web; do
    podman image inspect --format "{{.Size}}" "localhost/eventify/$image:latest" 2>/dev/null |
      awk -v i="$image" '{ printf "%-13s %4.0f MB\n", i, $1 / 1e6 }'
  done
  podman image inspect --format "{{.Size}}" "docker.io/library/$base" |
    awk -v i="$base" '{ printf "%-13s %4.0f MB (base)\n", i, $1 / 1e6 }'
}

case "${1:-}" in
  base) base_image ;;
  build) build ;;
  sizes) sizes ;;
  *) die "usage: images.sh base|build|sizes" ;;
esac
