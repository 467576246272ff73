"""What many test modules share: running our commands and real Caffe jobs, and
the checked-in nets' expected shapes.  Tests marked `caffe` run real BVLC
Caffe (installed by tools/install_caffe.sh, located through CAFFE_ROOT); they
fail, never skip, when it is missing, so CI cannot pass without judging the
nets in Caffe."""
import functools
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prototxt_gen.spec import paths
from synthetic import feature_label_records, image_label_records, write_lmdb
from tools.data.feature_records import float_datum
from tools.data.image_records import raw_datum

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

SMALL_CROP, SMALL_CONTEXT_CROP = 388, 24  # 2 x 2 front-end cells; any size suits the context
# Probabilities of each released-name deploy net at its deploy size (C, H, W).
DEPLOY_SHAPES = {"pascal_voc": (21, 66, 66), "camvid": (11, 66, 91),
                 "kitti": (11, 60, 159), "cityscapes": (19, 1024, 1024)}
DEPLOY_NETS = sorted(str(p.relative_to(REPO)) for p in REPO.glob("caffe_models/*/*deploy.prototxt"))


def caffe_root():
    root = os.environ.get("CAFFE_ROOT")
    if not root or not (Path(root) / "python" / "caffe" / "_caffe.so").exists():
        pytest.fail("real Caffe not found: run `bash tools/install_caffe.sh` and source the "
                    "env file it prints (tools/run_tests.sh does both); CAFFE_ROOT=%r" % root)
    return Path(root)


@functools.lru_cache(maxsize=None)
def bvlc_caffe_pb2():
    """The caffe_pb2 module Caffe's own build generated, loaded apart from pycaffe
    and only once: protobuf's default pool refuses the same .proto file twice."""
    path = caffe_root() / "python" / "caffe" / "proto" / "caffe_pb2.py"
    spec = importlib.util.spec_from_file_location("bvlc_caffe_pb2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_module(module, *args, cwd=REPO, env=None, timeout=600):
    """`python -m MODULE ARGS` as a user runs it, output captured as text.  The
    default environment finds the repository from any `cwd`; pass caffe_env()
    for commands that run Caffe."""
    env = env or dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def caffe_env():
    env = dict(os.environ)
    dirs = [str(caffe_root() / "python"), str(REPO), str(TESTS)]
    env["PYTHONPATH"] = os.pathsep.join(dirs + [env.get("PYTHONPATH", "")])
    env["GLOG_minloglevel"] = "2"
    return env


@functools.lru_cache(maxsize=None)
def _run(script, job, cwd, args_json):
    proc = subprocess.run([sys.executable, str(TESTS / script), job, args_json],
                          cwd=cwd, env=caffe_env(), capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError("Caffe job %s %s%s failed (exit %d):\n%s" % (
            script, job, args_json, proc.returncode, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_caffe(job, cwd=None, script="caffe_jobs.py", **args):
    """Runs `job` of a job module in tests/ (default caffe_jobs.py) under real
    pycaffe in a child process; arguments and result are JSON; memoized."""
    return _run(script, job, str(cwd or REPO), json.dumps(args, sort_keys=True))


def build_lmdbs(root, datasets, crop_of, context_crop_of, records=2):
    for ds in datasets:
        for split in paths.IMAGE_SPLITS:
            write_lmdb(Path(paths.lmdb(root, ds.name, split)),
                       (raw_datum(r) for r in image_label_records(records, crop_of(ds), ds.classes)))
        for split in paths.CONTEXT_SPLITS:
            write_lmdb(Path(paths.lmdb(root, ds.name, split)),
                       map(float_datum, feature_label_records(records, context_crop_of(ds), ds.classes)))
