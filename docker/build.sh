#!/usr/bin/env bash
# Builds this project's Caffe image from docker/Dockerfile, on Debian bookworm:
#   docker/build.sh cpu     -> dilation-caffe:cpu       (any machine; 15-25 min the first time)
#   docker/build.sh cuda    -> dilation-caffe:cuda11.8  (Ampere, Ada, Hopper; about an hour)
# Only a Debian mirror and the Python package index are needed.  The base is
# `debian:bookworm`, pulled when it can be; where it cannot (no route to Docker
# Hub), the base is made from the Debian mirror with debootstrap and
# `docker import` (tagged dilation-caffe:bookworm-base; needs root or sudo).
# The mirror is DEBIAN_MIRROR, else the one this machine's apt sources use.
# Rebuilding after a change of the project's code reuses the cached Caffe layer.
# Environment: DILATION_BASE, a base image to use instead (any Debian bookworm).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[docker/build] $*" >&2; }
die() { echo "docker/build.sh: error: $*" >&2; exit 2; }
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

case ${1:-} in
  cpu) flavour=cpu tag=dilation-caffe:cpu ;;
  cuda) flavour=cuda tag=dilation-caffe:cuda11.8 ;;
  *) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
command -v docker >/dev/null || die "no docker command: install Docker (on Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "no Docker Engine answers: start it (dockerd, or systemctl start docker), or add yourself to the docker group"

mirror() { DEBIAN_MIRROR=${DEBIAN_MIRROR:-} bash "$repo/tools/install_caffe.sh" --print-mirror 2>/dev/null \
             || die "no Debian mirror in /etc/apt/sources.list*: set DEBIAN_MIRROR to a Debian mirror URI"; }

base_image() {
  local made=dilation-caffe:bookworm-base
  if [ -n "${DILATION_BASE:-}" ]; then echo "$DILATION_BASE"; return; fi
  for image in debian:bookworm "$made"; do
    docker image inspect "$image" >/dev/null 2>&1 && { echo "$image"; return; }
  done
  if docker pull -q debian:bookworm >/dev/null 2>&1; then echo debian:bookworm; return; fi
  local uri root
  uri=$(mirror)
  log "debian:bookworm cannot be pulled here: making the base from $uri with debootstrap (a few minutes, once)"
  command -v debootstrap >/dev/null || { sudo_if apt-get update -qq && sudo_if apt-get install -y -qq debootstrap >/dev/null; } \
    || die "debootstrap is missing and could not be installed: apt-get install debootstrap"
  root=$(mktemp -d)
  trap 'sudo_if rm -rf --one-file-system "$root"' EXIT
  sudo_if debootstrap --variant=minbase bookworm "$root" "$uri" >"$root.log" 2>&1 \
    || die "debootstrap from $uri failed: see $root.log"
  rm -f "$root.log"
  sudo_if rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
  sudo_if tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$made" >/dev/null
  sudo_if rm -rf --one-file-system "$root"
  trap - EXIT
  echo "$made"
}

# The build context, staged so that only what the image needs reaches the daemon
# (no data, snapshots or .venv): COPY layers are cached by content.
ctx=$(mktemp -d)
cleanup() { rm -rf "$ctx"; }
trap cleanup EXIT
base=$(base_image)
mkdir -p "$ctx/host" "$ctx/project"
cp "$repo/tools/install_caffe.sh" "$ctx/"
(cd "$repo" && cp -r pyproject.toml README.md prototxt_gen tools "$ctx/project/")
find "$ctx/project" -name __pycache__ -prune -exec rm -rf {} +
# pyproject.toml alone (its readme empty): the dependency layer's cache then
# keys on the dependencies, not on every change of the project.
mkdir -p "$ctx/deps"
cp "$repo/pyproject.toml" "$ctx/deps/"
: > "$ctx/deps/README.md"
: > "$ctx/host/env.sh"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/host/"
  echo "export PIP_CERT=/opt/host/ca-certificates.crt" >> "$ctx/host/env.sh"
fi
for conf in /etc/pip.conf "${PIP_CONFIG_FILE:-}"; do
  if [ -n "$conf" ] && [ -f "$conf" ]; then
    cp "$conf" "$ctx/host/pip.conf"
    echo "export PIP_CONFIG_FILE=/opt/host/pip.conf" >> "$ctx/host/env.sh"
    break
  fi
done

args=(--build-arg "BASE=$base" --build-arg "FLAVOUR=$flavour")
[ -n "${DEBIAN_MIRROR:-}" ] && args+=(--build-arg "DEBIAN_MIRROR=$DEBIAN_MIRROR")
log "building $tag on $base"
start=$(date +%s)
docker build -t "$tag" "${args[@]}" -f "$repo/docker/Dockerfile" "$ctx" >&2
log "built $tag in $(( $(date +%s) - start )) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.2f GB", $1 / 1e9 }'))"
