#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine: a virtual environment with
# the project, a real CPU Caffe (built once, cached outside the checkout by
# tools/install_caffe.sh), then pytest.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv 2>/dev/null || {
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && "$PY" -m venv .venv; }
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
envfile=$(PYTHON="$PWD/.venv/bin/python" bash tools/install_caffe.sh)
# shellcheck disable=SC1090
source "$envfile"
exec .venv/bin/python -m pytest "$@"
