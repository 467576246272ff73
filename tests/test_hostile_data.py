"""Hostile input for the data path (issue 19): what real data sets and careless
hands give tools.data, tools.evaluate and tools.reproduce.  Error cases hold
the contract of tests/hostile_fixtures.py; the rest check that a harmless oddity
is handled as its format's conventions say, and never gives a wrong number.

- files that are not regular (a FIFO, /dev/null), invisible characters and NUL
  in lists, relative entries read from the list's folder;
- COCO annotations as real files hold them, SBD .mat files saved as v7.3 or
  damaged, an .npz given as a score map, a stamp that is no JSON object;
- EXIF orientation on images and labels alike (Caffe's cv::imread applies it);
- two builds of one LMDB, a disk that fills, the size estimate as a bound;
- evaluation outputs that are exactly one run's, stamps that see in-place edits.
"""
import csv
import json
import os
import shutil

import cv2
import lmdb
import numpy as np
import pytest
from PIL import Image

from data_fixtures import COCO_NUMPY2, TRAIN, VAL, make_fixture
from helpers import REPO, run_module
from hostile_fixtures import assert_contract, copied
from onnx_fixtures import deploy_prototxt, photo, random_weights
from prototxt_gen.cli_common import read_paths
from prototxt_gen.schema import pb
from prototxt_gen.spec.grid import MARGIN
from tools import images
from tools.data.coco import coco_samples
from tools.data.lmdb_writer import locked, read_manifest
from tools.data.validate import read_label
from tools.palettes import write_labels
from tools.reproduce import cli as reproduce, stamps
from tools.reproduce.plan import Recipe, Stage, Write
from tools.weights.netcheck import load_net
from weights_fixtures import narrow, write_net

pytestmark = pytest.mark.filterwarnings(COCO_NUMPY2)
ORIENTATION = 0x0112
# EXIF orientation -> what turns the stored pixels upright (Pillow's transposes).
UPRIGHT = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270,
           8: Image.Transpose.ROTATE_90}
STORED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
          8: Image.Transpose.ROTATE_270}   # the inverse: upright pixels -> stored ones
# An LMDB too large for it stops the build part-way, as a full disk does; other
# files stay far below it.
FILE_SIZE_LIMIT = {"tools.data": 1 << 20, "tools.evaluate": 1100}  # a report: 1.3 kB


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_data")
    fx = make_fixture(root / "fx")
    # relative entries: each test's copy of the workspace names its own files
    for names, paths in ((("images.txt", "labels.txt"), fx.write_lists(TRAIN, str(root / "t"))),
                         (("features.txt", "feature_labels.txt"),
                          fx.write_lists(VAL, str(root / "c"), inputs="features"))):
        for name, path in zip(names, paths):
            (root / name).write_text("".join(os.path.relpath(line, root) + "\n"
                                             for line in open(path).read().splitlines()))
    write_labels(str(root / "truth.png"), np.zeros((8, 8), np.uint8), "camvid")
    write_labels(str(root / "pred.png"), np.ones((8, 8), np.uint8), "camvid")
    (root / "pairs.txt").write_text("pred.png truth.png\n")
    return root


@pytest.fixture
def ws(base, tmp_path):
    return copied(base, tmp_path)


def lists(*extra):
    return ["lists", "--dataset", "pascal_voc", "--split", "train", "--lmdb-root", "lmdb",
            "--crop", "388", "--workers", "1", "--images", "images.txt", "--labels",
            "labels.txt"] + list(extra)


def context(*extra):
    return ["context", "--dataset", "pascal_voc", "--split", "val", "--lmdb-root", "lmdb",
            "--features", "features.txt", "--labels", "feature_labels.txt"] + list(extra)


def coco(ws, annotations):
    return ["coco", "--voc", "fx/VOCdevkit/VOC2012", "--sbd", "fx/benchmark_RELEASE",
            "--lmdb-root", "lmdb", "--crop", "388", "--coco", annotations, "fx/coco/train2014"]


