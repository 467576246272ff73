"""docker/ with a stand-in `docker` that records its arguments: only what a
real engine cannot show on a machine without a GPU or a route to the public
registries (the `--gpus` command lines, the public images' scripts, the CUDA
image's build command), the Dockerfile's contract with tools/install_caffe.sh
and Caffe's arch selection, and Python 3.6 for the code that runs inside
NVIDIA's image.  The real engine's tier is tests/test_docker_engine.py."""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from helpers import REPO, caffe_root
from train_fixtures import make_workspace, solver_copy

DOCKER = REPO / "docker"
NVCAFFE_TOOLS_IMAGE = "dilation-caffe:nvcaffe-20.03"

FAKE_DOCKER = r'''#!%(python)s
"""Stand-in for `docker`: records argv; `info` answers (unless
FAKE_DOCKER_NO_ENGINE), unrecorded; `image
inspect` and `pull` fail unless FAKE_DOCKER_HAS_IMAGE; `run` executes the
command in the -w directory with the -e variables when FAKE_DOCKER_EXEC is set."""
import json, os, sys
args = sys.argv[1:]
if args == ["info"]:
    sys.exit(1 if os.environ.get("FAKE_DOCKER_NO_ENGINE") else 0)
with open(os.environ["FAKE_DOCKER_LOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
if args[:2] == ["image", "inspect"] or args[:1] == ["pull"]:
    sys.exit(0 if os.environ.get("FAKE_DOCKER_HAS_IMAGE") else 1)
if args[0] == "run" and os.environ.get("FAKE_DOCKER_EXEC"):
    i, env, cwd = 1, dict(os.environ), None
    while args[i].startswith("-"):
        if args[i] in ("-v", "-w", "-e", "--user", "--gpus"):
            if args[i] == "-e":
                key, value = args[i + 1].split("=", 1)
                env[key] = value
            if args[i] == "-w":
                cwd = args[i + 1]
            i += 2
        else:
            i += 1
    os.chdir(cwd)
    os.execvpe(args[i + 1], args[i + 1:], env)
'''


# An image has its own python3 with our dependencies: in the stand-in that is the
# interpreter running the tests (a wrapper, since a symlink to a venv's python
# would lose the venv), never whatever python3 the host has first on PATH.
PYTHON_SHIM = """#!/bin/sh
exec %s "$@"
"""


@pytest.fixture
def fake_docker(tmp_path):
    """(env, calls): env puts the stand-in (and the image's python3) first on
    PATH; calls() reads what it got."""
    bin_dir = tmp_path / "fake_bin"
    bin_dir.mkdir()
    for name, text in [("docker", FAKE_DOCKER % {"python": sys.executable}),
                       ("python3", PYTHON_SHIM % sys.executable)]:
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "docker_calls.jsonl"
    env = dict(os.environ, FAKE_DOCKER_LOG=str(log), PYTHONPATH=str(REPO))
    env["PATH"] = os.pathsep.join([str(bin_dir), env["PATH"]])

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return env, calls


