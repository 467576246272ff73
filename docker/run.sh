#!/usr/bin/env bash
# Runs one of our tools with the Caffe of a Docker image:
#   docker/run.sh [--build DOCKERFILE CONTEXT] IMAGE COMMAND ARGS...
# IMAGE dilation-caffe:cpu or dilation-caffe:cuda11.8: this project's images,
#   built by docker/build.sh on first use.
# COMMAND train: `python -m tools.train --docker IMAGE ARGS` on this machine,
#   with the project's .venv when there is one; only Caffe's own `caffe train`
#   runs in the image, so any image with `caffe` on its PATH will do.
# COMMAND predict, features or evaluate: `python3 -m tools.COMMAND ARGS` inside
#   the image (Python >= 3.6 with pycaffe and our dependencies), as the calling
#   user, with this repository and the current directory mounted at their own
#   paths; on the GPUs only when ARGS hold --gpu.  Other directories that ARGS
#   point into go in DOCKER_MOUNTS (colon-separated).
# --build: first build IMAGE from DOCKERFILE with CONTEXT, unless it exists;
#   each build ARG the Dockerfile declares is passed from the environment
#   variable of that name, when set.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

if [ "${1:-}" = --build ]; then
  [ $# -ge 3 ] || usage
  dockerfile=$2 context=$3
  shift 3
fi
[ $# -ge 2 ] || usage
image=$1 command=$2
shift 2
case $command in train|predict|features|evaluate) ;; *) usage ;; esac

flavour=
case $image in dilation-caffe:cpu) flavour=cpu ;; dilation-caffe:cuda11.8) flavour=cuda ;; esac
if [ -n "$flavour" ] && ! docker image inspect "$image" >/dev/null 2>&1; then
  echo "building $image with docker/build.sh $flavour (once)" >&2
  bash "$repo/docker/build.sh" "$flavour"
elif [ -n "${dockerfile:-}" ] && ! docker image inspect "$image" >/dev/null 2>&1; then
  echo "building $image from $dockerfile (once)" >&2
  build_args=()
  for name in $(sed -n 's/^ARG \([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' "$dockerfile"); do
    [ -n "${!name:-}" ] && build_args+=(--build-arg "$name")
  done
  docker build -t "$image" -f "$dockerfile" ${build_args[@]+"${build_args[@]}"} "$context" >&2
fi

if [ "$command" = train ]; then
  export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
  python=${PYTHON:-python3}
  [ -z "${PYTHON:-}" ] && [ -x "$repo/.venv/bin/python" ] && python=$repo/.venv/bin/python
  exec "$python" -m tools.train --docker "$image" "$@"
fi

# Each directory once, none inside another (Docker rejects a doubled mount point).
dirs=("$repo" "$PWD")
IFS=: read -ra extra <<< "${DOCKER_MOUNTS:-}"
for d in ${extra[@]+"${extra[@]}"}; do
  [ -n "$d" ] && dirs+=("$(cd "$d" && pwd)")
done
mounts=() kept=()
while IFS= read -r d; do
  inside=0
  for k in ${kept[@]+"${kept[@]}"}; do
    case "$d/" in "$k"/*) inside=1 ;; esac
  done
  if [ $inside = 0 ]; then kept+=("$d"); mounts+=(-v "$d:$d"); fi
done < <(printf '%s\n' "${dirs[@]}" | awk '{ print length($0) "\t" $0 }' | sort -n | cut -f2-)

# GPUs only when the tool is asked for one (--gpu, or argparse's --g/--gp): Docker
# refuses --gpus where NVIDIA's container toolkit is missing, so a CPU run must not ask.
gpus=()
for a in "$@"; do
  case $a in --g|--gp|--gpu|--g=*|--gp=*|--gpu=*) gpus=(--gpus all) ;; esac
done

# The image's own PYTHONPATH (where its pycaffe may live) is extended, not replaced.
exec docker run --rm --init ${gpus[@]+"${gpus[@]}"} --user "$(id -u):$(id -g)" -e HOME=/tmp \
  -e DILATION_REPO="$repo" "${mounts[@]}" -w "$PWD" "$image" \
  sh -c 'export PYTHONPATH="$DILATION_REPO${PYTHONPATH:+:$PYTHONPATH}"; exec python3 -m "$0" "$@"' \
  "tools.$command" "$@"
