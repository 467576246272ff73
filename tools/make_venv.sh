#!/usr/bin/env bash
# Makes .venv with this project installed (editable), on a machine that may
# have nothing but python3.  Debian ships venv's pip bootstrap separately, in
# python3.X-venv: when `python3 -m venv` fails for that reason, this installs
# that package with apt (as root, or through sudo) and tries again.  A .venv
# left half-made by an earlier failed attempt is removed and made anew.
#   bash tools/make_venv.sh [EXTRAS]      e.g. `test` installs .[test]
# Environment: PYTHON, the interpreter to base .venv on (default: python3).
set -euo pipefail
trap 'echo "[make_venv] failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras=${1:-}

log() { echo "[make_venv] $*" >&2; }
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
healthy() { [ -x .venv/bin/python ] && .venv/bin/python -m pip --version >/dev/null 2>&1; }

if ! healthy; then
  [ -e .venv ] && { log "removing the half-made .venv of an earlier attempt"; rm -rf .venv; }
  if ! "$PY" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    log "installing Debian's python$ver-venv (venv's pip bootstrap)"
    sudo_if apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if apt-get install -y -qq "python$ver-venv" >/dev/null
    "$PY" -m venv .venv || { rm -rf .venv; exit 1; }
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
