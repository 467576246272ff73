"""The training runner: Caffe's log becomes progress, records and decisions
(resume, divergence stop, chained stages); the Caffe tier runs the real
`caffe train` on a tiny generated context solver."""
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from helpers import REPO, caffe_env, caffe_root, run_module
from prototxt_gen.cli_common import UserError
from synthetic import feature_label_records, write_lmdb
from tools.data.feature_records import float_datum
from tools.train import caffe_log
from tools.train.command import caffe_args, docker_args, mounts
from tools.train.loss_csv import LossRecord, read_rows
from tools.train.plot import SIZE, nice_ticks, plot_losses
from tools.train.runner import Divergence, set_aside
from tools.train.solver import Snapshot, Solver
from tools.weights.caffemodel import Layer, write as write_model
from train_fixtures import CLASSES, make_workspace, solver_copy



def train(root, *args):
    """python -m tools.train ARGS in `root` with the real Caffe; the runner tests
    train zero-initialized context modules on purpose (their loss stays ln C)."""
    caffe = str(caffe_root() / "build" / "tools" / "caffe")
    return run_module("tools.train", *args, "--caffe", caffe, "--allow-missing-init", cwd=root,
                      env=caffe_env(), timeout=300)


def without_caffe(root, *args):
    """python -m tools.train ARGS for checks made before Caffe would start."""
    return run_module("tools.train", *args, "--caffe", "/no/caffe", cwd=root)


@pytest.fixture
def workspace(tmp_path):
    return make_workspace(tmp_path)


# ---- log parsing ------------------------------------------------------------------

@pytest.mark.parametrize("line, event", [
    ("I1125 00:19:53.225900 15259 solver.cpp:239] Iteration 40 (200 iter/s, 0.025s/5 iters), "
     "loss = 2.39787", caffe_log.Loss(40, 2.39787)),
    ("I0405 10:00:00.000000 1 solver.cpp:228] Iteration 40, loss = 3.04", caffe_log.Loss(40, 3.04)),
    ("I1125 00:19:53.320169 15259 solver.cpp:327] Iteration 20, loss = 2.39782",
     caffe_log.Loss(20, 2.39782)),
    ("I1125 00:19:53.225940 15259 sgd_solver.cpp:112] Iteration 15, lr = 0.0001",
     caffe_log.Rate(15, 1e-4)),
    ("I0301 sgd_solver.cpp:138] Iteration 15, lr = 0.001, m = 0.9", caffe_log.Rate(15, 1e-3)),
    ("I0301 solver.cpp:530] Iteration 300 (4.2 iter/s, 23.8s/100 iter), 1.5/40ep, loss = 0.93",
     caffe_log.Loss(300, 0.93)),
    ("I0301 solver.cpp:536] Iteration 1 (0.56 s), loss = 3.01", caffe_log.Loss(1, 3.01)),
    ("I0301 sgd_solver.cpp:80] Iteration 20 (3.5/s), lr = 0.01", caffe_log.Rate(20, 0.01)),
    ("I1125 sgd_solver.cpp:50] MultiStep Status: Iteration 12, step = 1", None),
    ("I1125 solver.cpp:414]     Test net output #0: accuracy = 0.0954861",
     caffe_log.TestOutput("accuracy", 0.0954861)),
    ("I1125 solver.cpp:258]     Train net output #0: loss = 2.39793 (* 1 = 2.39793 loss)", None),
    ("I1125 solver.cpp:347] Iteration 10, Testing net (#0)", None),
])
def test_log_lines(line, event):
    assert caffe_log.parse(line) == event


def test_nan_loss_parses():
    for text in ("nan", "-nan", "inf"):
        assert not math.isfinite(caffe_log.parse("] Iteration 5 (1 iter/s), loss = %s" % text).value)


# ---- decisions --------------------------------------------------------------------

