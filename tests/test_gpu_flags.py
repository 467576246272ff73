"""--gpu everywhere: one argument type (N, 0,1,... or all for training; one
device for the tools that run one pycaffe net), `docker run --gpus all` only
when a GPU is asked for, and every way Caffe fails on a GPU it cannot use as
one line.  Stand-ins for `caffe`, `docker` and pycaffe say Caffe's, CUDA's
and Docker's own words, so the GPU-build failures are checked on a CPU-only
machine; the real CPU-only Caffe is in the `caffe` tier here and in
tests/test_hostile.py."""
import argparse
import json
import os
import sys
import types

import pytest

from helpers import REPO, caffe_env, caffe_root, run_module
from prototxt_gen import cli_common
from prototxt_gen.cli_common import UserError
from tools.backend import CaffeNet
from tools.train.solver import Solver
from train_fixtures import make_workspace, solver_copy

FATAL = "F1205 10:00:00.000000  4242 common.cpp:66] "
PYTHON_LAYER = ('layer { name: "py" type: "Python" bottom: "data" top: "py" %s '
                'python_param { module: "m" layer: "L" } }')
# Caffe's (or CUDA's, or Docker's) words -> a word of our line
FAILURES = [
    ("Cannot use GPU in CPU-only Caffe: check mode.", "CPU-only"),
    ("Check failed: error == cudaSuccess (101 vs. 0)  invalid device ordinal", "no such GPU"),
    ("Check failed: error == cudaSuccess (35 vs. 0)  CUDA driver version is insufficient for "
     "CUDA runtime version", "NVIDIA driver"),
    ("Check failed: error == cudaSuccess (100 vs. 0)  no CUDA-capable device is detected",
     "sees no GPU"),
    ("Multi-GPU execution not available - rebuild with USE_NCCL", "NCCL"),
]


def one_line(out, word):
    """Exit 2, our error as the last line (a progress bar may come before it)."""
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert ": error: " in last and word in last, (word, last)
    return last


# ---- the argument type ----------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("0", "0"), ("3", "3"), ("0,1", "0,1"),
                                         ("07,2", "7,2"), ("all", "all")])
def test_gpus_are_one_several_or_all(text, value):
    assert cli_common.gpus(text) == value


@pytest.mark.parametrize("text", ["", "0,,1", "-1", "x", "0,", ",1", " 1", "1.0", "+1", "ALL",
                                  "\u0663", "1234567890", "0,0"])
def test_gpu_garbage_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        cli_common.gpus(text)


def test_one_net_takes_one_device():
    assert cli_common.gpu("2") == 2
    for text in ("all", "0,1"):
        with pytest.raises(argparse.ArgumentTypeError, match="one GPU"):
            cli_common.gpu(text)


@pytest.mark.parametrize("module", ["tools.train", "tools.reproduce", "tools.predict",
                                    "tools.features", "tools.evaluate"])
@pytest.mark.parametrize("text", ["0,,1", "-1", "x"])
def test_every_command_refuses_gpu_garbage_in_one_line(module, text):
    out = run_module(module, "--gpu", text)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "argument --gpu: %r" % text in out.stderr


# ---- tools.reproduce ---------------------------------------------------------------------

def reproduce_camvid(tmp_path, *args):
    for name in ("images", "labels"):
        (tmp_path / (name + ".txt")).write_text("a.png\n")
    (tmp_path / "vgg.caffemodel").write_bytes(b"")
    lists = [a for split in ("train", "val") for a in (
        "--%s-images" % split, tmp_path / "images.txt", "--%s-labels" % split, tmp_path / "labels.txt")]
    return run_module("tools.reproduce", "camvid", "--work", tmp_path / "work", "--vgg",
                      tmp_path / "vgg.caffemodel", *lists, *args)


@pytest.mark.parametrize("gpus, one, count", [("1,0", "1", "2"), ("3", "3", None)])
def test_reproduce_trains_on_every_gpu_and_runs_one_net_on_the_first(tmp_path, gpus, one, count):
    """Solvers are written for as many GPUs as training gets (the paper's batch)."""
    out = reproduce_camvid(tmp_path, "--gpu", gpus, "--dry-run")
    assert out.returncode == 0, out.stderr
    steps = [line.split() for line in out.stdout.splitlines() if line.startswith("  python -m")]
    for step in steps:
        if step[2] in ("tools.train", "tools.features", "tools.evaluate"):
            assert step[step.index("--gpu") + 1] == (gpus if step[2] == "tools.train" else one)
        if step[2] == "prototxt_gen":
            assert (step[step.index("--gpus") + 1] if "--gpus" in step else None) == count
    assert {s[2] for s in steps if "--gpu" in s} == {"tools.train", "tools.features",
                                                      "tools.evaluate"}