def replace_line(ws, list_name, index, text):
    lines = (ws / list_name).read_text().splitlines()
    lines[index] = str(text)
    (ws / list_name).write_text("\n".join(lines) + "\n")


def sbd_label(ws):
    """The list position and path of an SBD .mat label."""
    return next((i, line) for i, line in enumerate((ws / "labels.txt").read_text().splitlines())
                if line.endswith(".mat"))


def spoilt_mat(ws, spoil):
    index, label = sbd_label(ws)
    path = ws / "spoilt.mat"
    path.write_bytes(spoil((ws / label).read_bytes()))
    replace_line(ws, "labels.txt", index, path)
    return lists()


# MATLAB's `save -v7.3`: a 128-byte MAT header (version 0x0200) before an HDF5 file.
MAT_V73 = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan 1 00:00:00 2024 HDF5 "
           b"schema 1.00 .").ljust(116) + bytes(8) + b"\x00\x02IM" + b"\x89HDF\r\n\x1a\n" + bytes(96)


def annotated(ws, change):
    """The fixture's COCO instances file, changed."""
    data = json.loads((ws / "fx/coco/annotations/instances_train2014.json").read_text())
    change(data)
    (ws / "ann.json").write_text(json.dumps(data))
    return coco(ws, "ann.json")


def annotation(index, drop=(), **fields):
    """A change to the annotation at `index`: `fields` set, the keys `drop` removed."""
    def change(data):
        data["annotations"][index].update(fields)
        for key in drop:
            del data["annotations"][index][key]
    return change


def image_entry(index, **fields):
    return lambda data: data["images"][index].update(fields)


def elsewhere_lists(ws):
    """Lists in a folder of their own, whose relative entries name files there."""
    (ws / "sub").mkdir()
    (ws / "sub/images.txt").write_text("a.jpg\n")
    (ws / "sub/labels.txt").write_text("a.png\n")
    return lists("--images", "sub/images.txt", "--labels", "sub/labels.txt")


def npz_scores(ws):
    first = (ws / "features.txt").read_text().splitlines()[0]
    np.savez(ws / "scores.npz", scores=np.load(ws / first))
    replace_line(ws, "features.txt", 0, ws / "scores.npz")
    return context()


def held_lock(ws):
    """A build of the same LMDB in progress: its lock is held (by this test
    process) and its .partial is on disk."""
    lmdb_path = os.path.realpath(ws / "lmdb" / "pascal_voc" / "train_lmdb")
    (ws / "lmdb/pascal_voc/train_lmdb.partial").mkdir(parents=True)
    (ws / "lmdb/pascal_voc/train_lmdb.partial/data.mdb").write_bytes(b"the other build's")
    return locked(lmdb_path)