def test_divergence_rule():
    rule = Divergence(classes=21, factor=3, grace=20)
    assert rule.limit == pytest.approx(3 * math.log(21))
    assert rule.diverged(0, float("nan")) and rule.diverged(0, float("inf"))
    assert not rule.diverged(5, 50.0), "the limit waits for the grace iterations"
    assert rule.diverged(20, 9.2) and not rule.diverged(20, 9.1)
    assert not Divergence(classes=None).diverged(100, 1e6), "unknown C: only NaN stops"


def test_set_aside_keeps_snapshots_up_to_the_last_good_iteration(tmp_path):
    snaps = []
    for it in (2, 4, 6, 8):
        snap = Snapshot(it, str(tmp_path / ("s_iter_%d.solverstate" % it)),
                        str(tmp_path / ("s_iter_%d.caffemodel" % it)))
        for path in (snap.state, snap.weights):
            open(path, "w").close()
        snaps.append(snap)
    moved = set_aside(snaps, after=4)
    assert sorted(os.listdir(tmp_path)) == [
        "s_iter_2.caffemodel", "s_iter_2.solverstate", "s_iter_4.caffemodel", "s_iter_4.solverstate",
        "s_iter_6.caffemodel.diverged", "s_iter_6.solverstate.diverged",
        "s_iter_8.caffemodel.diverged", "s_iter_8.solverstate.diverged"]
    assert len(moved) == 4


def test_solver_facts_of_the_checked_in_solvers():
    voc = Solver(REPO / "caffe_models/pascal_voc/frontend_coco_stage1_solver.prototxt", cwd=REPO)
    assert voc.classes() == 21 and voc.max_iter == 140000
    assert voc.prefix == str(REPO / "snapshots/pascal_voc/frontend_coco_stage1")
    assert voc.lmdb_sources() == [str(REPO / "data/pascal_voc/train_coco_lmdb"),
                                  str(REPO / "data/pascal_voc/val_lmdb")]
    assert list(voc.param.stepvalue) == [100000]
    for name, classes in (("cityscapes", 19), ("kitti", 11)):
        for stage in ("frontend", "context", "joint"):
            path = REPO / "caffe_models" / name / ("%s_solver.prototxt" % stage)
            assert Solver(path, cwd=REPO).classes() == classes


SCORE_TO_LOSS = """
layer { name: "data" type: "Data" top: "data_label" transform_param { %s }
        data_param { source: "lmdb" } }
layer { name: "slice" type: "Slice" bottom: "data_label" top: "data" top: "label"
        slice_param { slice_point: 3 } }
layer { name: "score" type: "Convolution" bottom: "data" top: "score"
        convolution_param { num_output: 40 kernel_size: %d } }
%s
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "scores" bottom: "label" top: "loss" }
"""


def score_to_loss(folder, between, crop="crop_size: 16", kernel=1):
    """A solver whose training net has `between` from blob score to blob scores."""
    (folder / "train.prototxt").write_text(SCORE_TO_LOSS % (crop, kernel, between))
    (folder / "s.prototxt").write_text('net: "train.prototxt" snapshot_prefix: "s"')
    return Solver(folder / "s.prototxt", cwd=folder)


@pytest.mark.parametrize("between, crop, classes", [
    # the loss reads the second part of a Slice of the scores: 40 - 7 channels
    ('type: "Slice" bottom: "score" top: "other" top: "scores" slice_param { slice_point: 7 }',
     "crop_size: 16", 33),
    ('type: "Crop" bottom: "score" bottom: "label" top: "scores"', "crop_size: 16", 40),
    ('type: "Eltwise" bottom: "score" bottom: "score" top: "scores"', "crop_size: 16", None),
    ('type: "ReLU" bottom: "score" top: "scores"', "mirror: true", None),
], ids=["slice", "crop", "not-modelled", "no-crop-size"])
def test_classes_are_the_channels_the_shape_engine_traces_to_the_loss(tmp_path, between, crop,
                                                                     classes):
    """None where the engine cannot know (a layer it does not model, a Data
    layer whose output size depends on the data), never a guess."""
    layer = 'layer { name: "x" %s }' % between
    assert score_to_loss(tmp_path, layer, crop).classes() == classes