def test_reproduce_wants_the_devices_named(tmp_path):
    out = reproduce_camvid(tmp_path, "--gpu", "all", "--dry-run")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "--gpu all: name the devices (e.g. --gpu 0,1,2,3)" in out.stderr


def test_several_gpus_say_the_effective_batch(workspace):
    caffe = stand_in(workspace, "caffe", "exit 0\n")
    out = run_module("tools.train", solver_copy(workspace, "x", max_iter=10), "--caffe", caffe,
                     "--gpu", "0,1", "--allow-missing-init", cwd=workspace)
    assert "x_solver.prototxt: effective batch on 2 GPUs = 2 per GPU x 2 x iter_size 1" in out.stderr


# ---- tools.train before Caffe starts ------------------------------------------------------

def stand_in(folder, name, script):
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


@pytest.fixture
def workspace(tmp_path):
    return make_workspace(tmp_path / "work")


def with_python_layer(root, rule=""):
    net = root / "models/camvid/context_train.prototxt"
    net.write_text(net.read_text() + PYTHON_LAYER % rule)


@pytest.mark.parametrize("rule, layers", [("", ["py"]), ("include { phase: TRAIN }", ["py"]),
                                          ("include { phase: TEST }", []),
                                          ("exclude { phase: TRAIN }", [])])
def test_python_layers_of_the_training_phase(workspace, rule, layers):
    with_python_layer(workspace, rule)
    solver = Solver(workspace / "models/camvid/context_solver.prototxt", cwd=workspace)
    assert solver.python_layers() == layers


@pytest.mark.parametrize("gpus, refused", [("0,1", True), ("all", True), ("1", False)])
def test_python_layers_are_refused_on_several_gpus(workspace, gpus, refused):
    with_python_layer(workspace)
    caffe = stand_in(workspace, "caffe", "exit 0\n")
    out = run_module("tools.train", solver_copy(workspace, "py", max_iter=10), "--caffe", caffe,
                     "--gpu", gpus, "--allow-missing-init", cwd=workspace)
    if refused:
        assert "Python layer(s) py" in one_line(out, "pass one device, --gpu N")
    else:
        assert out.returncode == 1 and "left no snapshot" in out.stderr  # the stand-in ran


def test_a_gpu_solver_needs_gpu(workspace):
    """Caffe would take the solver's device_id unasked (or abort, CPU-only)."""
    solver = solver_copy(workspace, "gpu", max_iter=10, solver_mode=1)  # GPU
    caffe = stand_in(workspace, "caffe", "exit 0\n")
    out = run_module("tools.train", solver, "--caffe", caffe, "--allow-missing-init", cwd=workspace)
    assert "python -m prototxt_gen --cpu" in one_line(out, "solver_mode is GPU but no --gpu")
    assert not (workspace / "snapshots").exists()


@pytest.mark.parametrize("said, word", FAILURES, ids=[w for _, w in FAILURES])
def test_the_gpu_is_tried_before_training(workspace, said, word):
    """`caffe device_query --gpu=...` fails as Caffe does on that machine: one line, no files."""
    caffe = stand_in(workspace, "caffe", 'echo "%s%s" >&2\nkill -ABRT $$\n' % (FATAL, said))
    out = run_module("tools.train", solver_copy(workspace, "x", max_iter=10), "--caffe", caffe,
                     "--gpu", "0", "--allow-missing-init", cwd=workspace)
    assert len(out.stderr.strip().splitlines()) == 1
    assert one_line(out, word).startswith("python -m tools.train: error: --gpu 0: ")
    assert not (workspace / "snapshots").exists()


def test_an_unknown_gpu_failure_is_still_one_line(workspace):
    caffe = stand_in(workspace, "caffe", 'echo "odd" >&2\necho "%sgone wrong" >&2\nexit 3\n' % FATAL)
    out = run_module("tools.train", solver_copy(workspace, "x", max_iter=10), "--caffe", caffe,
                     "--gpu", "0", "--allow-missing-init", cwd=workspace)
    assert "Caffe cannot use it (exit 3: %sgone wrong)" % FATAL in one_line(out, "--gpu 0")


# ---- tools.train: Caffe's words in its log (in Docker, the only place they show) ----------

