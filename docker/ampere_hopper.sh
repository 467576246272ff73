#!/usr/bin/env bash
# BVLC Caffe built with Debian's CUDA 11.8 by docker/build.sh cuda (built once,
# tagged dilation-caffe:cuda11.8): Ampere, Ada and Hopper GPUs (compute
# capability 8.0, 8.6, 8.9, 9.0; newer ones through the sm_90 PTX), with NCCL
# for several GPUs.  Every tool works.
#   docker/ampere_hopper.sh train SOLVER... --gpu 0[,1,...] [python -m tools.train options]
#   docker/ampere_hopper.sh predict|features|evaluate ARGS... --gpu N
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case ${1:-} in
  train|predict|features|evaluate) exec "$here/run.sh" dilation-caffe:cuda11.8 "$@" ;;
  *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
