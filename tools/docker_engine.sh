#!/usr/bin/env bash
# Makes sure a Docker Engine answers, for the real-Docker tier of the tests:
# installs Debian's docker.io when `dockerd` is missing, and starts `dockerd`
# in the background when no daemon answers (a machine without systemd, such as
# a container or a fresh chroot-like VM).  Its log goes to $DOCKERD_LOG
# (default /var/log/dilation-dockerd.log).  Exit 0 once `docker info` works.
set -euo pipefail
log() { echo "[docker_engine] $*" >&2; }
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

docker info >/dev/null 2>&1 && exit 0
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
  log "installing Debian's docker.io"
  sudo_if apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
docker info >/dev/null 2>&1 && exit 0
if pgrep -x dockerd >/dev/null; then
  log "a dockerd runs but does not answer yet; waiting for it"
else
  daemon_log=${DOCKERD_LOG:-/var/log/dilation-dockerd.log}
  log "starting dockerd (log: $daemon_log)"
  sudo_if sh -c "nohup dockerd > '$daemon_log' 2>&1 &"
fi
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
log "no Docker Engine answers after 60 s: see ${DOCKERD_LOG:-/var/log/dilation-dockerd.log}"
exit 1
