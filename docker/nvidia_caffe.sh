#!/usr/bin/env bash
# NVIDIA's Caffe 0.17 (nvcr.io/nvidia/caffe:20.03-py3; CUDA 10.2, Python 3.6):
# Pascal, Volta and Turing GPUs (compute capability 6.0 to 7.5).
#   docker/nvidia_caffe.sh train SOLVER... [python -m tools.train options]
#   docker/nvidia_caffe.sh predict|features|evaluate ARGS...
# train uses the public image as it is; the other tools run inside it with our
# Python dependencies added (docker/nvcaffe.Dockerfile, built once).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case ${1:-} in
  train) exec "$here/run.sh" nvcr.io/nvidia/caffe:20.03-py3 "$@" ;;
  predict|features|evaluate)
    exec "$here/run.sh" --build "$here/nvcaffe.Dockerfile" "$here" dilation-caffe:nvcaffe-20.03 "$@" ;;
  *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
