"""Session fixtures shared by the test modules, and the summary line that
states how many tests real Caffe judged."""
import pytest

from helpers import REPO, SMALL_CONTEXT_CROP, SMALL_CROP, build_lmdbs
from prototxt_gen.generate import Options, all_files, write
from prototxt_gen.spec.datasets import DATASETS


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


TIERS = {"caffe": "real-Caffe tier", "docker": "real-Docker tier"}


def pytest_terminal_summary(terminalreporter):
    """States in the log how many tests real Caffe and a real Docker Engine
    judged, so a CI run that skipped either tier cannot pass unnoticed."""
    for marker, title in TIERS.items():
        counts = {}
        for outcome in ("passed", "failed", "error", "skipped"):
            for report in terminalreporter.stats.get(outcome, []):
                if marker in getattr(report, "keywords", {}):
                    counts[outcome] = counts.get(outcome, 0) + 1
        terminalreporter.write_line("%s: %s" % (title, ", ".join(
            "%d %s" % (n, outcome) for outcome, n in counts.items()) or "no tests run"))
