"""Shared fixtures.  Tests marked `caffe` run real BVLC Caffe (installed by
tools/install_caffe.sh, located through CAFFE_ROOT); they fail, never skip,
when it is missing, so CI cannot pass without judging the nets in Caffe."""
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prototxt_gen.datasets import DATASETS
from prototxt_gen.generate import Options, all_files, write

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
from synthetic import feature_label_records, image_label_records, write_lmdb  # noqa: E402
from tools.data.context import float_datum  # noqa: E402
from tools.data.records import raw_datum  # noqa: E402

SMALL_CROP, SMALL_CONTEXT_CROP = 388, 24  # 2 x 2 front-end cells; any size suits the context
IMAGE_SPLITS = ("train", "val", "train_coco")
CONTEXT_SPLITS = ("context_train", "context_val")


def caffe_root():
    root = os.environ.get("CAFFE_ROOT")
    if not root or not (Path(root) / "python" / "caffe" / "_caffe.so").exists():
        pytest.fail("real Caffe not found: run `bash tools/install_caffe.sh` and source the "
                    "env file it prints (tools/run_tests.sh does both); CAFFE_ROOT=%r" % root)
    return Path(root)


def run_module(module, *args, cwd=REPO, env=None, timeout=600):
    """`python -m MODULE ARGS` as a user runs it, output captured as text.  The
    default environment finds the repository from any `cwd`; pass caffe_env()
    for commands that run Caffe."""
    env = env or dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def caffe_env():
    env = dict(os.environ)
    paths = [str(caffe_root() / "python"), str(REPO), str(TESTS)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
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
        for split in IMAGE_SPLITS:
            write_lmdb(root / ds.name / ("%s_lmdb" % split),
                       (raw_datum(r) for r in image_label_records(records, crop_of(ds), ds.classes)))
        for split in CONTEXT_SPLITS:
            write_lmdb(root / ds.name / ("%s_lmdb" % split),
                       map(float_datum, feature_label_records(records, context_crop_of(ds), ds.classes)))


@pytest.fixture(scope="session")
def full_size_workdir(tmp_path_factory):
    """A directory laid out like the repository root: caffe_models/ (the checked-in
    files, untouched) and data/<data set>/*_lmdb with records of the default crops."""
    work = tmp_path_factory.mktemp("full")
    (work / "caffe_models").symlink_to(REPO / "caffe_models")
    build_lmdbs(work / "data", DATASETS.values(), lambda d: d.crop, lambda d: d.context_crop)
    return work


@pytest.fixture(scope="session")
def small_models(tmp_path_factory):
    """Every net and solver generated at a small crop and batch, with its LMDBs."""
    work = tmp_path_factory.mktemp("small")
    build_lmdbs(work / "data", DATASETS.values(), lambda d: SMALL_CROP, lambda d: SMALL_CONTEXT_CROP)
    opts = Options(out=str(work / "models"), lmdb_root=str(work / "data"), crop=SMALL_CROP,
                   batch=1, iter_size=1, context_crop=SMALL_CONTEXT_CROP, context_batch=2, cpu=True)
    write(all_files(opts))
    return work / "models"


def pytest_terminal_summary(terminalreporter):
    """States in the log how many tests real Caffe judged, so a CI run that
    skipped the Caffe tier cannot pass unnoticed."""
    counts = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if "caffe" in getattr(report, "keywords", {}):
                counts[outcome] = counts.get(outcome, 0) + 1
    terminalreporter.write_line("real-Caffe tier: %s" % (", ".join(
        "%d %s" % (n, outcome) for outcome, n in counts.items()) or "no tests run"))
