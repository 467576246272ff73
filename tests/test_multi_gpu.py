"""`python -m prototxt_gen --gpus N` keeps each stage's effective batch (per-GPU
batch x N x iter_size) or refuses in one line that names the way out."""
import pytest
from google.protobuf import text_format

from helpers import REPO, build_lmdbs, run_caffe, run_module
from prototxt_gen.batches import split
from prototxt_gen.cli_common import UserError
from prototxt_gen.generate import Options, all_files, render, write
from prototxt_gen.schema import pb
from prototxt_gen.spec import paths
from prototxt_gen.spec.datasets import DATASETS


def run(*args, cwd=REPO):
    return run_module("prototxt_gen", *args, cwd=cwd)


def batch_size(net):
    return next(l for l in net.layer if l.type == "Data").data_param.batch_size


def trained(files):
    """(solver path, per-GPU batch, iter_size) of every solver among `files`."""
    for path, message in files.items():
        if path.endswith("_solver.prototxt"):
            yield path, batch_size(files[message.train_net]), message.iter_size


@pytest.mark.parametrize("gpus", range(1, 9))
def test_every_solver_keeps_the_effective_batch_or_is_refused(gpus):
    for ds in DATASETS.values():
        for stage in paths.STAGES:
            one_gpu, passes = ds.train_batch(stage)
            effective = one_gpu * passes
            opts = Options(datasets=(ds.name,), stages=(stage,), gpus=gpus)
            if effective % gpus:
                with pytest.raises(UserError, match="--gpus %d cannot keep" % gpus):
                    all_files(opts)
                continue
            solvers = list(trained(all_files(opts)))
            assert solvers, (ds.name, stage)
            for path, batch, iter_size in solvers:
                assert batch * gpus * iter_size == effective, path
                assert batch <= one_gpu, path  # no more GPU memory than on one GPU
                assert batch == max(d for d in range(1, one_gpu + 1)
                                    if effective // gpus % d == 0), path  # fewest passes
                if stage == "context":
                    assert iter_size == 1, path


def test_split_prefers_few_passes_and_keeps_given_values():
    assert split(14, 1, 7) == (7, 2) and split(14, 2, 7) == (7, 1) and split(14, 7, 7) == (2, 1)
    assert split(8, 2, 1) == (1, 4)                       # Cityscapes: one image per GPU
    assert split(14, 3, 7) == (5, 1)                      # closest: 15
    assert split(14, 2, 7, batch=2) == (2, 3)             # 12 and 16 tie: fewer passes
    assert split(14, 3, 7, batch=5, iter_size=2) == (5, 2)
    assert split(60, 7, 60, iter_size=1) == (9, 1)        # 63


def test_only_train_nets_and_solvers_change():
    one, two = all_files(Options()), all_files(Options(gpus=2))
    assert set(one) == set(two)
    changed = {p for p in one if render(one[p]) != render(two[p])}
    assert changed and all(p.endswith(("_train.prototxt", "_solver.prototxt")) for p in changed)
    voc = "caffe_models/pascal_voc/"
    assert batch_size(two[voc + "frontend_train.prototxt"]) == 7
    assert two[voc + "frontend_solver.prototxt"].iter_size == 1
    assert batch_size(two[voc + "context_train.prototxt"]) == 30


def test_gpus_1_writes_the_checked_in_files(tmp_path):
    out = run("--gpus", "1", "--out", "caffe_models", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("wrote ")  # no note
    written = sorted(p.relative_to(tmp_path) for p in (tmp_path / "caffe_models").rglob("*"))
    assert written == sorted(p.relative_to(REPO) for p in (REPO / "caffe_models").rglob("*"))
    for path in written:
        if (tmp_path / path).is_file():
            assert (tmp_path / path).read_bytes() == (REPO / path).read_bytes(), path


@pytest.mark.parametrize("args, names", [
    (["--gpus", "3"], ["--gpus 3 cannot keep pascal_voc's effective batch", "frontend/joint 14",
                       "choose --gpus 2,", "accept frontend/joint 15 with --dataset pascal_voc "
                       "--batch 5 --iter-size 1"]),
    (["--gpus", "7", "--dataset", "pascal_voc", "--dataset", "cityscapes", "--stage", "frontend"],
     ["cannot keep cityscapes's effective batch", "frontend 8", "choose --gpus 2,",
      "--dataset cityscapes --batch 1 --iter-size 1"]),
    (["--gpus", "3", "--dataset", "camvid"],
     ["frontend/joint 8 and context 20", "choose --gpus 2 or 4,",
      "--dataset camvid --batch 3 --iter-size 1 --context-batch 7"]),
    (["--gpus", "5", "--dataset", "pascal_voc", "--stage", "frontend", "--stage", "joint"],
     ["choose --gpus 2 or 7,"]),
    (["--gpus", "2", "--cpu"], ["--cpu and --gpus 2 contradict each other"]),
    (["--gpus", "0"], ["0 must be at least 1"]),
])
def test_impossible_gpu_counts_get_one_line_and_exit_2(tmp_path, args, names):
    out = run(*args, "--out", str(tmp_path / "m"))
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    for name in names:
        assert name in out.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("args, batch, iter_size, note", [
    (["--batch", "5", "--iter-size", "1"], 5, 1, "pascal_voc frontend 5 x 3 x 1 = 15 (recipe 14)"),
    (["--batch", "2", "--iter-size", "7"], 2, 7, "pascal_voc frontend 2 x 3 x 7 = 42 (recipe 14)"),
    (["--batch", "1"], 1, 5, "pascal_voc frontend 1 x 3 x 5 = 15 (recipe 14)"),
])
def test_given_batches_are_kept_with_a_note(tmp_path, args, batch, iter_size, note):
    out = run("--dataset", "pascal_voc", "--stage", "frontend", "--gpus", "3", *args,
              "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == \
        "note: effective batch (per-GPU batch x GPUs x iter_size): " + note
    folder = tmp_path / "pascal_voc"
    net = text_format.Parse((folder / "frontend_train.prototxt").read_text(), pb.NetParameter())
    s = text_format.Parse((folder / "frontend_solver.prototxt").read_text(), pb.SolverParameter())
    assert (batch_size(net), s.iter_size) == (batch, iter_size)


def test_help_names_the_option():
    out = run("--help")
    text = " ".join(out.stdout.split())
    assert out.returncode == 0 and "--gpus N" in text and "first GPU only" in text


@pytest.mark.caffe
def test_two_gpu_solvers_load_in_caffe(tmp_path):
    """Caffe parses a --gpus 2 solver and builds its train and test nets (the CPU
    build cannot run NCCL, so this is as far as it goes)."""
    ds = DATASETS["cityscapes"]
    build_lmdbs(tmp_path / "data", [ds], lambda d: 388, lambda d: 24)
    write(all_files(Options(datasets=(ds.name,), stages=("frontend", "context"), out="models",
                            lmdb_root="data", crop=388, context_crop=24, gpus=2)),
          root=str(tmp_path))
    for stage, batch in (("frontend", 1), ("context", 4)):
        path = "models/cityscapes/%s_solver.prototxt" % stage
        result = run_caffe("solver", cwd=tmp_path, path=path)
        assert result["train_blobs"]["data"][0] == batch
        assert result["test_nets"] == 1 and result["test_blobs"][0]["data"][0] == 1
