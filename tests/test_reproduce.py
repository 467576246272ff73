"""tools.reproduce without Caffe: the dry run lists every stage's command and
writes nothing; stamps skip a complete stage, resume an interrupted one and
redo one whose inputs changed (old snapshots set aside, LMDBs forced)."""
import os

import pytest

from helpers import run_module
from tools.reproduce.cli import run_stage
from tools.reproduce.plan import Stage, Write


@pytest.fixture
def sources(tmp_path):
    for name in ("train_images", "train_labels", "val_images", "val_labels"):
        (tmp_path / (name + ".txt")).write_text("a.png\n")
    (tmp_path / "vgg.caffemodel").write_bytes(b"")
    return tmp_path


def lists(root):
    return ["--train-images", root / "train_images.txt", "--train-labels", root / "train_labels.txt",
            "--val-images", root / "val_images.txt", "--val-labels", root / "val_labels.txt"]


def test_dry_run_prints_every_command_and_writes_nothing(sources):
    work = sources / "work"
    out = run_module("tools.reproduce", "cityscapes", "--work", work, "--vgg", sources / "vgg.caffemodel",
                     *lists(sources), "--context", "basic", "--context", "large", "--joint",
                     "--gpu", "1", "--docker", "bvlc/caffe:gpu", "--no-test-net", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert not work.exists()
    for text in ("python -m prototxt_gen --dataset cityscapes --out models/front",
                 "--context-width large --snapshot-root snapshots/large",
                 "python -m tools.data lists --dataset cityscapes --split train",
                 "python -m tools.weights vgg16",
                 "python -m tools.train models/front/cityscapes/frontend_solver.prototxt --weights "
                 "init/frontend.caffemodel --gpu 1 --docker bvlc/caffe:gpu",
                 "python -m tools.features --dataset cityscapes --weights "
                 "snapshots/cityscapes/frontend_iter_60000.caffemodel",
                 "python -m tools.data context --dataset cityscapes --split val",
                 "python -m tools.weights identity --dataset cityscapes --width basic",
                 "python -m tools.weights merge snapshots/cityscapes/frontend_iter_60000.caffemodel "
                 "snapshots/large/cityscapes/context_iter_40000.caffemodel",
                 "python -m tools.evaluate lists/val_pairs.txt --dataset cityscapes --weights "
                 "snapshots/basic/cityscapes/joint_iter_40000.caffemodel --net "
                 "models/basic/cityscapes/dilation10_cityscapes_deploy.prototxt"):
        assert text in out.stdout, text
    assert out.stdout.count("would run") == 18
    assert "--no-test-net" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["pascal_voc"], "give --voc and --sbd (pascal_voc), --root (cityscapes, camvid, kitti) or all"),
    (["pascal_voc", "--root", "."], "--root is for cityscapes, camvid and kitti"),
    (["camvid", "--root", ".", "--coco", "a.json", "."], "--coco augments VOC"),
    (["camvid", "--root", "nowhere"], "nowhere does not exist (--root)"),
    (["camvid", "--voc", "x", "--sbd", "y"], "--voc and --sbd go together, for pascal_voc only"),
    (["kitti", "--train-images", "nope.txt", "--train-labels", "nope.txt", "--val-images", "nope.txt",
      "--val-labels", "nope.txt"], "nope.txt does not exist (--train-images)"),
    (["kitti", "--deploy-size", "100"], "larger than 372"),
])
def test_bad_input_is_one_line(sources, args, message):
    out = run_module("tools.reproduce", *args, "--vgg", sources / "vgg.caffemodel", cwd=sources)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert message in out.stderr


def test_stamps_skip_resume_and_redo(tmp_path, capsys):
    work = str(tmp_path)
    (tmp_path / "input.txt").write_text("one")
    calls = []

    def make():
        calls.append(1)
        return (tmp_path / "input.txt").read_text()

    def stage():
        return Stage("copy", [Write("out/copy.txt", "a copy", make)], ["input.txt"], ["out/copy.txt"],
                     snapshots="snaps/copy")
    assert run_stage(stage(), work, False) == "ran"
    assert run_stage(stage(), work, False) == "skipped" and len(calls) == 1
    os.remove(tmp_path / "out" / "copy.txt")  # an output gone: run again
    assert run_stage(stage(), work, False) == "ran" and len(calls) == 2
    os.makedirs(tmp_path / "snaps")
    (tmp_path / "snaps" / "copy_iter_5.caffemodel").write_text("old")
    (tmp_path / "input.txt").write_text("two")  # inputs changed: redone, snapshots set aside
    assert run_stage(stage(), work, True) == "would redo"
    assert run_stage(stage(), work, False) == "ran"
    assert (tmp_path / "out" / "copy.txt").read_text() == "two"
    assert not (tmp_path / "snaps" / "copy_iter_5.caffemodel").exists()
    aside = [d for d in os.listdir(tmp_path / "snaps") if d.startswith("stale-")]
    assert os.listdir(tmp_path / "snaps" / aside[0]) == ["copy_iter_5.caffemodel"]
    assert "set aside" in capsys.readouterr().out


