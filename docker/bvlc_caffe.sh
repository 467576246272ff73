#!/usr/bin/env bash
# Training in the public bvlc/caffe:gpu image (Caffe 1.0, CUDA 8, cuDNN 6):
# GPUs up to Pascal (compute capability 6.1 and lower) only.  Its Python is
# 2.7, so only the stock `caffe train` runs inside; the runner stays here.
#   docker/bvlc_caffe.sh SOLVER... [python -m tools.train options]
set -euo pipefail
case ${1:-} in
  ""|-h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  predict|features|evaluate)
    echo "bvlc/caffe:gpu has Python 2.7: it trains only; run $1 with docker/nvidia_caffe.sh," \
         "docker/ampere_hopper.sh or a local Caffe" >&2
    exit 2 ;;
esac
exec "$(dirname "$0")/run.sh" bvlc/caffe:gpu train "$@"