def test_classes_of_a_net_caffe_would_abort_on_name_the_net(tmp_path):
    solver = score_to_loss(tmp_path, 'layer { name: "x" type: "ReLU" bottom: "score" '
                                     'top: "scores" }', kernel=30)
    with pytest.raises(UserError, match="train.prototxt: layer score: its 16x16 input gives a "
                                        "-13x-13 output"):
        solver.classes()


def test_snapshots_found_newest_last(tmp_path):
    (tmp_path / "snapshots").mkdir()
    for name in ("ctx_iter_100.solverstate", "ctx_iter_100.caffemodel", "ctx_iter_2000.solverstate.h5",
                 "ctx_iter_2000.caffemodel.h5", "ctx_iter_300.solverstate",
                 "other_iter_9000.solverstate", "ctx_iter_5000.solverstate.diverged"):
        (tmp_path / "snapshots" / name).write_bytes(b"\x08\x01")  # field 1 = 1: a whole message
    solver = tmp_path / "s.prototxt"
    solver.write_text('snapshot_prefix: "snapshots/ctx" max_iter: 2000')
    s = Solver(solver, cwd=tmp_path)
    assert [x.iteration for x in s.snapshots()] == [100, 300, 2000]
    assert s.latest().weights == str(tmp_path / "snapshots/ctx_iter_2000.caffemodel.h5")
    assert s.finished()


@pytest.mark.parametrize("broken", ["ctx_iter_300.solverstate", "ctx_iter_300.caffemodel"])
def test_a_truncated_newest_snapshot_falls_back_to_the_previous_one(tmp_path, broken):
    (tmp_path / "snapshots").mkdir()
    for iteration in (100, 300):
        for ext in ("solverstate", "caffemodel"):
            (tmp_path / "snapshots" / ("ctx_iter_%d.%s" % (iteration, ext))).write_bytes(b"\x08\x01")
    (tmp_path / "snapshots" / broken).write_bytes(b"\x0a\x10abc")  # length 16, 3 bytes follow
    solver = tmp_path / "s.prototxt"
    solver.write_text('snapshot_prefix: "snapshots/ctx" max_iter: 2000')
    warnings = []
    latest = Solver(solver, cwd=tmp_path).latest(warn=warnings.append)
    assert latest.iteration == 100
    assert len(warnings) == 1 and broken in warnings[0] and "iteration 300" in warnings[0]


# ---- commands ---------------------------------------------------------------------

def test_caffe_command_resume_wins_over_weights():
    assert caffe_args("caffe", "/s.prototxt", ["/a.caffemodel", "/b.caffemodel"], gpu="0,1") == [
        "caffe", "train", "--solver=/s.prototxt", "--weights=/a.caffemodel,/b.caffemodel",
        "--gpu=0,1"]
    assert caffe_args("caffe", "/s.prototxt", ["/a.caffemodel"], snapshot="/x.solverstate") == [
        "caffe", "train", "--solver=/s.prototxt", "--snapshot=/x.solverstate"]


@pytest.mark.parametrize("gpu", [True, False], ids=["gpu", "cpu"])
def test_docker_command(gpu):
    """`--gpus all` only for a GPU run: Docker refuses it where NVIDIA's toolkit is missing."""
    args = docker_args("bvlc/caffe:gpu", ["caffe", "train", "--solver=/w/s.prototxt"], "/w",
                       ["/w", "/lmdbs"], gpu=gpu, uid=1000, gid=100)
    assert args == ["docker", "run", "--rm", "--init"] + (["--gpus", "all"] if gpu else []) + [
        "--user", "1000:100", "-e", "GLOG_logtostderr=1", "-e", "GLOG_minloglevel=0",
        "-v", "/w:/w", "-v", "/lmdbs:/lmdbs", "-w", "/w",
        "bvlc/caffe:gpu", "caffe", "train", "--solver=/w/s.prototxt"]


