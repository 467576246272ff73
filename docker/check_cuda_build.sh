#!/usr/bin/env bash
# Proves without a GPU or Docker that docker/Dockerfile's CUDA build of Caffe
# compiles, and for which GPUs: on Debian bookworm, as root (or with sudo), it
# installs Debian's own CUDA 11.8 (nvidia-cuda-toolkit, from the non-free
# component of the mirror that apt already uses), builds Caffe through
# tools/install_caffe.sh with exactly the cmake arguments the Dockerfile
# passes, and lists the GPU code that libcaffe.so holds (with NVIDIA's
# cuobjdump from the package index: Debian's aborts).  About an hour on 2
# cores; the build is cached like the CPU one.
#   bash docker/check_cuda_build.sh
# Exit 0 when libcaffe.so holds sm_80, sm_86, sm_89 and sm_90 code and
# compute_90 PTX, as the Dockerfile asks.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
log() { echo "[check_cuda_build] $*" >&2; }

mirror=$(bash tools/install_caffe.sh --print-mirror)
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
# Debian's toolkit by its own paths: another CUDA (say /usr/local/bin/nvcc) may
# come first on PATH, and CMake would otherwise pick whichever nvcc PATH finds.
nvcc=/usr/bin/nvcc
if [ ! -x "$nvcc" ] || ! command -v g++-11 >/dev/null; then
  state=$(mktemp -d)
  mkdir -p "$state/lists/partial"
  echo "deb $mirror $codename main contrib non-free" > "$state/sources.list"
  apt_opts=(-o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o Dir::State::Lists="$state/lists")
  log "installing Debian's nvidia-cuda-toolkit ($codename non-free from $mirror)"
  sudo_if apt-get "${apt_opts[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends \
    nvidia-cuda-toolkit nvidia-cuda-toolkit-gcc >/dev/null
  rm -rf "$state"
fi
"$nvcc" --version | tail -n 2 >&2
"$nvcc" --version | grep -q 'release 11\.8' || { log "$nvcc is not CUDA 11.8, the Dockerfile's"; exit 1; }

# The Dockerfile's arguments, split as install_caffe.sh splits them.  CUDA 11.8
# refuses GCC newer than 11, and bookworm's default is 12 (the Dockerfile's
# Ubuntu 22.04 has 11), so nvcc's host compiler is named here.
args=$(sed -n 's/.*CAFFE_CMAKE_ARGS="\([^"]*\)".*/\1/p' docker/Dockerfile)
[ -n "$args" ] || { log "docker/Dockerfile sets no CAFFE_CMAKE_ARGS"; exit 1; }
[ -x .venv/bin/python ] || bash tools/make_venv.sh
log "building Caffe with CUDA: $args"
start=$(date +%s)
envfile=$(CAFFE_CPU_ONLY=OFF CAFFE_CMAKE_ARGS="$args -DCUDA_TOOLKIT_ROOT_DIR=/usr -DCUDA_HOST_COMPILER=$(command -v g++-11)" \
          PYTHON="$repo/.venv/bin/python" bash tools/install_caffe.sh)
log "build (or cache check) took $(( $(date +%s) - start )) s"

# Debian's cuobjdump (11.8.86) aborts on every object, even a one-kernel sm_80
# one ("Support for 'sm_4' has been removed"), so the listing comes from
# NVIDIA's cuobjdump as the package index ships it.
tooldir=$(mktemp -d)
trap 'rm -rf "$tooldir"' EXIT
"$repo/.venv/bin/python" -m pip install -q --target "$tooldir" nvidia-cuda-cuobjdump
cuobjdump=$(find "$tooldir" -name cuobjdump -type f | head -n 1)
[ -x "$cuobjdump" ] || { log "the nvidia-cuda-cuobjdump package has no cuobjdump"; exit 1; }
"$cuobjdump" --version | tail -n 2 >&2

lib=$(dirname "$envfile")/caffe/build/lib/libcaffe.so
ldd "$lib" | grep -q libcudart || { log "$lib is not linked against the CUDA runtime"; exit 1; }
elf=$("$cuobjdump" --list-elf "$lib" | grep -o 'sm_[0-9]*' | sort -u | tr '\n' ' ')
ptx=$("$cuobjdump" --list-ptx "$lib" | grep -o 'sm_[0-9]*' | sort -u | tr '\n' ' ')
echo "libcaffe.so: $lib"
echo "GPU code (cuobjdump --list-elf): $elf"
echo "PTX (cuobjdump --list-ptx): $ptx"
missing=
for sm in sm_80 sm_86 sm_89 sm_90; do
  case " $elf" in *" $sm "*) ;; *) missing="$missing $sm" ;; esac
done
case " $ptx" in *" sm_90 "*) ;; *) missing="$missing compute_90-PTX" ;; esac
[ -z "$missing" ] || { log "missing:$missing"; exit 1; }
echo "OK: sm_80 sm_86 sm_89 sm_90 code and compute_90 PTX"
