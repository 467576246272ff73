"""Building LMDBs: reproducible keys, a manifest of what went in, a map that
grows, validation that stops a bad build with one line naming the file (or
skips and lists it), and builds that a kill at any point never leaves looking
complete."""
import functools
import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import lmdb
import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from data_fixtures import TRAIN, VAL, make_fixture
from helpers import REPO, run_module
from prototxt_gen.schema import pb
from tools.data.cli import main
from tools.data.image_records import image_record
from tools.data.lmdb_writer import build, is_complete, list_checksum, read_manifest
from tools.data.voc_sbd import voc_sets
from tools.palettes import write_labels

CROP = "388"


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return make_fixture(tmp_path_factory.mktemp("build"))


def contents(path):
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        items = list(txn.cursor())
    env.close()
    return items


def voc(fx, root, *extra):
    return main(["voc", "--voc", fx.voc, "--sbd", fx.sbd, "--lmdb-root", str(root), "--crop", CROP,
                 *extra])


def lmdb_dir(root, split="train"):
    return str(root / "pascal_voc" / ("%s_lmdb" % split))


def test_help():
    for command in ([], ["voc"], ["coco"], ["lists"], ["context"]):
        out = run_module("tools.data", *command, "--help")
        assert out.returncode == 0 and "usage: python -m tools.data" in out.stdout
        assert "--dry-run" in out.stdout or not command
    trade_off = " ".join(run_module("tools.data", "voc", "--help").stdout.split())
    assert re.search(r"feeds \d+ samples per second .* \d+\.\d+ GB at level 1", trade_off)


def test_keys_are_a_seeded_shuffle_and_the_manifest_says_what_went_in(fx, tmp_path, capsys):
    assert voc(fx, tmp_path / "a") == 0
    assert voc(fx, tmp_path / "b") == 0
    assert voc(fx, tmp_path / "c", "--seed", "1") == 0
    out = capsys.readouterr().out
    assert "SBD train: 3 listed, 1 added, 1 in VOC val, 1 duplicates" in out
    assert "training set: 5 images; validation set: 2 images" in out
    a, b, c = (contents(lmdb_dir(tmp_path / r)) for r in "abc")
    assert a == b and [k for k, _ in a] != [k for k, _ in c]
    assert sorted(k[9:] for k, _ in a) == sorted(k[9:] for k, _ in c)
    assert [k for k, _ in contents(lmdb_dir(tmp_path / "a", "val"))] == [
        b"%08d_%s" % (i, name.encode()) for i, (_, name) in enumerate(VAL)]
    for k, value in a:
        datum = pb.Datum.FromString(value)
        assert not datum.encoded and datum.channels == 4 and k[:8].isdigit() and k[8:9] == b"_"
        assert len(datum.data) == 4 * datum.height * datum.width  # raw C x H x W bytes
    manifest = read_manifest(lmdb_dir(tmp_path / "a"))
    train, _, counts = voc_sets(fx.voc, fx.sbd)
    assert manifest["list_sha256"] == list_checksum(train)
    assert (manifest["records"], manifest["crop"], manifest["seed"], manifest["skipped"]) == (5, 388, 0, [])
    assert (manifest["record"], manifest["compression"]) == ("raw", None)
    assert manifest["counts"] == counts and manifest["sources"]["voc"] == os.path.abspath(fx.voc)
    assert [s[0].encode() for s in manifest["samples"]] == [k for k, _ in a]
    assert sorted(s[1] for s in manifest["samples"]) == sorted(fx.images[k] for k in TRAIN)
    assert sum(manifest["record_shapes"].values()) == 5 and "4x388x388" in manifest["record_shapes"]


def test_map_grows_instead_of_failing(fx, tmp_path):
    train = voc_sets(fx.voc, fx.sbd)[0]
    encode = functools.partial(image_record, classes=21, crop=388, compression=0)
    manifest = build(str(tmp_path / "x_lmdb"), train, encode, {}, map_size=1 << 16)
    items = contents(tmp_path / "x_lmdb")
    assert manifest["records"] == len(items) == 5
    assert sum(len(v) for _, v in items) > 1 << 16


def test_complete_lmdb_is_kept_unless_forced(fx, tmp_path, capsys):
    assert voc(fx, tmp_path) == 0
    first = read_manifest(lmdb_dir(tmp_path))
    stamp = os.stat(os.path.join(lmdb_dir(tmp_path), "data.mdb")).st_mtime_ns
    assert voc(fx, tmp_path) == 0
    assert "train_lmdb: complete, kept (5 records; --force rebuilds it)" in capsys.readouterr().out
    assert os.stat(os.path.join(lmdb_dir(tmp_path), "data.mdb")).st_mtime_ns == stamp
    assert voc(fx, tmp_path, "--force") == 0
    assert os.stat(os.path.join(lmdb_dir(tmp_path), "data.mdb")).st_mtime_ns != stamp
    assert read_manifest(lmdb_dir(tmp_path))["list_sha256"] == first["list_sha256"]


