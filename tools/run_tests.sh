#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine: .venv with the project and
# its test extras (tools/make_venv.sh), a real CPU Caffe (built once, cached
# outside the checkout by tools/install_caffe.sh), then pytest.  Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/make_venv.sh test
envfile=$(PYTHON="$PWD/.venv/bin/python" bash tools/install_caffe.sh)
# shellcheck disable=SC1090
source "$envfile"
exec .venv/bin/python -m pytest "$@"
