#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine: .venv with the project
# (tools/make_venv.sh), a real CPU Caffe (built once, cached outside the
# checkout by tools/install_caffe.sh, which also installs the compilers and
# Python headers), then the test extras, some of which compile against those
# (pydensecrf2), a Docker Engine for the real-Docker tier (tools/docker_engine.sh:
# Debian's docker.io, started when none answers), then pytest.  Extra arguments
# go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/make_venv.sh
envfile=$(PYTHON="$PWD/.venv/bin/python" bash tools/install_caffe.sh)
bash tools/make_venv.sh test
bash tools/docker_engine.sh
# shellcheck disable=SC1090
source "$envfile"
exec .venv/bin/python -m pytest "$@"