@pytest.mark.parametrize("said, word", FAILURES, ids=[w for _, w in FAILURES])
def test_gpu_failures_in_the_training_log_are_one_line(workspace, said, word):
    caffe = stand_in(workspace, "caffe", '[ "$1" = device_query ] && exit 0\n'
                                         'echo "%s%s"\nexit 134\n' % (FATAL, said))
    out = run_module("tools.train", solver_copy(workspace, "x", max_iter=10), "--caffe", caffe,
                     "--gpu", "0,1", "--allow-missing-init", cwd=workspace)
    assert "full log: %s" % (workspace / "snapshots/camvid/x.log") in one_line(out, word)


FAKE_DOCKER = '''#!%s
"""Stand-in for `docker run`: records argv; prints $DOCKER_SAYS and exits 125,
or runs the command after the image (in the -w folder) when $DOCKER_EXEC is set.
`docker info` answers, unrecorded."""
import json, os, sys
args = sys.argv[1:]
if args == ["info"]:
    sys.exit(0)
with open(os.environ["DOCKER_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
if os.environ.get("DOCKER_SAYS"):
    sys.exit(os.environ["DOCKER_SAYS"])
at = args.index("-w")
if os.environ.get("DOCKER_EXEC"):
    os.chdir(args[at + 1])
    os.execvp(args[at + 3], args[at + 3:])
'''


@pytest.fixture
def docker(tmp_path):
    """(env, calls): a stand-in `docker` first on PATH; calls() lists its argv."""
    (tmp_path / "docker").write_text(FAKE_DOCKER % sys.executable)
    (tmp_path / "docker").chmod(0o755)
    log = tmp_path / "docker.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO), DOCKER_LOG=str(log),
               PATH=os.pathsep.join([str(tmp_path), os.environ["PATH"]]))
    return env, lambda: [json.loads(line) for line in log.read_text().splitlines()]


def test_docker_gets_gpus_only_with_gpu(workspace, docker):
    env, calls = docker
    solver = solver_copy(workspace, "x", max_iter=10)
    for extra in ([], ["--gpu", "0"]):
        out = run_module("tools.train", solver, "--docker", "img", "--allow-missing-init", *extra,
                         cwd=workspace, env=env)
        assert out.returncode == 1 and "left no snapshot" in out.stderr  # nothing ran
    without, with_gpu = calls()
    assert "--gpus" not in without
    assert with_gpu[:5] == ["run", "--rm", "--init", "--gpus", "all"] and with_gpu[-1] == "--gpu=0"


def test_docker_without_a_gpu_runtime_is_one_line(workspace, docker):
    env, _ = docker
    env["DOCKER_SAYS"] = ('docker: Error response from daemon: could not select device driver "" '
                          'with capabilities: [[gpu]].')
    out = run_module("tools.train", solver_copy(workspace, "x", max_iter=10), "--docker", "img",
                     "--gpu", "0", "--allow-missing-init", cwd=workspace, env=env)
    one_line(out, "NVIDIA Container Toolkit")


@pytest.mark.caffe
def test_real_caffe_in_a_container_without_gpu_is_one_line(workspace, docker):
    """The container's CPU-only Caffe aborts on --gpu=0; its log line becomes ours."""
    env, calls = docker
    env = dict(caffe_env(), DOCKER_LOG=env["DOCKER_LOG"], DOCKER_EXEC="1", PATH=os.pathsep.join(
        [env["PATH"], str(caffe_root() / "build" / "tools")]))
    out = run_module("tools.train", solver_copy(workspace, "x", max_iter=10), "--docker", "img",
                     "--gpu", "0", "--allow-missing-init", cwd=workspace, env=env)
    assert "leave out --gpu to train on the CPU" in one_line(out, "CPU-only")
    assert calls()[0][3:5] == ["--gpus", "all"]


# ---- pycaffe (predict, features, evaluate) --------------------------------------------

FAKE_PYCAFFE = '''import os, sys
def set_device(n):
    sys.stderr.write(%r + "\\n")
    sys.stderr.flush()
    os.abort()
def set_mode_gpu():
    pass
'''


@pytest.mark.parametrize("said, word", FAILURES[:4], ids=[w for _, w in FAILURES[:4]])
def test_pycaffe_is_tried_in_a_child_before_it_can_abort_us(tmp_path, monkeypatch, said, word):
    """set_device's abort would take this process down (exit 134, a stack trace)."""
    package = tmp_path / "caffe"
    package.mkdir()
    (package / "__init__.py").write_text(FAKE_PYCAFFE % (FATAL + said))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the child's pycaffe
    monkeypatch.setitem(sys.modules, "caffe", types.ModuleType("caffe"))  # ours: never called
    with pytest.raises(UserError, match=word) as error:
        CaffeNet("deploy.prototxt", "w.caffemodel", gpu=3)
    assert str(error.value).startswith("--gpu 3: ")
    assert str(error.value).endswith("or leave out --gpu to run on the CPU")
