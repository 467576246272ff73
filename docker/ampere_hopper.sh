#!/usr/bin/env bash
# BVLC Caffe built with CUDA 11.8 by docker/Dockerfile (built once, tagged
# dilation-caffe:cuda11.8): Ampere, Ada and Hopper GPUs (compute capability
# 8.0, 8.6, 8.9, 9.0; newer ones through the sm_90 PTX).  Every tool works.
#   docker/ampere_hopper.sh train SOLVER... [python -m tools.train options]
#   docker/ampere_hopper.sh predict|features|evaluate ARGS...
# The image build fetches Debian's Caffe source from DEBIAN_MIRROR (default:
# the mirror of this machine's apt sources).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case ${1:-} in
  train|predict|features|evaluate)
    DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(bash "$here/../tools/install_caffe.sh" --print-mirror 2>/dev/null || true)}
    export DEBIAN_MIRROR
    exec "$here/run.sh" --build "$here/Dockerfile" "$here/../tools" dilation-caffe:cuda11.8 "$@" ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
