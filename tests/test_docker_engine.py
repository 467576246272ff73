"""The container path judged by a real Docker Engine: `dilation-caffe:cpu`
built by docker/build.sh (its layers cached between runs), then training,
interruption, prediction and the whole recipe through real `docker run` on a
machine without a GPU.  tools/run_tests.sh starts the engine; these tests fail,
never skip, when it or the image is missing."""
import grp
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from deploy_fixtures import small_deploy, write_image
from helpers import REPO, caffe_env, run_module
from reproduce_fixtures import statuses, synthetic_voc
from train_fixtures import make_workspace, solver_copy

pytestmark = [pytest.mark.docker, pytest.mark.caffe]

IMAGE = "dilation-caffe:cpu"
USER = 4242  # an unprivileged user with no home, as on a shared machine


@pytest.fixture(scope="session")
def image():
    """The CPU image, built (or found in the layer cache) once per session."""
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("no Docker Engine answers: run `bash tools/docker_engine.sh` "
                    "(tools/run_tests.sh does)")
    out = subprocess.run(["bash", str(REPO / "docker" / "build.sh"), "cpu"], capture_output=True,
                         text=True, timeout=3600)
    assert out.returncode == 0, "docker/build.sh cpu failed:\n" + out.stderr[-4000:]
    return IMAGE


@pytest.fixture
def spaced(tmp_path):
    """A work directory whose path has a space, readable by USER; removed after."""
    parent = Path(tempfile.mkdtemp(prefix="dilation docker "))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def reachable():
    """USER must be able to start this interpreter and read the checkout.  Where
    they live under a folder other users cannot enter (pyenv in root's home),
    that folder is opened for traversal (o+x, no listing) for the session and
    closed again after."""
    opened = {}
    for target in (os.path.realpath(sys.executable), sys.base_prefix, sys.prefix, str(REPO)):
        for folder in Path(target).parents:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH and str(folder) not in opened:
                opened[str(folder)] = mode
                folder.chmod(mode | stat.S_IXOTH)
    yield
    for folder, mode in opened.items():
        os.chmod(folder, stat.S_IMODE(mode))


def as_user(root):
    """Keyword arguments that run a child as USER, in the docker group, owning `root`."""
    for path in [root, *root.rglob("*")]:
        os.chown(path, USER, USER, follow_symlinks=False)
    return dict(user=USER, group=USER, extra_groups=[grp.getgrnam("docker").gr_gid])


def train(solver, *args, cwd, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(cwd))
    return subprocess.Popen([sys.executable, "-m", "tools.train", str(solver), "--docker", IMAGE,
                             "--allow-missing-init", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def owners(paths):
    return {p.name: p.stat().st_uid for p in paths}


def test_training_as_a_user_through_a_symlinked_lmdb(image, spaced, reachable):
    """A non-root user trains in a path with a space; the LMDBs live on another
    'disk' behind a `data` symlink.  Everything it leaves belongs to that user."""
    work = make_workspace(spaced / "work dir")
    shutil.move(str(work / "data"), str(spaced / "other disk"))
    (work / "data").symlink_to(spaced / "other disk")
    solver = solver_copy(work, "ctx", max_iter=6, snapshot=3)
    proc = train(solver, cwd=work, **as_user(spaced))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    made = sorted((work / "snapshots" / "camvid").iterdir())
    assert {"ctx_iter_6.caffemodel", "ctx_iter_6.solverstate", "ctx.log", "ctx_loss.csv",
            "ctx_loss.png"} <= {p.name for p in made}, made
    assert set(owners(made).values()) == {USER}, owners(made)
    assert "Optimization Done" in (work / "snapshots/camvid/ctx.log").read_text()


def test_ctrl_c_snapshots_and_a_rerun_resumes(image, spaced, reachable):
    work = make_workspace(spaced / "work")
    solver = solver_copy(work, "long", max_iter=100000, snapshot=100000, display=1)
    proc = train(solver, cwd=work, **as_user(spaced))
    log = work / "snapshots" / "camvid" / "long_loss.csv"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # a few iterations, then Ctrl-C
        if log.exists() and len(log.read_text().splitlines()) > 5:
            break
        time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    [state] = (work / "snapshots" / "camvid").glob("long_iter_*.solverstate")
    stopped = int(state.stem.rsplit("_", 1)[1])
    assert 0 < stopped < 100000
    assert state.stat().st_uid == USER

    solver_copy(work, "long", max_iter=stopped + 4, snapshot=100000, display=1)
    proc = train(solver, cwd=work, **as_user(spaced))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert "resuming long from iteration %d" % stopped in err
    assert (work / "snapshots" / "camvid" / ("long_iter_%d.caffemodel" % (stopped + 4))).exists()


def test_predict_inside_the_image_matches_the_host(image, spaced):
    net, weights, _ = small_deploy(spaced, "kitti", "frontend", (388, 388))
    write_image(spaced / "photo.png", (70, 90), seed=3)
    common = ["--dataset", "kitti", "--weights", weights, "--net", net]
    host = run_module("tools.predict", spaced / "photo.png", *common, "--out", spaced / "host",
                      cwd=spaced, env=caffe_env())
    assert host.returncode == 0, host.stderr
    inside = subprocess.run(["bash", str(REPO / "docker" / "run.sh"), IMAGE, "predict", "photo.png",
                             *map(str, common), "--out", "inside"], cwd=spaced, capture_output=True,
                            text=True, timeout=600)
    assert inside.returncode == 0, inside.stderr[-3000:]
    made = spaced / "inside" / "photo.png"
    assert made.read_bytes() == (spaced / "host" / "photo.png").read_bytes()
    assert made.stat().st_uid == os.getuid()


def test_reproduce_runs_the_recipe_in_the_image(image, spaced):
    """Training, stored scores and evaluation all use the image's Caffe; the
    host's Caffe is kept out of reach (no CAFFE_ROOT, no pycaffe)."""
    _, work, command = synthetic_voc(spaced)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("CAFFE_ROOT", None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "caffe" not in p)
    out = run_module("tools.reproduce", *command, "--docker", IMAGE, cwd=spaced, env=env, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    done = statuses(out.stdout)
    assert len(done) == 13 and set(done.values()) == {"ran"}, done
    assert (work / "evaluation" / "large" / "iou.csv").exists()