def test_mounts_follow_symlinks_and_drop_nested(tmp_path):
    work, outside = tmp_path / "work", tmp_path / "big" / "voc"
    (outside / "train_lmdb").mkdir(parents=True)
    work.mkdir()
    (work / "data").symlink_to(outside)
    (work / "models").mkdir()
    weights = tmp_path / "init" / "vgg.caffemodel"
    weights.parent.mkdir()
    weights.touch()
    found = mounts(str(work), ["models", "data/train_lmdb", str(weights), str(outside)])
    assert found == sorted([str(work), str(weights.parent), str(outside)])


# ---- records ----------------------------------------------------------------------

def test_loss_record_pairs_rates_and_keeps_rows_before_a_resume(tmp_path):
    path = tmp_path / "loss.csv"
    record = LossRecord(path)
    for it in (0, 5, 10):
        record.loss(it, 3.0 - it / 10)
        record.rate(it, 1e-3)
    record.loss(15, 2.0)
    record.close()
    assert read_rows(path) == [(0, 3.0, 1e-3), (5, 2.5, 1e-3), (10, 2.0, 1e-3), (15, 2.0, None)]
    resumed = LossRecord(path, resume_from=10)
    resumed.loss(10, 1.9)
    resumed.rate(10, 1e-4)
    resumed.close()
    assert read_rows(path) == [(0, 3.0, 1e-3), (5, 2.5, 1e-3), (10, 1.9, 1e-4)]


def test_nice_ticks():
    assert nice_ticks(0, 3.1) == [0, 1, 2, 3]
    assert nice_ticks(0, 140000) == [0, 50000, 100000]
    assert nice_ticks(2.3, 2.45) == pytest.approx([2.3, 2.35, 2.4, 2.45])


@pytest.mark.parametrize("rows", [[], [(0, 3.0, 1e-3)],
                                  [(0, 3.0, 1e-3), (100000, 1.0, 1e-3), (140000, 0.8, 1e-4)]])
def test_loss_curve_png(tmp_path, rows):
    plot_losses(rows, tmp_path / "loss.png", "frontend_coco_stage1")
    image = Image.open(tmp_path / "loss.png")
    assert image.size == SIZE and image.format == "PNG"


# ---- command line -----------------------------------------------------------------

def test_help_describes_the_two_stage_schedule():
    out = run_module("tools.train", "--help")
    assert out.returncode == 0
    for word in ("--weights", "--docker", "--gpu", "resumes", "frontend_coco_stage2_solver"):
        assert word in out.stdout


def test_missing_solver_is_one_line(tmp_path):
    out = without_caffe(tmp_path, "nope.prototxt")
    assert out.returncode == 2 and "nope.prototxt does not exist" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_missing_lmdb_is_named_before_caffe_starts(workspace):
    solver = solver_copy(workspace, "no_data", max_iter=10)
    os.rename(workspace / "data/camvid/context_train_lmdb", workspace / "data/camvid/moved")
    out = without_caffe(workspace, solver, "--allow-missing-init")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "data/camvid/context_train_lmdb, which does not exist" in out.stderr


def test_context_solver_without_context_weights_is_refused(workspace):
    """No silent zero init: weights lacking ctx_* (or none at all) stop before Caffe."""
    solver = solver_copy(workspace, "zero", max_iter=10)
    front = workspace / "front.caffemodel"
    write_model(str(front), [Layer.of("final", "Convolution", [np.zeros((CLASSES, 8, 1, 1), np.float32)])])
    for args in ([], ["--weights", str(front)]):
        out = without_caffe(workspace, solver, *args)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "lacks the context layers ctx_conv1_1" in out.stderr
        assert "python -m tools.weights identity" in out.stderr
    init = workspace / "context.caffemodel"
    assert run_module("tools.weights", "identity", "--dataset", "camvid", init).returncode == 0
    out = without_caffe(workspace, solver, "--weights", str(init))
    assert "lacks the context layers" not in out.stderr


# ---- real Caffe ---------------------------------------------------------------------

