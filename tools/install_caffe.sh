#!/usr/bin/env bash
# Installs a real BVLC Caffe with pycaffe for one Python, so the tests can judge
# our nets and weights with the genuine article.  BVLC Caffe is not packaged for
# Debian bookworm, but bullseye's source package builds; the result is cached
# outside the checkout, keyed by Python version, NumPy major and build flavour,
# so a second run only checks that `import caffe` still works (seconds).
#
# Environment:
#   PYTHON             interpreter pycaffe is built for (default: python3)
#   CAFFE_CACHE        cache root (default: ~/.cache/dilation-caffe)
#   CAFFE_CPU_ONLY     ON (default) or OFF for a CUDA build (docker/ uses this)
#   CAFFE_CMAKE_ARGS   extra cmake arguments (e.g. CUDA arch list)
#   CAFFE_JOBS         parallel make jobs (default: cores + 1)
#   DEBIAN_MIRROR      Debian mirror to fetch the source package from (default:
#                      the one this machine's apt sources use for its release)
# Prints the path of an env file to source (CAFFE_ROOT, PYTHONPATH, PATH).
# `install_caffe.sh --print-mirror` prints only the mirror it would use.
set -euo pipefail
trap 'echo "[install_caffe] failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

PY=${PYTHON:-python3}
CACHE=${CAFFE_CACHE:-$HOME/.cache/dilation-caffe}
CPU_ONLY=${CAFFE_CPU_ONLY:-ON}
EXTRA_CMAKE=${CAFFE_CMAKE_ARGS:-}
JOBS=${CAFFE_JOBS:-$(( $(nproc) + 1 ))}
DEB_VERSION=1.0.0+git20180821.99bd997-8

log() { echo "[install_caffe] $*" >&2; }
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

BUILD_DEPS="build-essential cmake quilt protobuf-compiler libprotobuf-dev libprotoc-dev
  libboost-dev libboost-filesystem-dev libboost-system-dev libboost-thread-dev
  libboost-python-dev libgflags-dev libgoogle-glog-dev libhdf5-dev libleveldb-dev
  liblmdb-dev libopenblas-dev libopencv-dev libsnappy-dev xz-utils"

# The mirror comes from this machine's own apt configuration: the first source
# (one-line or deb822 form) that serves this Debian release also serves
# bullseye's source packages.  Either form's files may be absent (a
# debootstrap has only sources.list), which must not end the script.  Other
# distributions (Ubuntu in docker/) must set DEBIAN_MIRROR.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local id codename
  id=$(. /etc/os-release 2>/dev/null && echo "${ID:-}")
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  [ "$id" = debian ] && [ -n "$codename" ] || return 0
  {
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
      awk -v suite="$codename" '$1 == "deb" || $1 == "deb-src" {
        sub(/^deb(-src)? +(\[[^]]*\] +)?/, ""); if ($2 == suite) { print $1; exit } }'
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
      awk -v suite="$codename" 'BEGIN { RS = "" } {
        uri = ""; hit = 0; n = split($0, line, "\n")
        for (i = 1; i <= n; i++) {
          if (line[i] ~ /^URIs:/) { split(line[i], u, " "); uri = u[2] }
          if (line[i] ~ /^Suites:/) { m = split(line[i], s, " "); for (j = 2; j <= m; j++) if (s[j] == suite) hit = 1 }
        }
        if (hit && uri != "") { print uri; exit } }'
  } | head -n 1
}

mirror=$(debian_mirror)
need_mirror() {
  [ -n "$mirror" ] || { log "no Debian source in /etc/apt/sources.list*: set DEBIAN_MIRROR to a Debian mirror URI"; exit 2; }
}
if [ "${1:-}" = --print-mirror ]; then
  need_mirror
  echo "$mirror"
  exit 0
fi