CASES = [
    # files that are there but are no regular file; what lists hide
    ("image-is-a-fifo", lambda ws: (os.mkfifo(ws / "pipe.jpg")
                                    or replace_line(ws, "images.txt", 0, ws / "pipe.jpg")
                                    or lists(), "is a FIFO, not a regular file")),
    ("label-is-dev-null", lambda ws: (replace_line(ws, "labels.txt", 1, "/dev/null") or lists(),
                                      "/dev/null (the label of")),
    ("bom-inside-a-list", lambda ws: (replace_line(ws, "labels.txt", 2, "\ufeff" + open(
        ws / "labels.txt").read().splitlines()[2]) or lists(), "\\ufeff")),
    ("nul-in-a-list", lambda ws: (replace_line(ws, "images.txt", 1, "a\0b.jpg") or lists(),
                                  "NUL")),
    ("relative-entry-missing", lambda ws: (
        elsewhere_lists(ws), "%s/sub/a.jpg (the input of a) does not exist" % ws)),
    # SBD .mat files that scipy cannot read
    ("sbd-mat-v7.3", lambda ws: (spoilt_mat(ws, lambda data: MAT_V73), "v7.3")),
    ("sbd-mat-truncated", lambda ws: (spoilt_mat(ws, lambda data: data[:len(data) // 2]),
                                      "spoilt.mat")),
    ("sbd-mat-empty", lambda ws: (spoilt_mat(ws, lambda data: b""), "spoilt.mat")),
    # score maps
    ("context-npz", lambda ws: (npz_scores(ws), "npz archive")),
    ("context-empty-npy", lambda ws: ((ws / "e.npy").write_bytes(b"") or
                                      replace_line(ws, "features.txt", 0, ws / "e.npy")
                                      or context(), "e.npy")),
    # COCO annotations that would change a label: one line naming it
    ("coco-height-text", lambda ws: (annotated(ws, image_entry(0, height="36")), "image 9 in")),
    ("coco-height-0", lambda ws: (annotated(ws, image_entry(0, height=0)), "height is 0")),
    ("coco-no-category", lambda ws: (annotated(ws, annotation(0, drop=["category_id"])),
                                     "annotation 1 in")),
    ("coco-unknown-category", lambda ws: (annotated(ws, annotation(1, category_id=999)),
                                          "annotation 2 in")),
    ("coco-odd-polygon", lambda ws: (annotated(ws, annotation(0, segmentation=[[1, 2, 3, 4, 5]])),
                                     "5 numbers")),
    ("coco-polygon-of-text", lambda ws: (annotated(ws, annotation(
        0, segmentation=[[1, 1, "9", 1, 9, 9]])), "annotation 1 in")),
    ("coco-rle-of-another-size", lambda ws: (annotated(ws, annotation(
        3, segmentation={"counts": [10, 20], "size": [5, 6]})), "annotation 4 in")),
    ("coco-iscrowd-2", lambda ws: (annotated(ws, annotation(0, iscrowd=2)), "iscrowd")),
    ("coco-image-id-text", lambda ws: (annotated(ws, annotation(0, image_id="9")), "image_id")),
    ("coco-annotation-no-object", lambda ws: (annotated(
        ws, lambda data: data["annotations"].append([1, 2])), "annotation number 9 (no id)")),
]


@pytest.mark.parametrize("case, setup", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(ws, case, setup):
    args, word = setup(ws)
    assert_contract(ws, "tools.data", [str(a) for a in args], word)


def test_a_second_build_of_an_lmdb_stops_and_leaves_the_first_alone(ws):
    with held_lock(ws):
        line = assert_contract(ws, "tools.data", lists(), "another build of")
    assert line.endswith("(pid %d): let it finish, or stop it and run this again" % os.getpid())
    assert (ws / "lmdb/pascal_voc/train_lmdb.partial/data.mdb").read_bytes() == b"the other build's"


def test_a_build_that_the_lock_let_through_removes_the_lock(ws):
    assert run_module("tools.data", *lists(), cwd=ws).returncode == 0
    assert sorted(os.listdir(ws / "lmdb/pascal_voc")) == ["train_lmdb", "train_lmdb.json"]


# ---- a full disk -------------------------------------------------------------------------

def file_size_limit(tmp_path, limit):
    """An environment whose Python processes may write no file larger than
    `limit` bytes: writes past it fail with EFBIG, as a full disk's with ENOSPC."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, (%d, %d))\n" % (limit, limit))
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))


def test_a_disk_that_fills_during_a_build_is_one_line(ws, tmp_path):
    line = assert_contract(ws, "tools.data", lists(), "cannot write",
                           env=file_size_limit(tmp_path, FILE_SIZE_LIMIT["tools.data"]))
    assert line.endswith("%s: Input/output error; nothing was kept (free space, or choose another "
                         "--lmdb-root)" % os.path.realpath(ws / "lmdb/pascal_voc/train_lmdb"))


def test_a_disk_that_fills_on_an_output_names_it(ws, tmp_path):
    line = assert_contract(ws, "tools.evaluate", ["pairs.txt", "--dataset", "camvid", "--out", "e"],
                           "File too large",
                           env=file_size_limit(tmp_path, FILE_SIZE_LIMIT["tools.evaluate"]))
    assert "cannot write e/report.html: File too large" in line


# ---- the estimate: an upper bound, from the decoder the build uses -----------------------

def estimate_line(out, path):
    return next(line for line in out.splitlines() if line.startswith(path + ": "))


def test_the_estimate_bounds_an_image_only_opencv_reads(ws):
    """Radiance .hdr: Pillow cannot read it, OpenCV (the build's decoder) can."""
    first = open(ws / "images.txt").read().splitlines()[0]
    cv2.imwrite(str(ws / "photo.hdr"), cv2.imread(str(ws / first)).astype(np.float32) / 255)
    replace_line(ws, "images.txt", 0, ws / "photo.hdr")
    dry = run_module("tools.data", *lists("--dry-run"), cwd=ws)
    assert dry.returncode == 0 and "unreadable" not in dry.stdout, dry.stdout + dry.stderr
    line = estimate_line(dry.stdout, "lmdb/pascal_voc/train_lmdb")
    assert " at most " in line and "for %d records" % len(TRAIN) in line
    number, unit = line.split(" at most ")[1].split()[:2]
    build = run_module("tools.data", *lists(), cwd=ws)
    assert build.returncode == 0, build.stderr
    built = sum(os.path.getsize(ws / "lmdb/pascal_voc/train_lmdb" / name)
                for name in ("data.mdb", "lock.mdb"))
    assert built <= float(number) * {"MB": 1e6, "GB": 1e9}[unit] < 1.1 * built + 1e5


def test_the_estimate_counts_an_npz_as_unreadable(ws):
    npz_scores(ws)
    out = run_module("tools.data", *context("--dry-run"), cwd=ws)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert "(1 inputs unreadable or missing, not counted)" in out.stdout


# ---- harmless oddities: handled as the format's conventions say ---------------------------

def test_a_bom_and_relative_entries_read_from_the_lists_folder(ws, tmp_path):
    """tools.reproduce runs tools.data in its work directory: a list's relative
    entries must name the same files from there."""
    folder = ws / "lists"
    folder.mkdir()
    for name in ("images.txt", "labels.txt"):
        paths = (ws / name).read_text().splitlines()
        (folder / name).write_text("\ufeff" + "".join(
            os.path.relpath(ws / p, folder) + "\n" for p in paths))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run_module("tools.data", *lists("--images", folder / "images.txt", "--labels",
                                          folder / "labels.txt", "--lmdb-root", ws / "lmdb"),
                     cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    manifest = read_manifest(str(ws / "lmdb/pascal_voc/train_lmdb"))
    assert sorted(os.path.realpath(s[1]) for s in manifest["samples"]) == sorted(
        os.path.realpath(ws / p) for p in (ws / "images.txt").read_text().splitlines())


DOG = (slice(10, 22), slice(20, 30))  # annotation 1, a dog on a person, in COCO image 9
COCO_HARMLESS = [
    ("empty-segmentation", annotation(0, segmentation=[]), "annotations without a region"),
    ("no-segmentation", annotation(0, drop=["segmentation"]), "annotations without a region"),
    ("two-point-polygon", annotation(0, segmentation=[[20, 10, 30, 22]]),
     "polygons of fewer than 3 points"),
    ("one-point-polygon", annotation(0, segmentation=[[20, 10]]), "polygons of fewer than 3"),
    ("unknown-image", annotation(0, image_id=12345), "annotations of images the file does not"),
    ("area-null", annotation(0, area=None), None),
    ("area-missing", annotation(1, drop=["area"]), None),
    ("iscrowd-missing", annotation(1, drop=["iscrowd"]), None),
]


@pytest.mark.parametrize("case, change, left_out", COCO_HARMLESS, ids=[c[0] for c in COCO_HARMLESS])
def test_coco_oddities_real_files_hold(base, tmp_path, case, change, left_out):
    """An annotation without a region is left out and counted (COCO's tools skip
    it too; pycocotools would read a 2-point polygon as a box); `area` is not
    needed, the masks give the painting order; a missing iscrowd is no crowd."""
    coco_dir = base / "fx" / "coco"
    reference, _ = coco_samples(str(coco_dir / "annotations/instances_train2014.json"),
                                str(coco_dir / "train2014"), str(tmp_path / "reference"))
    data = json.loads((coco_dir / "annotations/instances_train2014.json").read_text())
    change(data)
    (tmp_path / "ann.json").write_text(json.dumps(data))
    samples, counts = coco_samples(str(tmp_path / "ann.json"), str(coco_dir / "train2014"),
                                   str(tmp_path / "labels"))
    expected = [read_label(s.label).copy() for s in reference]
    if left_out:  # the dog is gone: the person under it shows
        assert [n for key, n in counts.items() if key.startswith(left_out)] == [1], counts
        assert (expected[0][DOG] == 12).all()
        expected[0][DOG] = 15
    else:
        assert counts == {"images": 4, "with VOC objects": 2, "labels written": 2}
    for ours, label in zip(samples, expected):
        np.testing.assert_array_equal(read_label(ours.label), label)


# ---- EXIF orientation: images and labels alike -------------------------------------------

def tagged(image, path, tag):
    """Saves `image` (a Pillow image shown upright) as the pixels a camera or
    tool stores with orientation `tag`."""
    exif = Image.Exif()
    exif[ORIENTATION] = tag
    image.transpose(STORED[tag]).save(path, exif=exif.tobytes())


def upright_pair(h=30, w=40):
    """A photo whose halves differ a lot, and a label of blocks, both upright."""
    rng = np.random.default_rng(3)
    photo = np.zeros((h, w, 3), np.uint8)
    photo[:, :w // 2] = (230, 40, 30)
    photo[: h // 3] = (20, 200, 60)
    label = np.zeros((h, w), np.uint8)
    label[: h // 3] = 5
    label[:, w // 2:] = 15
    label[rng.random((h, w)) < 0.05] = 255
    return photo, label


@pytest.mark.parametrize("tag", sorted(UPRIGHT))
def test_exif_orientation_turns_images_and_labels_alike(tmp_path, tag):
    photo, label = upright_pair()
    tagged(Image.fromarray(photo), tmp_path / "i.jpg", tag)
    palette = Image.fromarray(label, mode="P")
    palette.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
    tagged(palette, tmp_path / "l.png", tag)
    image = images.read_image(str(tmp_path / "i.jpg"))[..., ::-1]
    assert image.shape[:2] == label.shape and np.abs(image.astype(int) - photo).mean() < 8
    np.testing.assert_array_equal(read_label(str(tmp_path / "l.png")), label)


@pytest.mark.parametrize("tag", sorted(UPRIGHT))
def test_a_record_of_an_exif_tagged_pair_is_aligned(ws, tag):
    photo, label = upright_pair()
    tagged(Image.fromarray(photo), ws / "i.jpg", tag)
    palette = Image.fromarray(label, mode="P")
    palette.putpalette([0] * 768)
    tagged(palette, ws / "l.png", tag)
    (ws / "images.txt").write_text("i.jpg\n")
    (ws / "labels.txt").write_text("l.png\n")
    out = run_module("tools.data", *lists(), cwd=ws)
    assert out.returncode == 0, out.stderr
    env = lmdb.open(str(ws / "lmdb/pascal_voc/train_lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        datum = pb.Datum.FromString(next(iter(txn.cursor()))[1])
    env.close()
    record = np.frombuffer(datum.data, np.uint8).reshape(datum.channels, datum.height, datum.width)
    inside = (slice(MARGIN, MARGIN + label.shape[0]), slice(MARGIN, MARGIN + label.shape[1]))
    np.testing.assert_array_equal(record[3][inside], label)
    stored = record[:3][(slice(None),) + inside].transpose(1, 2, 0)[..., ::-1]
    assert np.abs(stored.astype(int) - photo).mean() < 8


@pytest.mark.parametrize("tag", sorted(UPRIGHT))
def test_evaluate_reads_an_exif_tagged_truth_upright(ws, tag):
    _, label = upright_pair()
    write_labels(str(ws / "pred.png"), np.where(label == 15, 7, label), "camvid")
    with Image.open(ws / "pred.png") as prediction:
        tagged(prediction, ws / "truth.png", tag)
    out = run_module("tools.evaluate", "pairs.txt", "--dataset", "camvid", "--out", "e", cwd=ws)
    assert out.returncode == 0, out.stderr
    with open(ws / "e/iou.csv") as f:
        assert next(csv.DictReader(f))["mean IoU"] == "100.00"


# ---- evaluation outputs are exactly one run's ---------------------------------------------

def evaluate(ws, pairs, out="e"):
    (ws / "p.txt").write_text("".join("%s %s %s\n" % pair for pair in pairs))
    return run_module("tools.evaluate", "p.txt", "--dataset", "camvid", "--out", out, cwd=ws)


def test_a_rerun_leaves_only_its_own_outputs(ws):
    for i in range(3):
        write_labels(str(ws / ("t%d.png" % i)), np.full((8, 8), i, np.uint8), "camvid")
    cv2.imwrite(str(ws / "photo.png"), np.zeros((8, 8, 3), np.uint8))
    assert evaluate(ws, [("pred.png", "t%d.png" % i, "photo.png") for i in range(3)]).returncode == 0
    assert len(os.listdir(ws / "e/examples")) == 9
    (ws / "e/predictions").mkdir()  # as an earlier run with --weights leaves it
    (ws / "e/predictions/t2.png").write_bytes(b"old")
    assert evaluate(ws, [("pred.png", "t0.png", "photo.png")]).returncode == 0
    assert sorted(os.listdir(ws / "e")) == ["examples", "iou.csv", "report.html"]
    assert sorted(os.listdir(ws / "e/examples")) == [
        "000_input.jpg", "000_prediction.png", "000_truth.png"]


def test_a_failed_evaluation_leaves_the_earlier_outputs(ws):
    assert evaluate(ws, [("pred.png", "truth.png", "")]).returncode == 0
    write_labels(str(ws / "small.png"), np.zeros((4, 8), np.uint8), "camvid")
    (ws / "p.txt").write_text("pred.png truth.png\nsmall.png truth.png\n")
    assert_contract(ws, "tools.evaluate", ["p.txt", "--dataset", "camvid", "--out", "e"],
                    "small.png")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A narrowed CamVid joint deploy net with random weights, run by ONNX Runtime."""
    tmp = tmp_path_factory.mktemp("model")
    net = write_net(tmp / "net.prototxt",
                    narrow(load_net(deploy_prototxt(tmp, "camvid", "joint", (388, 404)))))
    return ["--net", net, "--weights", random_weights(net, tmp / "w.caffemodel"),
            "--backend", "onnx"]


def test_predictions_are_exactly_one_runs(ws, model):
    """3 pairs, then 1 pair, then a run that fails at its second pair: the
    predictions are the last good run's, and the failed run leaves none."""
    for i in range(3):
        cv2.imwrite(str(ws / ("i%d.png" % i)), photo("camvid", 20, 30))
        write_labels(str(ws / ("t%d.png" % i)), np.full((20, 30), i, np.uint8), "camvid")
    args = ["p.txt", "--dataset", "camvid", "--out", "e"] + [str(a) for a in model]
    for count in (3, 1):
        (ws / "p.txt").write_text("".join("i%d.png t%d.png\n" % (i, i) for i in range(count)))
        out = run_module("tools.evaluate", *args, cwd=ws)
        assert out.returncode == 0, out.stderr
        assert sorted(os.listdir(ws / "e/predictions")) == ["t%d.png" % i for i in range(count)]
    write_labels(str(ws / "t2.png"), np.zeros((10, 30), np.uint8), "camvid")
    (ws / "p.txt").write_text("i1.png t1.png\ni2.png t2.png\n")
    assert_contract(ws, "tools.evaluate", args, "t2.png")


def test_an_input_inside_a_replaced_folder_is_refused(ws):
    (ws / "e/predictions").mkdir(parents=True)
    shutil.copy(ws / "pred.png", ws / "e/predictions/pred.png")
    (ws / "p.txt").write_text("e/predictions/pred.png truth.png\n")
    assert_contract(ws, "tools.evaluate", ["p.txt", "--dataset", "camvid", "--out", "e"],
                    "which this evaluation replaces")


# ---- tools.reproduce: stamps that see what the LMDB is built from --------------------------

def recipe_args(ws, *extra):
    (ws / "vgg.caffemodel").write_bytes(b"")
    return reproduce.parse_args(["pascal_voc", "--vgg", str(ws / "vgg.caffemodel"), "--cpu",
                                 "--work", str(ws / "work"), *extra])


def list_args(ws):
    return ["--train-images", str(ws / "images.txt"), "--train-labels", str(ws / "labels.txt"),
            "--val-images", str(ws / "images.txt"), "--val-labels", str(ws / "labels.txt")]


def rewrite_in_place(path):
    """New content, same size, the old modification time put back."""
    st = os.stat(path)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size


def data_key(args):
    stage = Recipe(args).data()
    return stamps.key([reproduce.shown(s) for s in stage.steps], stage.inputs)


def test_the_data_stage_sees_a_label_rewritten_in_place(ws):
    args = recipe_args(ws, *list_args(ws))
    key = data_key(args)
    rewrite_in_place(ws / (ws / "labels.txt").read_text().splitlines()[0])
    assert data_key(args) != key


def test_the_voc_data_stage_sees_every_file_it_reads(ws):
    fx = ws / "fx"
    args = recipe_args(ws, "--voc", str(fx / "VOCdevkit/VOC2012"), "--sbd",
                       str(fx / "benchmark_RELEASE"))
    inputs = Recipe(args).data().inputs
    for path in (fx / "VOCdevkit/VOC2012/SegmentationClass/2007_000033.png",  # val
                 fx / "benchmark_RELEASE/dataset/cls/2008_000003.mat",
                 fx / "VOCdevkit/VOC2012/JPEGImages/2007_000032.jpg",
                 fx / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt"):
        assert str(path) in inputs
    key = data_key(args)
    rewrite_in_place(fx / "benchmark_RELEASE/dataset/cls/2008_000003.mat")
    assert data_key(args) != key


def test_the_features_list_names_the_files_from_its_folder(ws):
    args = recipe_args(ws, *list_args(ws))
    build = run_module("tools.data", *lists("--lmdb-root", ws / "work/data"), cwd=ws)
    assert build.returncode == 0, build.stderr
    step = next(s for s in Recipe(args).lists().steps if s.path == "lists/train_features.txt")
    (ws / "work/lists").mkdir()
    (ws / "work" / step.path).write_text(step.make())
    assert {os.path.dirname(os.path.normpath(p)) for p in read_paths(
        str(ws / "work" / step.path))} == {str(ws / "work/features/train")}


@pytest.mark.parametrize("text", ["[1, 2]", "null", '"done"', "{broken", ""])
def test_a_stamp_that_is_no_json_object_redoes_its_stage(ws, text):
    (ws / "stamps").mkdir()
    (ws / "stamps" / "copy.json").write_text(text)
    stage = Stage("copy", [Write("out.txt", "a copy", lambda: "x")], ["pairs.txt"], ["out.txt"])
    assert reproduce.run_stage(stage, str(ws), True) == "would redo"