def test_an_interrupted_stage_resumes_without_forcing(tmp_path, monkeypatch):
    """Same inputs, stamp not done (a Ctrl-C): the tool reruns as it was, no --force."""
    from tools.reproduce import cli, stamps
    (tmp_path / "input.txt").write_text("x")
    stage = Stage("data", [["tools.data", "voc"]], ["input.txt"], ["out.json"], force=("--force",))
    key = stamps.key([cli.shown(s) for s in stage.steps], [str(tmp_path / "input.txt")])
    stamps.write(str(tmp_path / "stamps" / "data.json"), {"key": key, "done": False})
    ran = []
    monkeypatch.setattr(cli.subprocess, "call", lambda argv, **kw: ran.append(argv[2:]) or 0)
    assert run_stage(stage, str(tmp_path), False) == "ran" and ran == [["tools.data", "voc"]]
    (tmp_path / "input.txt").write_text("y")
    assert run_stage(stage, str(tmp_path), False) == "ran" and ran[-1] == ["tools.data", "voc", "--force"]


def test_dry_run_plans_without_vgg_and_estimates_the_cost(tmp_path):
    """No VGG-16 file yet: the plan, tools.data's LMDB estimate and the training
    compute per stage; the COCO stage for VOC, --caffe for training."""
    from data_fixtures import make_fixture
    fx = make_fixture(tmp_path / "raw")
    caffe = tmp_path / "caffe" / "build" / "tools" / "caffe"
    caffe.parent.mkdir(parents=True)
    caffe.write_text("")
    out = run_module("tools.reproduce", "pascal_voc", "--work", tmp_path / "w",
                     "--vgg", tmp_path / "not-yet.caffemodel", "--voc", fx.voc, "--sbd", fx.sbd,
                     "--coco", fx.coco_annotations, fx.coco_images, "--caffe", caffe,
                     "--gpu", "0", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "w").exists()
    text = out.stdout
    assert "python -m tools.data coco --voc" in text and "data/pascal_voc/train_coco_lmdb: at most" in text
    assert ("python -m tools.train models/front/pascal_voc/frontend_coco_stage1_solver.prototxt "
            "--weights init/frontend.caffemodel --gpu 0 --caffe %s" % caffe) in text
    assert ("models/front/pascal_voc/frontend_coco_stage2_solver.prototxt --weights "
            "snapshots/pascal_voc/frontend_coco_stage1_iter_140000.caffemodel") in text
    assert "tools.features --dataset pascal_voc --weights " \
           "snapshots/pascal_voc/frontend_coco_stage2_iter_50000.caffemodel" in text
    estimate = text[text.index("\nestimate:"):text.index("\nsummary")]
    rows = {line.split()[0]: line.split() for line in estimate.splitlines()[3:]}
    assert set(rows) == {"frontend_coco", "frontend", "context_large", "total"}
    assert rows["frontend_coco"][1] == "140000" and rows["frontend"][1] == "50000"
    # 140K iterations of 14 crops of 500: counted by hand, VGG-16 without padding and its
    # dilated fc6 take 104.5 G multiply-adds a crop, x2 x3 for forward and backward: 1229 PFLOP
    assert 1200 < float(rows["frontend_coco"][2]) < 1260
    assert float(rows["total"][2]) == pytest.approx(
        sum(float(rows[s][2]) for s in ("frontend_coco", "frontend", "context_large")), abs=0.2)


def test_docker_mounts_cover_the_scored_truths(tmp_path):
    """--docker runs tools.evaluate in the image: the folders of the official
    Cityscapes labelIds it scores must be mounted, not only the LMDBs' sources."""
    import json
    from types import SimpleNamespace

    from tools.reproduce.plan import Recipe
    work = tmp_path / "work"
    for split in ("train", "val"):
        lmdb = work / "data" / "cityscapes" / ("%s_lmdb.json" % split)
        lmdb.parent.mkdir(parents=True, exist_ok=True)
        lmdb.write_text(json.dumps({"samples": [["a", "/img/%s/a.png" % split,
                                                  "/converted/%s/a.png" % split]]}))
    (work / "lists").mkdir()
    (work / "lists" / "val_pairs.txt").write_text("/img/val/a.png\t/gtFine/val/x/a_gtFine_labelIds.png\n")
    args = SimpleNamespace(work=str(work), dataset="cityscapes", root="/cityscapes")
    assert Recipe(args).sample_dirs() == ["/converted/train", "/converted/val", "/gtFine/val/x",
                                          "/img/train", "/img/val"]