ensure_apt() {
  local missing=()
  for p in $BUILD_DEPS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    sudo_if apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_pydeps() {
  # pycaffe's own imports; built against whatever NumPy is installed now.
  "$PY" -c 'import numpy, six, skimage, scipy, google.protobuf' 2>/dev/null \
    || "$PY" -m pip install -q numpy six scikit-image scipy protobuf
}

ensure_python_headers() {
  # pycaffe compiles against Python.h, which Debian ships in python3.X-dev.
  local inc ver
  inc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  [ -f "$inc/Python.h" ] && return
  ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  log "installing Debian's python$ver-dev (Python.h for pycaffe)"
  sudo_if apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if apt-get install -y -qq --no-install-recommends "python$ver-dev" >/dev/null
}

ensure_pydeps
pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
npmajor=$("$PY" -c 'import numpy; print(numpy.__version__.split(".")[0])')
prefix=$CACHE/py$pyver-np$npmajor-cpu$CPU_ONLY
src=$prefix/caffe
envfile=$prefix/env.sh

works() {
  [ -f "$prefix/READY" ] && [ -x "$src/build/tools/caffe" ] &&
    PYTHONPATH="$src/python" GLOG_minloglevel=2 "$PY" -c 'import caffe' 2>/dev/null
}

if works; then
  log "cached build OK: $src"
  echo "$envfile"
  exit 0
fi

ensure_apt
ensure_python_headers
mkdir -p "$prefix"
rm -f "$prefix/READY"

if [ ! -f "$src/.patched" ]; then
  need_mirror
  log "fetching Debian source package caffe $DEB_VERSION from $mirror"
  work=$(mktemp -d "$prefix/fetch.XXXX")
  mkdir -p "$work/lists/partial"
  echo "deb-src [trusted=yes] $mirror bullseye main" > "$work/sources.list"
  apt_opts=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o Dir::State::Lists="$work/lists" -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "caffe=$DEB_VERSION" >/dev/null)
  top=$work/tree
  mkdir "$top"
  tar -xzf "$work"/caffe_*.orig.tar.gz -C "$top"
  # The upstream tarball may or may not wrap the tree in one directory.
  if [ ! -f "$top/CMakeLists.txt" ]; then top=$(dirname "$(find "$top" -maxdepth 2 -name CMakeLists.txt | head -n1)"); fi
  tar -xJf "$work"/caffe_*.debian.tar.xz -C "$top"
  (cd "$top" && QUILT_PATCHES=debian/patches quilt push -a -q >/dev/null)
  # protobuf >= 3.21: SetTotalBytesLimit takes a single argument.
  sed -i 's/SetTotalBytesLimit(kProtoReadBytesLimit, 536870912)/SetTotalBytesLimit(kProtoReadBytesLimit)/' \
    "$top/src/caffe/util/io.cpp"
  grep -q 'SetTotalBytesLimit(kProtoReadBytesLimit)' "$top/src/caffe/util/io.cpp"
  touch "$top/.patched"
  rm -rf "$src"
  mv "$top" "$src"
  rm -rf "$work"
fi

log "building Caffe (CPU_ONLY=$CPU_ONLY, $JOBS jobs); 5 to 15 minutes on 2 cores"
mkdir -p "$src/build"
pyinc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
npinc=$("$PY" -c 'import numpy; print(numpy.get_include())')
# shellcheck disable=SC2086
(cd "$src/build" && cmake .. -DCPU_ONLY="$CPU_ONLY" -DBLAS=Open -Dpython_version=3 \
   -DBUILD_python_layer=ON -DUSE_LMDB=ON -DUSE_LEVELDB=ON -DUSE_OPENCV=ON \
   -DCMAKE_BUILD_TYPE=Release -DPYTHON_EXECUTABLE="$(command -v "$PY")" \
   -DPYTHON_INCLUDE_DIR="$pyinc" -DNUMPY_INCLUDE_DIR="$npinc" $EXTRA_CMAKE >"$prefix/cmake.log" 2>&1) \
  || { tail -n 40 "$prefix/cmake.log" >&2; exit 1; }
(cd "$src/build" && make -j"$JOBS" caffe caffe.bin pycaffe convert_imageset >"$prefix/make.log" 2>&1) \
  || { tail -n 40 "$prefix/make.log" >&2; exit 1; }

cat > "$envfile" <<ENV
export CAFFE_ROOT="$src"
export PYTHONPATH="$src/python\${PYTHONPATH:+:\$PYTHONPATH}"
export PATH="$src/build/tools:\$PATH"
ENV
touch "$prefix/READY"
works || { log "built, but 'import caffe' fails for $PY"; exit 1; }
log "done: $src"
echo "$envfile"