def script(name, *args, cwd, env):
    return subprocess.run(["bash", str(DOCKER / name), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def user():
    return "%d:%d" % (os.getuid(), os.getgid())


# ---- training: the runner on this machine, `caffe train` in the image ---------------

def test_bvlc_training_command(tmp_path, fake_docker):
    env, calls = fake_docker
    work = make_workspace(tmp_path / "work")
    solver = solver_copy(work, "ctx", max_iter=10)
    out = script("bvlc_caffe.sh", solver, "--gpu", "1", "--allow-missing-init", cwd=work, env=env)
    assert out.returncode == 1 and "left no snapshot of iteration 10" in out.stderr  # nothing ran
    [run] = calls()
    assert run == ["run", "--rm", "--init", "--gpus", "all", "--user", user(),
                   "-e", "GLOG_logtostderr=1", "-e", "GLOG_minloglevel=0",
                   "-v", "%s:%s" % (work, work), "-w", str(work), "bvlc/caffe:gpu",
                   "caffe", "train", "--solver=%s" % solver, "--gpu=1"]


# ---- tools inside the image -----------------------------------------------------------

def test_nvidia_tools_image_is_built_once_then_runs_the_tool(tmp_path, fake_docker):
    env, calls = fake_docker
    (tmp_path / "elsewhere").mkdir()
    env["DOCKER_MOUNTS"] = "%s:%s" % (tmp_path / "elsewhere", REPO / "tools")
    out = script("nvidia_caffe.sh", "predict", "a.jpg", "--dataset", "camvid", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    inspect, build, run = calls()
    assert inspect == ["image", "inspect", NVCAFFE_TOOLS_IMAGE]
    assert build == ["build", "-t", NVCAFFE_TOOLS_IMAGE, "-f", str(DOCKER / "nvcaffe.Dockerfile"),
                     str(DOCKER)]
    image_at = run.index(NVCAFFE_TOOLS_IMAGE)
    assert run[:image_at] == [  # no --gpu: no `--gpus all`, which a CPU-only Docker refuses
        "run", "--rm", "--init", "--user", user(), "-e", "HOME=/tmp",
        "-e", "DILATION_REPO=%s" % REPO,
        "-v", "%s:%s" % (REPO, REPO), "-v", "%s:%s" % (tmp_path, tmp_path), "-w", str(tmp_path)]
    assert run[image_at + 1] == "sh" and run[-4:] == ["tools.predict", "a.jpg", "--dataset", "camvid"]
    env["FAKE_DOCKER_HAS_IMAGE"] = "1"
    assert script("nvidia_caffe.sh", "evaluate", "p.txt", "--gpu", "1", cwd=tmp_path,
                  env=env).returncode == 0
    assert [c[0] for c in calls()[3:]] == ["image", "run"], "built once"
    assert calls()[-1][:6] == ["run", "--rm", "--init", "--gpus", "all", "--user"]


def test_ampere_hopper_image_is_built_by_build_sh(tmp_path, fake_docker):
    """First use builds dilation-caffe:cuda11.8 through docker/build.sh, from a
    staged context; the tool then runs inside it, on the GPUs only with --gpu."""
    env, calls = fake_docker
    env["DILATION_BASE"] = "debian:bookworm"
    out = script("ampere_hopper.sh", "features", "--list", "x.txt", cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr
    inspect, build, size, run = calls()
    assert inspect == ["image", "inspect", "dilation-caffe:cuda11.8"] and size[:2] == inspect[:2]
    context = build[-1]
    assert build == ["build", "-t", "dilation-caffe:cuda11.8", "--build-arg", "BASE=debian:bookworm",
                     "--build-arg", "FLAVOUR=cuda", "-f", str(DOCKER / "Dockerfile"), context]
    assert not os.path.exists(context), "the staged context is removed"
    assert run.count("-v") == 1, "repository = current directory: mounted once"
    assert "--gpus" not in run and "dilation-caffe:cuda11.8" in run
    assert run[-3:] == ["tools.features", "--list", "x.txt"]


def test_build_sh_stages_only_what_the_image_needs(tmp_path, fake_docker):
    """The context holds install_caffe.sh, the project's code, pyproject.toml alone
    in deps/ (the dependency layer's cache key) and this machine's network
    settings; never .venv, data or snapshots."""
    env, calls = fake_docker
    keep = tmp_path / "context"
    (tmp_path / "fake_bin" / "docker").write_text(FAKE_DOCKER % {"python": sys.executable} + (
        "if args[:1] == ['build']:\n    import shutil; shutil.copytree(args[-1], %r)\n" % str(keep)))
    env["DILATION_BASE"] = "debian:bookworm"
    out = subprocess.run(["bash", str(DOCKER / "build.sh"), "cpu"], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    staged = sorted(str(p.relative_to(keep)) for p in keep.rglob("*") if p.is_file()
                    and p.parts[len(keep.parts)] != "project")
    needed = {"deps/README.md", "deps/pyproject.toml", "host/env.sh", "install_caffe.sh"}
    assert needed <= set(staged) and set(staged) - needed <= {"host/ca-certificates.crt",
                                                              "host/pip.conf"}, staged
    assert (keep / "deps" / "README.md").read_text() == ""
    assert sorted(p.name for p in (keep / "project").iterdir()) == [
        "README.md", "prototxt_gen", "pyproject.toml", "tools"]
    assert not list((keep / "project").rglob("__pycache__"))


def test_build_sh_says_what_is_missing(tmp_path, fake_docker):
    env, calls = fake_docker
    usage = subprocess.run(["bash", str(DOCKER / "build.sh")], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "docker/build.sh cpu" in usage.stderr
    env["FAKE_DOCKER_NO_ENGINE"] = "1"
    out = subprocess.run(["bash", str(DOCKER / "build.sh"), "cpu"], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "no Docker Engine answers" in out.stderr and calls() == []


def test_train_names_the_build_of_a_missing_image(tmp_path, fake_docker):
    env, calls = fake_docker
    work = make_workspace(tmp_path / "work")
    solver = solver_copy(work, "ctx", max_iter=10)
    out = subprocess.run([sys.executable, "-m", "tools.train", str(solver), "--docker",
                          "dilation-caffe:cpu", "--allow-missing-init"], cwd=work, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "image dilation-caffe:cpu is not built yet: run docker/build.sh cpu" in out.stderr
    assert calls() == [["image", "inspect", "dilation-caffe:cpu"]]


def test_inner_commands_run_under_the_test_interpreter(tmp_path, fake_docker):
    """The stand-in's `python3` is the one with the project's dependencies, not
    a host interpreter that would lack them (and pass only on a hand-made machine)."""
    env, _ = fake_docker
    env = dict(env, FAKE_DOCKER_EXEC="1")
    probe = "import sys, cv2, numpy, google.protobuf, lmdb; print(sys.prefix)"
    out = subprocess.run(["docker", "run", "--rm", "-w", str(tmp_path), "img", "sh", "-c",
                          'exec python3 -c "$0"', probe], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == sys.prefix


def test_bvlc_image_refuses_python_tools(tmp_path, fake_docker):
    env, calls = fake_docker
    out = script("bvlc_caffe.sh", "predict", "a.jpg", cwd=tmp_path, env=env)
    assert out.returncode == 2 and "Python 2.7" in out.stderr and calls() == []
    assert script("run.sh", "img", "sing", cwd=tmp_path, env=env).returncode == 2


# ---- the Ampere/Hopper Dockerfile -----------------------------------------------------

def dockerfile_cmake_args():
    text = (DOCKER / "Dockerfile").read_text()
    value = re.search(r'CAFFE_CMAKE_ARGS="([^"]*)"', text).group(1)
    # install_caffe.sh expands $EXTRA_CMAKE unquoted: split exactly as bash does
    split = subprocess.run(["bash", "-c", 'printf "%s\\n" $0', value], capture_output=True, text=True)
    return text, split.stdout.split("\n")[:-1]


def test_dockerfile_reuses_install_caffe_with_gpu_flags():
    text, args = dockerfile_cmake_args()
    assert re.search(r"^ARG BASE=debian:bookworm$", text, re.M) and "FROM ${BASE}" in text
    assert "COPY install_caffe.sh" in text and "bash /opt/install_caffe.sh" in text
    assert "CAFFE_CPU_ONLY=OFF" in text and "nvidia-cuda-toolkit nvidia-cuda-toolkit-gcc" in text
    assert args == ["-DUSE_CUDNN=OFF", "-DUSE_NCCL=ON", "-DCUDA_ARCH_NAME=Manual",
                    "-DCUDA_ARCH_BIN=80;86;89;90", "-DCUDA_ARCH_PTX=90", "-DCUDA_TOOLKIT_ROOT_DIR=/usr",
                    "-DCUDA_HOST_COMPILER=/usr/bin/g++-11"]
    script_text = (REPO / "tools" / "install_caffe.sh").read_text()
    assert 'CPU_ONLY=${CAFFE_CPU_ONLY:-ON}' in script_text and '-DCPU_ONLY="$CPU_ONLY"' in script_text
    assert "EXTRA_CMAKE=${CAFFE_CMAKE_ARGS:-}" in script_text and " $EXTRA_CMAKE " in script_text


def print_mirror(**env):
    clean = {k: v for k, v in os.environ.items() if k != "DEBIAN_MIRROR"}
    return subprocess.run(["bash", str(REPO / "tools" / "install_caffe.sh"), "--print-mirror"],
                          env=dict(clean, **env), capture_output=True, text=True)


def test_caffe_source_mirror_is_this_machines_apt_mirror_unless_overridden():
    """No mirror host is written into the scripts: it comes from apt's sources."""
    out = print_mirror()
    assert out.returncode == 0, out.stderr
    mirror = out.stdout.strip()
    apt = "".join(p.read_text() for p in [Path("/etc/apt/sources.list"), *Path("/etc/apt").glob(
        "sources.list.d/*")] if p.is_file())
    assert mirror.startswith(("http://", "https://", "file:/")) and mirror in apt
    assert print_mirror(DEBIAN_MIRROR="http://mirror.invalid/debian").stdout == \
        "http://mirror.invalid/debian\n"
    assert "://" not in (REPO / "tools" / "install_caffe.sh").read_text()


def test_dockerfile_takes_the_debian_mirror_as_a_build_argument():
    text = (DOCKER / "Dockerfile").read_text()
    assert text.index("ARG DEBIAN_MIRROR") < text.index("bash /opt/install_caffe.sh")
    assert "DEBIAN_MIRROR" in (DOCKER / "README.md").read_text()


@pytest.mark.caffe
def test_caffe_selects_the_ampere_hopper_archs_from_the_dockerfile_args(tmp_path):
    """Caffe's own caffe_select_nvcc_arch_flags (from the source install_caffe.sh
    builds), run by cmake on the Dockerfile's arguments."""
    cmake = shutil.which("cmake")
    assert cmake, "cmake (installed by tools/install_caffe.sh) is missing"
    source = caffe_root() / "cmake"
    cuda = (source / "Cuda.cmake").read_text()
    function = re.search(r"^function\(caffe_select_nvcc_arch_flags.*?^endfunction\(\)", cuda,
                         re.S | re.M).group(0)
    probe = tmp_path / "arch.cmake"
    probe.write_text('include("%s")\nset(CUDA_VERSION 11.8)\n%s\n'
                     'caffe_select_nvcc_arch_flags(flags)\nmessage("${flags_readable}")\n'
                     % (source / "Utils.cmake", function))
    _, args = dockerfile_cmake_args()
    out = subprocess.run([cmake] + [a for a in args if "CUDA_ARCH" in a] + ["-P", str(probe)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr.split() == ["sm_80", "sm_86", "sm_89", "sm_90", "compute_90"]


# ---- Python 3.6 inside NVIDIA's image ---------------------------------------------------

IN_CONTAINER = ["tools/__init__.py", "tools/crfrnn", "tools/tiling.py", "tools/palettes.py", "tools/predict.py",
                "tools/inference.py",
                "tools/backend.py", "tools/crf.py", "tools/images.py",
                "tools/features.py", "tools/evaluate", "prototxt_gen/__init__.py",
                "prototxt_gen/cli_common.py",
                "prototxt_gen/spec"]


def test_code_run_in_containers_needs_at_most_python_3_6():
    vermin = os.path.join(sysconfig.get_path("scripts"), "vermin")
    assert os.path.exists(vermin), "vermin is missing beside %s: pip install -e .[test]" % sys.executable
    out = subprocess.run([vermin, "-t=3.6-", "--violations", "--no-tips", "--backport", "dataclasses",
                          "--eval-annotations", *IN_CONTAINER], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_container_tools_do_not_import_our_protobuf_schema():
    """Our schema's generated code needs protobuf >= 3.20, which Python 3.6 lacks."""
    code = ("import sys, tools.predict, tools.features, tools.evaluate.__main__; "
            "sys.exit('prototxt_gen.schema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
