#!/usr/bin/env bash
# The one-off proof of the CUDA image, for a machine with Docker and no GPU
# (a GPU does no harm): builds dilation-caffe:cuda11.8 with docker/build.sh
# (about an hour on 2 cores; cached afterwards), reports its build time and
# size, lists the GPU code in its libcaffe.so, and shows that NCCL is compiled
# in.  Not part of CI.
#   bash docker/prove_cuda_image.sh
# Exit 0 only when libcaffe.so holds sm_80, sm_86, sm_89 and sm_90 code and
# compute_90 PTX, links libnccl, and `caffe train --gpu 0,1` gets past the
# multi-GPU check to the device lookup.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
image=dilation-caffe:cuda11.8
log() { echo "[prove_cuda_image] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

start=$(date +%s)
bash "$repo/docker/build.sh" cuda
echo "build (or cache check): $(( $(date +%s) - start )) s"
echo "image size: $(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.2f GB", $1 / 1e9 }')"
docker run --rm "$image" sh -c 'nvcc --version | tail -n 2; python3 --version'

# Debian's cuobjdump (11.8.86) aborts on every object, so the listing uses
# NVIDIA's cuobjdump as the Python package index ships it, on a copy of the library.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${cid:-}" ] && docker rm -f "$cid" >/dev/null 2>&1 || true' EXIT
python=python3
[ -x "$repo/.venv/bin/python" ] && python=$repo/.venv/bin/python
"$python" -m pip install -q --target "$tmp/tools" nvidia-cuda-cuobjdump
cuobjdump=$(find "$tmp/tools" -name cuobjdump -type f | head -n 1)
[ -x "$cuobjdump" ] || fail "the nvidia-cuda-cuobjdump package has no cuobjdump"
cid=$(docker create "$image")
docker cp -L "$cid:/opt/caffe/build/lib/libcaffe.so" "$tmp/libcaffe.so"
docker cp -L "$cid:/opt/caffe/build/tools/caffe" "$tmp/caffe"
elf=$("$cuobjdump" --list-elf "$tmp/libcaffe.so" | grep -o 'sm_[0-9]*' | sort | uniq -c | awk '{ print $2 " (" $1 " objects)" }' | paste -sd, -)
ptx=$("$cuobjdump" --list-ptx "$tmp/libcaffe.so" | grep -o 'sm_[0-9]*' | sort -u | paste -sd' ' -)
echo "cuobjdump --list-elf libcaffe.so: $elf"
echo "cuobjdump --list-ptx libcaffe.so: $ptx"
for sm in sm_80 sm_86 sm_89 sm_90; do
  case "$elf" in *"$sm "*) ;; *) fail "no $sm code in libcaffe.so" ;; esac
done
case " $ptx " in *" sm_90 "*) ;; *) fail "no compute_90 PTX in libcaffe.so" ;; esac

# NCCL: linked, and the CLI's "rebuild with USE_NCCL" branch compiled out.
docker run --rm "$image" sh -c 'ldd /opt/caffe/build/lib/libcaffe.so | grep -E "libnccl|libcublas|libcudart"'
grep -q "rebuild with USE_NCCL" "$tmp/caffe" && fail "caffe was built without NCCL"
echo "caffe binary: no 'rebuild with USE_NCCL' branch (compiled with USE_NCCL)"
# Without a GPU, two devices must fail where a device is looked up.
solver=$tmp/solver.prototxt
printf 'net: "/dev/null"\nbase_lr: 0.01\nmax_iter: 1\nsolver_mode: GPU\n' > "$solver"
out=$(docker run --rm -v "$tmp:$tmp" "$image" caffe train --solver="$solver" --gpu 0,1 2>&1 || true)
echo "caffe train --gpu 0,1 (no GPU here): $(echo "$out" | grep -m1 -E '^F[0-9]{4}|Check failed|error' || echo "$out" | tail -n 1)"
case "$out" in *"rebuild with USE_NCCL"*) fail "caffe asks to be rebuilt with USE_NCCL" ;; esac
echo "OK: sm_80 sm_86 sm_89 sm_90 code, compute_90 PTX, NCCL compiled in"