# Runs the CLI with SIGKILL at one point of a build.
KILLED = """
import os, signal, sys
import tools.data.lmdb_writer as w
point, argv = sys.argv[1], sys.argv[2:]
def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)
def after(n, real):
    calls = []
    def wrapper(*args):
        if len(calls) == n:
            die()
        calls.append(1)
        return real(*args)
    return wrapper
if point == "mid-write":              # two records committed
    w.COMMIT_BYTES = 1
    w._commit = after(2, w._commit)
elif point == "before-rename":        # all records synced
    w._replace_dir = die
elif point == "between-renames":      # --force: old LMDB moved aside, new not yet in place
    w.os.rename = after(1, os.rename)
elif point == "before-manifest":      # renamed into place
    w._write_json = die
from tools.data.cli import main
main(argv)
"""


# What each kill leaves at <lmdb>...: a temporary, the old LMDB moved aside, or an unmarked LMDB.
LEFTOVER = {"mid-write": ".partial", "before-rename": ".partial", "between-renames": ".old",
            "before-manifest": ""}


@pytest.mark.parametrize("point", LEFTOVER)
def test_a_killed_build_is_never_taken_for_complete(fx, tmp_path, point):
    clean = tmp_path / "clean"
    assert voc(fx, clean) == 0
    root = tmp_path / "killed"
    args = ["voc", "--voc", fx.voc, "--sbd", fx.sbd, "--lmdb-root", str(root), "--crop", CROP]
    if point == "between-renames":
        assert main(args) == 0
        args.append("--force")
    proc = subprocess.run([sys.executable, "-c", KILLED, point, *args], cwd=REPO, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    assert os.path.isdir(lmdb_dir(root) + LEFTOVER[point])
    assert not is_complete(lmdb_dir(root)) and not os.path.exists(lmdb_dir(root) + ".json")
    assert main(args) == 0
    for split in ("train", "val"):
        path = lmdb_dir(root, split)
        assert is_complete(path) and contents(path) == contents(lmdb_dir(clean, split))
        assert not os.path.exists(path + ".partial") and not os.path.exists(path + ".old")


# ---- validation: one line naming the file, exit 2; or --skip-bad -------------------------

def pair(fx, tmp_path, name="2007_000032"):
    """A copy of a good VOC pair to spoil."""
    key = ("voc", name)
    image, label = str(tmp_path / (name + ".jpg")), str(tmp_path / (name + ".png"))
    cv2.imwrite(image, fx.image(key))
    write_labels(label, fx.truth[key], "pascal_voc")
    return image, label


def lists(tmp_path, images, labels):
    paths = []
    for kind, files in (("images", images), ("labels", labels)):
        paths.append(str(tmp_path / ("%s.txt" % kind)))
        with open(paths[-1], "w") as f:
            f.write("".join(p + "\n" for p in files))
    return paths


def run_lists(tmp_path, images, labels, *extra, dataset="pascal_voc"):
    image_list, label_list = lists(tmp_path, images, labels)
    return main(["lists", "--dataset", dataset, "--split", "train", "--images", image_list,
                 "--labels", label_list, "--lmdb-root", str(tmp_path / "data"), "--crop", CROP, *extra])


def spoil_value(image, label):
    values = np.asarray(Image.open(label)).copy()
    values[3, 4] = 94
    write_labels(label, values, "pascal_voc")
    return "label 94 in %s: not a class index (expected 0..20, or 255 to ignore)" % label


def spoil_colours(image, label):
    Image.open(label).convert("RGB").save(label)
    return ("label %s has mode RGB, not class indices: labels are palette or grayscale PNGs "
            "whose pixel values are the classes" % label)


def spoil_size(image, label):
    write_labels(label, np.asarray(Image.open(label))[:-1], "pascal_voc")
    return "image %s is 30x40 (HxW) but its label %s is 29x40" % (image, label)


def spoil_image(image, label):
    with open(image, "wb") as f:
        f.write(b"not a JPEG")
    return "cannot decode image %s: not an image OpenCV reads, or truncated" % image


def spoil_missing(image, label):
    os.remove(label)
    return "%s (the label of 2007_000032) does not exist" % label


def spoil_mat(image, label):
    """A .mat label, but not SBD's: the label list names it instead of the PNG."""
    savemat(label[:-4] + ".mat", {"Segmentation": np.asarray(Image.open(label))})
    return "label %s has no GTcls.Segmentation: not an SBD dataset/cls .mat file" % (label[:-4] + ".mat")


@pytest.mark.parametrize("spoil", [spoil_value, spoil_colours, spoil_size, spoil_image, spoil_missing,
                                   spoil_mat])
def test_a_bad_pair_stops_the_build_with_one_line(fx, tmp_path, capfd, spoil):
    image, label = pair(fx, tmp_path)
    message = spoil(image, label)
    if spoil is spoil_mat:
        label = label[:-4] + ".mat"
    good = pair(fx, tmp_path, "2007_000039")
    assert run_lists(tmp_path, [good[0], image], [good[1], label]) == 2
    out, err = capfd.readouterr()
    assert err == "python -m tools.data lists: error: %s (--skip-bad leaves such pairs out)\n" % message
    assert out == "" and list((tmp_path / "data").rglob("*lmdb*")) == []


def test_skip_bad_leaves_out_and_lists(fx, tmp_path, capsys):
    good = pair(fx, tmp_path, "2007_000039")
    bad_value = pair(fx, tmp_path)
    value_message = spoil_value(*bad_value)
    missing = pair(fx, tmp_path, "2007_000063")
    os.remove(missing[1])
    assert run_lists(tmp_path, [good[0], bad_value[0], missing[0]], [good[1], bad_value[1], missing[1]],
                     "--skip-bad") == 0
    out = capsys.readouterr().out
    missing_message = "%s (the label of 2007_000063) does not exist" % missing[1]
    assert "skipped: %s\n" % value_message in out and "skipped: %s\n" % missing_message in out
    manifest = read_manifest(str(tmp_path / "data" / "pascal_voc" / "train_lmdb"))
    assert manifest["records"] == 1 and sorted(manifest["skipped"]) == sorted([value_message, missing_message])
    assert [s[1] for s in manifest["samples"]] == [os.path.abspath(good[0])]


def test_labels_are_checked_against_the_data_sets_classes(fx, tmp_path, capfd):
    image, label = pair(fx, tmp_path)
    assert run_lists(tmp_path, [image], [label], dataset="camvid") == 2
    values = sorted(v for v in np.unique(fx.truth[("voc", "2007_000032")]) if 11 <= v < 255)
    assert "error: label %s in %s: not a class index (expected 0..10, or 255 to ignore)" % (
        ", ".join(map(str, values)), label) in capfd.readouterr().err


@pytest.mark.parametrize("images, labels, message", [
    (["a.jpg", "b.jpg"], ["a.png"], "{images} lists 2 files but {labels} lists 1: the lists must pair line by line"),
    (["x/a.jpg", "y/a.jpg"], ["a.png", "b.png"], "a is listed twice in {images}"),
])
def test_bad_lists(tmp_path, capfd, images, labels, message):
    image_list, label_list = lists(tmp_path, images, labels)
    assert main(["lists", "--dataset", "pascal_voc", "--split", "train", "--images", image_list,
                 "--labels", label_list, "--lmdb-root", str(tmp_path)]) == 2
    assert capfd.readouterr().err == "python -m tools.data lists: error: %s\n" % message.format(
        images=image_list, labels=label_list)


def spoil_channels(features):
    np.save(features, np.load(features)[:19])
    return "score map %s has 19 channels but the data set has 21 classes" % features


def spoil_cells(features):
    np.save(features, np.load(features)[:, :3])
    return ("score map %s is 3x6 (HxW) but its label {label} (30x40) needs at least 4x5 = "
            "ceil(label size / 8)" % features)


def spoil_dtype(features):
    np.save(features, np.load(features).astype(np.float64))
    return "score map %s is float64 of shape (21, 6, 6), expected float32 C x H x W" % features


def spoil_crop(features):
    """Records are never zero-padded up to the crop: a map smaller than it is refused."""
    np.save(features, np.load(features)[:, :5, :5])
    return ("score map %s is 5x5 cells, smaller than the context crop 6: store whole deploy "
            "tiles with python -m tools.features, or pass --context-crop 5" % features)


@pytest.mark.parametrize("spoil", [spoil_channels, spoil_cells, spoil_dtype, spoil_crop])
def test_bad_score_maps(fx, tmp_path, capfd, spoil):
    key = ("voc", "2007_000032")
    features = str(tmp_path / "scores.npy")
    np.save(features, np.load(fx.features[key]))
    message = spoil(features).format(label=fx.labels[key])
    feature_list, label_list = lists(tmp_path, [features], [fx.labels[key]])
    assert main(["context", "--dataset", "pascal_voc", "--split", "train", "--features", feature_list,
                 "--labels", label_list, "--lmdb-root", str(tmp_path / "data"),
                 "--context-crop", "6"]) == 2
    assert capfd.readouterr().err == (
        "python -m tools.data context: error: %s (--skip-bad leaves such pairs out)\n" % message)


def test_bad_trees(fx, tmp_path, capfd):
    assert main(["voc", "--voc", str(tmp_path), "--sbd", fx.sbd, "--lmdb-root", str(tmp_path)]) == 2
    assert capfd.readouterr().err == (
        "python -m tools.data voc: error: missing %s/ImageSets/Segmentation/val.txt (--voc is the "
        "VOC2012 directory, the one holding JPEGImages/)\n" % tmp_path)
    annotations = tmp_path / "instances.json"
    annotations.write_text(json.dumps({"images": [], "annotations": [],
                                       "categories": [{"id": 1, "name": "person"}]}))
    assert main(["coco", "--voc", fx.voc, "--sbd", fx.sbd, "--coco", str(annotations), str(tmp_path),
                 "--lmdb-root", str(tmp_path)]) == 2
    err = capfd.readouterr().err.splitlines()[-1]
    assert err.startswith("python -m tools.data coco: error: %s lacks the COCO categories airplane, "
                          "bicycle, bird," % annotations) and err.endswith("tv: not a COCO instances file")


def test_a_real_process_prints_one_line_and_no_traceback(fx, tmp_path):
    image, label = pair(fx, tmp_path)
    spoil_value(image, label)
    image_list, label_list = lists(tmp_path, [image], [label])
    out = run_module("tools.data", "lists", "--dataset", "pascal_voc", "--split", "val",
                     "--images", image_list, "--labels", label_list,
                     "--lmdb-root", tmp_path / "data")
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert len(out.stderr.splitlines()) == 1 and "label 94 in %s" % label in out.stderr


# ---- disk: the estimate, --dry-run, refusal before writing, a disk that fills anyway -----

def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def estimated_bytes(out, path):
    line = next(line for line in out.splitlines() if line.startswith(path + ": at most "))
    number, unit = line.split()[3:5]
    return float(number) * {"MB": 1e6, "GB": 1e9}[unit]


@pytest.mark.parametrize("extra", [[], ["--compression", "0"]])
def test_dry_run_estimates_the_lmdbs_and_writes_nothing(fx, tmp_path, capsys, extra):
    root = tmp_path / "data"
    assert voc(fx, root, "--dry-run", *extra) == 0
    assert main(["coco", "--voc", fx.voc, "--sbd", fx.sbd, "--coco", fx.coco_annotations,
                 fx.coco_images, "--lmdb-root", str(root), "--crop", CROP, "--dry-run"]) == 0
    features, labels = fx.write_lists(TRAIN, "dry_context", inputs="features")
    assert main(["context", "--dataset", "pascal_voc", "--split", "train", "--features", features,
                 "--labels", labels, "--lmdb-root", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert tree(root) == []  # no LMDB, no COCO label, not even a directory
    for split, n in (("train", 5), ("val", 2), ("train_coco", None), ("context_train", 5)):
        assert "%s: at most " % lmdb_dir(root, split) in out
        assert n is None or "B for %d records, built in about " % n in out
    assert voc(fx, root, *extra) == 0  # the estimate bounds the build's size, closely
    for split in ("train", "val"):
        built = sum(os.path.getsize(os.path.join(lmdb_dir(root, split), name))
                    for name in ("data.mdb", "lock.mdb"))
        assert built <= estimated_bytes(out, lmdb_dir(root, split)) < 1.1 * built + 1e5


def test_a_build_that_cannot_fit_is_refused_before_writing(fx, tmp_path, capfd, monkeypatch):
    import tools.data.estimate as estimate
    usage = shutil.disk_usage(str(tmp_path))
    monkeypatch.setattr(estimate.shutil, "disk_usage", lambda path: usage._replace(free=10 ** 6))
    root = tmp_path / "data"
    assert voc(fx, root) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("python -m tools.data voc: error: %s needs about " % lmdb_dir(root))
    assert "MB free (" in err and "B short)" in err
    assert tree(root) == []


def test_a_disk_that_fills_while_writing_is_one_line(fx, tmp_path, capfd, monkeypatch):
    import tools.data.lmdb_writer as writer

    def full(env, batch):
        raise lmdb.DiskError("mdb_txn_commit: No space left on device")
    monkeypatch.setattr(writer, "_commit", full)
    root = tmp_path / "data"
    assert voc(fx, root) == 2
    err = capfd.readouterr().err
    assert err == ("python -m tools.data voc: error: cannot write %s: No space left on device; "
                   "nothing was kept (free space, or choose another --lmdb-root)\n" % lmdb_dir(root))
    assert tree(root) == ["pascal_voc"]  # the partial LMDB is gone