@pytest.mark.caffe
def test_trains_with_multistep_schedule_and_writes_records(workspace):
    solver = solver_copy(workspace, "multistep", max_iter=20, snapshot=10, display=5,
                         lr_policy="multistep", gamma=0.1, stepvalue=[12])
    assert not (workspace / "snapshots").exists()
    out = train(workspace, solver)
    assert out.returncode == 0, out.stderr
    snaps = workspace / "snapshots" / "camvid"
    assert (snaps / "multistep_iter_20.caffemodel").exists()
    assert (snaps / "multistep_iter_10.solverstate").exists()
    assert "Optimization Done" in (snaps / "multistep.log").read_text()
    rows = read_rows(snaps / "multistep_loss.csv")
    assert [r[0] for r in rows] == [0, 5, 10, 15, 20]
    assert [r[2] for r in rows] == [1e-3, 1e-3, 1e-3, pytest.approx(1e-4), None]
    assert all(abs(r[1] - math.log(CLASSES)) < 0.1 for r in rows)  # zero-initialized: ln C
    assert Image.open(snaps / "multistep_loss.png").size == SIZE
    again = train(workspace, solver)
    assert again.returncode == 0 and "already finished" in again.stderr


@pytest.mark.caffe
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_snapshots_and_rerun_resumes(workspace, sig):
    """Ctrl-C, and SIGTERM as a scheduler sends it, reach Caffe as SIGINT: it snapshots."""
    name = "long_%d" % sig
    solver = solver_copy(workspace, name, max_iter=10 ** 7, snapshot=10 ** 6, display=5)
    caffe = str(caffe_root() / "build" / "tools" / "caffe")
    proc = subprocess.Popen([sys.executable, "-m", "tools.train", str(solver), "--caffe", caffe,
                             "--allow-missing-init"],
                            cwd=workspace, env=caffe_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    csv_path = workspace / "snapshots" / "camvid" / (name + "_loss.csv")
    deadline = time.time() + 120
    while len(read_rows(csv_path)) < 3 and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "rerun the same command to resume" in err
    stopped = Solver(solver, cwd=workspace).latest()
    assert stopped is not None and 10 <= stopped.iteration < 10 ** 7
    solver = solver_copy(workspace, name, max_iter=stopped.iteration + 10, snapshot=10 ** 6,
                         display=5)
    out = train(workspace, solver)
    assert out.returncode == 0, out.stderr
    assert "Resuming from %s" % stopped.state in (csv_path.parent / (name + ".log")).read_text()
    its = [r[0] for r in read_rows(csv_path)]
    assert its[0] == 0 and its == sorted(set(its)) and its[-1] > stopped.iteration
    assert Solver(solver, cwd=workspace).latest().iteration == stopped.iteration + 10


@pytest.mark.caffe
def test_divergence_stops_and_keeps_the_last_good_snapshot(workspace):
    solver = solver_copy(workspace, "hot", base_lr=20.0, max_iter=200, snapshot=2, display=1)
    out = train(workspace, solver, "--grace", "0")
    assert out.returncode == 3, out.stderr
    assert "training diverged at iteration" in out.stderr
    rows = read_rows(workspace / "snapshots/camvid/hot_loss.csv")
    last_good = rows[-2][0]
    assert rows[-1][1] > 3 * math.log(CLASSES) and all(r[1] <= 3 * math.log(CLASSES) for r in rows[:-1])
    names = os.listdir(workspace / "snapshots/camvid")
    kept = [int(n.split("_iter_")[1].split(".")[0]) for n in names if n.endswith(".solverstate")]
    aside = [int(n.split("_iter_")[1].split(".")[0]) for n in names if n.endswith(".solverstate.diverged")]
    assert kept and aside, names
    assert max(kept) <= last_good < min(aside)
    assert "last good snapshot" in out.stderr and "rerunning resumes from it" in out.stderr


@pytest.mark.caffe
def test_second_stage_starts_from_the_first_stages_final_weights(workspace):
    first = solver_copy(workspace, "stage1", max_iter=10, snapshot=10)
    second = solver_copy(workspace, "stage2", max_iter=10, snapshot=10, base_lr=1e-5)
    out = train(workspace, first, second)
    assert out.returncode == 0, out.stderr
    log = (workspace / "snapshots/camvid/stage2.log").read_text()
    final = workspace / "snapshots/camvid/stage1_iter_10.caffemodel"
    assert "--weights=%s" % final in log and "Finetuning from %s" % final in log
    assert (workspace / "snapshots/camvid/stage2_iter_10.caffemodel").exists()


@pytest.mark.caffe
def test_caffe_failure_is_reported(workspace):
    """Records with too few channels for the net's Slice: Caffe's CHECK message is shown."""
    solver = solver_copy(workspace, "broken", max_iter=10)
    lmdb_dir = workspace / "data/camvid/context_train_lmdb"
    shutil.rmtree(lmdb_dir)
    write_lmdb(lmdb_dir, map(float_datum, feature_label_records(2, 24, 3)))
    out = train(workspace, solver)
    assert out.returncode == 1
    assert "caffe failed" in out.stderr and "Check failed" in out.stderr


def test_a_loss_record_cut_mid_row_resumes(tmp_path):
    """A run killed while writing a row leaves half of it; the rest is kept."""
    path = tmp_path / "x_loss.csv"
    path.write_text("iteration,loss,lr\n0,3.0,0.001\n5,2.5,0.001\n10,2.")
    assert read_rows(path) == [(0, 3.0, 0.001), (5, 2.5, 0.001), (10, 2.0, None)]
    path.write_text("iteration,loss,lr\n0,3.0,0.001\n1")
    assert read_rows(path) == [(0, 3.0, 0.001)]


# ---- Caffe's own rules for a solver we did not write ------------------------------------

@pytest.mark.caffe
@pytest.mark.parametrize("prefix", [None, "snapshots/camvid"], ids=["unset", "folder"])
def test_snapshot_prefix_as_caffe_settles_it(workspace, prefix):
    """No snapshot_prefix: Caffe snapshots beside the solver under its name; a
    folder: the solver's name inside it.  The runner finds them, and resumes."""
    solver = solver_copy(workspace, "own", max_iter=4, snapshot=4)
    text = solver.read_text().replace('snapshot_prefix: "snapshots/camvid/own"\n', "")
    if prefix:
        (workspace / prefix).mkdir(parents=True, exist_ok=True)
        text += 'snapshot_prefix: "%s"\n' % prefix
    solver.write_text(text)
    out = train(workspace, solver)
    assert out.returncode == 0, out.stderr
    where = workspace / (prefix or "")
    assert (where / "own_solver_iter_4.caffemodel").exists() and (where / "own_solver.log").exists()
    again = train(workspace, solver)
    assert again.returncode == 0 and "own_solver already finished" in again.stderr


def test_weights_with_a_comma_are_one_line(workspace):
    weights = workspace / "a,b.caffemodel"
    write_model(weights, [])
    out = without_caffe(workspace, solver_copy(workspace, "x", max_iter=4), "--weights", weights)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "Caffe splits weights paths at commas" in out.stderr


@pytest.mark.caffe
def test_resuming_a_snapshot_of_another_net_names_the_fix(workspace):
    solver = solver_copy(workspace, "ctx", max_iter=2, snapshot=2)
    assert train(workspace, solver).returncode == 0
    net = workspace / "models/camvid/context_train.prototxt"
    # the first context convolution one channel wider: the snapshot no longer fits
    text = net.read_text()
    old = "num_output: %d" % CLASSES
    first = text.index(old, text.index("ctx_conv1_1"))
    net.write_text(text[:first] + "num_output: %d" % (CLASSES + 1) + text[first + len(old):])
    solver_copy(workspace, "ctx", max_iter=4, snapshot=2)
    out = train(workspace, solver)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith(
        "python -m tools.train: error: ctx_solver.prototxt: the snapshot it resumes, "), out.stderr
    assert "is of another net (Caffe: Cannot copy param 0 weights from layer 'ctx_conv1_1'" \
        in out.stderr and "move the solver's snapshots aside" in out.stderr
