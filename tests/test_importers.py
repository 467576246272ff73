"""The official-layout importers (`tools.data cityscapes / camvid / kitti`) on
small synthetic copies (importer_fixtures): label values in the built records
and converted PNGs against the official tables, the lists later steps read,
reruns, --dry-run, and labels of another convention refused in one line that
names the importer and never suggests --skip-bad."""
import os
import shutil

import lmdb
import numpy as np
import pytest
from cityscapesscripts.helpers.labels import labels as cityscapes_labels
from PIL import Image

from data_fixtures import COCO_NUMPY2, VAL, make_fixture
from helpers import run_module
from importer_fixtures import (camvid_root, cityscapes_root, kitti_root, kitti_semantic_root,
                               write_png)
from prototxt_gen.schema import pb
from prototxt_gen.spec.grid import MARGIN
from prototxt_gen.spec.labels import CAMVID, CITYSCAPES, SEGNET_CAMVID
from tools.data.cli import main
from tools.data.conventions import convention_problem
from tools.data.lmdb_writer import read_manifest
from tools.data.validate import read_label

CROP = "388"
# SegNet index -> the released model's, written out by hand from the two class
# orders (SegNet: Sky, Building, Pole, Road, Pavement, Tree, SignSymbol, Fence,
# Car, Pedestrian, Bicyclist; 11 void).
SEGNET_TO_OURS = {0: 2, 1: 0, 2: 8, 3: 5, 4: 9, 5: 1, 6: 4, 7: 7, 8: 3, 9: 6, 10: 10, 11: 255}
CITYSCAPES_TRAIN_ID = {l.id: l.trainId if 0 <= l.trainId < 255 else 255
                       for l in cityscapes_labels if l.id >= 0}


def build(command, root, out, *extra):
    return main([command, "--root", str(root), "--lmdb-root", str(out), "--crop", CROP, *extra])


def records(out, dataset, split):
    """{name: label plane of the record, the padding cut off}."""
    env = lmdb.open(str(out / dataset / ("%s_lmdb" % split)), readonly=True, lock=False)
    with env.begin() as txn:
        found = {}
        for key, value in txn.cursor():
            datum = pb.Datum.FromString(value)
            planes = np.frombuffer(datum.data, np.uint8).reshape(4, datum.height, datum.width)
            found[key.decode()[9:]] = planes[3, MARGIN:-MARGIN, MARGIN:-MARGIN]
    env.close()
    return found


def lines(out, dataset, split, kind):
    with open(out / dataset / "lists" / ("%s_%s.txt" % (split, kind))) as f:
        return f.read().splitlines()


def remapped(label, table):
    return np.vectorize(table.__getitem__, otypes=[np.uint8])(label)


def palette_png(path):
    with Image.open(path) as png:
        assert png.mode == "P"
    return read_label(path)


def one_line_error(capsys, word):
    """The contract: nothing on stdout that matters, one error line naming `word`."""
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and word in err, err
    assert "--skip-bad" not in err and "Traceback" not in err
    return err


# ---- Cityscapes -------------------------------------------------------------------------------

def test_cityscapes_label_ids_become_train_ids_and_pairs_keep_the_originals(tmp_path, capsys):
    root, out = cityscapes_root(tmp_path / "raw"), tmp_path / "data"
    assert build("cityscapes", root, out) == 0
    printed = capsys.readouterr().out
    assert "Cityscapes train: 2 images, 2 cities" in printed
    assert "Cityscapes test: 1 images" in printed and "labels: Cityscapes labelIds" in printed
    for split in ("train", "val"):
        built = records(out, "cityscapes", split)
        pairs = [line.split("\t") for line in lines(out, "cityscapes", split, "pairs")]
        assert len(pairs) == len(built) == 2
        assert [p[0] for p in pairs] == lines(out, "cityscapes", split, "images")
        for (image, truth), label in zip(pairs, lines(out, "cityscapes", split, "labels")):
            name = os.path.basename(image)[:-len("_leftImg8bit.png")]
            assert truth == image.replace("leftImg8bit", "gtFine", 2)[:-len(".png")] + "_labelIds.png"
            assert label == str(out / "cityscapes" / "labels" / split / (name + ".png"))
            ids = read_label(truth)
            expected = remapped(ids, CITYSCAPES_TRAIN_ID)
            np.testing.assert_array_equal(built[name], expected)
            np.testing.assert_array_equal(palette_png(label), expected)
            assert (ids == 7).any() and (expected[ids == 7] == 0).all()       # road
            assert (ids == 1).any() and (expected[ids == 1] == 255).all()     # ego vehicle
            assert (ids == 26).any() and (expected[ids == 26] == 13).all()    # car
    assert len(lines(out, "cityscapes", "test", "images")) == 1
    assert sorted(os.listdir(out / "cityscapes" / "lists")) == sorted(
        ["%s_%s.txt" % (s, k) for s in ("train", "val") for k in ("images", "labels", "pairs")]
        + ["test_images.txt"])
    manifest = read_manifest(str(out / "cityscapes" / "val_lmdb"))
    assert manifest["sources"] == {"root": os.path.abspath(root)}
    assert manifest["classes"] == 19


def test_cityscapes_palette_and_train_ids_are_the_official_ones():
    official = sorted((l.trainId, l.color) for l in cityscapes_labels if 0 <= l.trainId < 255)
    assert [colour for _, colour in official] == [rgb for _, rgb in CITYSCAPES]


# ---- CamVid -----------------------------------------------------------------------------------

def test_camvid_segnet_order_is_remapped_by_name(tmp_path, capsys):
    assert sorted(SEGNET_CAMVID) == sorted(name for name, _ in CAMVID)
    root, out = camvid_root(tmp_path / "raw"), tmp_path / "data"
    assert build("camvid", tmp_path / "raw", out) == 0  # the folder holding CamVid/ will do
    printed = capsys.readouterr().out
    assert "labels: SegNet's CamVid" in printed and "CamVid test: 1 pairs" in printed
    for split in ("train", "val", "test"):
        pairs = [line.split("\t") for line in lines(out, "camvid", split, "pairs")]
        assert [truth for _, truth in pairs] == lines(out, "camvid", split, "labels")
        built = records(out, "camvid", split) if split != "test" else {}
        for image, label in pairs:
            name = os.path.splitext(os.path.basename(image))[0]
            assert image == os.path.join(root, split, name + ".png")
            segnet = read_label(os.path.join(root, split + "annot", name + ".png"))
            expected = remapped(segnet, SEGNET_TO_OURS)
            np.testing.assert_array_equal(palette_png(label), expected)
            if built:
                np.testing.assert_array_equal(built[name], expected)
            assert (expected[segnet == 0] == 2).all() and (segnet == 0).any()     # sky
            assert (expected[segnet == 11] == 255).all() and (segnet == 11).any()  # void
    assert not os.path.exists(out / "camvid" / "test_lmdb")


@pytest.mark.parametrize("form, said", [("released", "in the released model's order"),
                                        ("colour", "colour-coded")])
def test_camvid_takes_the_released_order_and_its_colours(tmp_path, capsys, form, said):
    root, out = camvid_root(tmp_path / "raw", form=form), tmp_path / "data"
    assert build("camvid", root, out) == 0
    assert "labels: " + said in capsys.readouterr().out
    for image, label in (line.split("\t") for line in lines(out, "camvid", "train", "pairs")):
        official = image.replace(os.sep + "train" + os.sep, os.sep + "trainannot" + os.sep)
        if form == "released":
            assert label == official and not os.path.exists(out / "camvid" / "labels")
            expected = read_label(official)
        else:
            rgb = np.asarray(Image.open(official).convert("RGB")).reshape(-1, 3)
            colours = {rgb: index for index, (_, rgb) in enumerate(CAMVID)}
            expected = np.array([colours.get(tuple(c), 255) for c in rgb], np.uint8).reshape(
                palette_png(label).shape)
            assert ((rgb == 0).all(axis=1) == (expected.ravel() == 255)).all()  # black is void
            np.testing.assert_array_equal(palette_png(label), expected)
        name = os.path.splitext(os.path.basename(image))[0]
        np.testing.assert_array_equal(records(out, "camvid", "train")[name], expected)


def test_camvid_without_lists_pairs_the_folders(tmp_path):
    root, out = camvid_root(tmp_path / "raw", lists=False), tmp_path / "data"
    assert build("camvid", root, out) == 0
    assert len(lines(out, "camvid", "train", "pairs")) == 2
    assert len(lines(out, "camvid", "test", "pairs")) == 1


def test_camvid_unreadable_label_is_skipped_only_when_asked(tmp_path, capsys):
    root, out = camvid_root(tmp_path / "raw"), tmp_path / "data"
    broken = os.path.join(root, "trainannot", "0001TP_000030.png")
    with open(broken, "wb") as f:
        f.write(b"not a png")
    assert build("camvid", root, out) == 2
    assert "(--skip-bad leaves such pairs out)" in capsys.readouterr().err
    assert build("camvid", root, out, "--skip-bad") == 0
    assert "skipped: cannot read label %s" % broken in capsys.readouterr().out
    assert [os.path.basename(p) for p in lines(out, "camvid", "train", "images")] == [
        "0001TP_000060.png"]


# ---- KITTI ------------------------------------------------------------------------------------

def test_kitti_colour_gt_becomes_indices(tmp_path, capsys):
    root, out = kitti_root(tmp_path / "raw"), tmp_path / "data"
    assert build("kitti", tmp_path / "raw", out) == 0  # KITTI_SEMANTIC/ is found one level down
    assert "KITTI Training_00: 2 pairs" in capsys.readouterr().out
    colours = {rgb: index for index, (_, rgb) in enumerate(CAMVID)}
    for split, folder in (("train", "Training_00"), ("val", "Validation_07")):
        built = records(out, "kitti", split)
        for image, label in (line.split("\t") for line in lines(out, "kitti", split, "pairs")):
            name = os.path.splitext(os.path.basename(image))[0]
            assert image == os.path.join(root, folder, "RGB", name + ".png")
            rgb = np.asarray(Image.open(os.path.join(root, folder, "GT", name + ".png")))
            expected = np.array([colours.get(tuple(c), 255) for c in rgb.reshape(-1, 3)],
                                np.uint8).reshape(rgb.shape[:2])
            assert 255 in expected and 2 in expected
            np.testing.assert_array_equal(palette_png(label), expected)
            np.testing.assert_array_equal(built[name], expected)
    assert sorted(os.listdir(out / "kitti" / "lists")) == sorted(
        "%s_%s.txt" % (s, k) for s in ("train", "val") for k in ("images", "labels", "pairs"))


def test_kitti_gt_as_palette_pngs_of_the_camvid_colours_is_colour_coded(tmp_path, capsys):
    """GT/ saved as indexed PNGs (any index order) whose colours are the CamVid ones."""
    root, out = kitti_root(tmp_path / "raw"), tmp_path / "data"
    expected = {}
    for gt in (tmp_path / "raw").rglob("GT/*.png"):
        rgb = np.asarray(Image.open(gt))
        colours, index = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
        indexed = Image.fromarray(index.reshape(rgb.shape[:2]).astype(np.uint8), "P")
        indexed.putpalette(colours.ravel().tolist())
        indexed.save(gt)
        expected[gt.stem] = rgb
    assert build("kitti", root, out) == 0
    assert "labels: colour-coded" in capsys.readouterr().out
    colours = {rgb: index for index, (_, rgb) in enumerate(CAMVID)}
    for name, label in records(out, "kitti", "train").items():
        rgb = expected[name]
        np.testing.assert_array_equal(label, np.array(
            [colours.get(tuple(c), 255) for c in rgb.reshape(-1, 3)], np.uint8).reshape(label.shape))


# ---- reruns and --dry-run -----------------------------------------------------------------

@pytest.mark.parametrize("command, make", [("cityscapes", cityscapes_root),
                                           ("camvid", camvid_root), ("kitti", kitti_root)])
def test_dry_run_writes_nothing_and_a_rerun_keeps_everything(tmp_path, capsys, command, make):
    root, out = make(tmp_path / "raw"), tmp_path / "data"
    assert build(command, root, out, "--dry-run") == 0
    printed = capsys.readouterr().out
    assert not out.exists() and "2 labels to write" in printed and "at most" in printed
    assert build(command, root, out) == 0
    written = {p: os.stat(p).st_mtime_ns for p in (out / command).rglob("*") if p.is_file()}
    lists = {p: p.read_text() for p in (out / command / "lists").iterdir()}
    capsys.readouterr()
    assert build(command, root, out) == 0
    printed = capsys.readouterr().out
    assert "train_lmdb: complete, kept" in printed and "0 labels written, 2 kept" in printed
    again = {p: os.stat(p).st_mtime_ns for p in (out / command).rglob("*") if p.is_file()}
    assert {p: t for p, t in again.items() if "lists" not in p.parts} == {
        p: t for p, t in written.items() if "lists" not in p.parts}
    assert {p: p.read_text() for p in (out / command / "lists").iterdir()} == lists


# ---- mistakes caught by name ----------------------------------------------------------------

def write_lists(tmp_path, images, labels):
    paths = []
    for kind, files in (("images", images), ("labels", labels)):
        paths.append(str(tmp_path / ("%s.txt" % kind)))
        with open(paths[-1], "w") as f:
            f.write("".join(str(p) + "\n" for p in files))
    return paths


def copies(files, folder):
    os.makedirs(folder)
    return [shutil.copy(f, os.path.join(folder, "label%d.png" % i)) for i, f in enumerate(files)]


def cityscapes_files(tmp_path, rename):
    root = cityscapes_root(tmp_path / "raw", splits={"train": 2})
    images = sorted(str(p) for p in (tmp_path / "raw").rglob("*_leftImg8bit.png"))
    labels = [p.replace("leftImg8bit", "gtFine", 2)[:-4] + "_labelIds.png" for p in images]
    assert root and all(os.path.isfile(p) for p in labels)
    return images, copies(labels, str(tmp_path / "renamed")) if rename else labels


def camvid_files(tmp_path):
    root = camvid_root(tmp_path / "raw", splits={"train": 2})
    images = sorted(str(p) for p in (tmp_path / "raw" / "CamVid" / "train").iterdir())
    return images, [p.replace(os.sep + "train" + os.sep, os.sep + "trainannot" + os.sep)
                    for p in images] if root else []


def kitti_semantic_files(tmp_path, rename):
    kitti_semantic_root(tmp_path / "raw")
    training = tmp_path / "raw" / "data_semantics" / "training"
    images = sorted(str(p) for p in (training / "image_2").iterdir())
    labels = [str(training / "semantic" / os.path.basename(p)) for p in images]
    return images, copies(labels, str(tmp_path / "renamed")) if rename else labels


LISTS = [  # (case, data set, files, the importer named)
    ("cityscapes label ids by name", "cityscapes",
     lambda t: cityscapes_files(t, rename=False), "tools.data cityscapes"),
    ("cityscapes label ids by value", "cityscapes",
     lambda t: cityscapes_files(t, rename=True), "tools.data cityscapes"),
    ("segnet camvid", "camvid", camvid_files, "tools.data camvid"),
    ("segnet camvid as kitti", "kitti", camvid_files, "tools.data camvid"),
    ("kitti benchmark by name", "kitti",
     lambda t: kitti_semantic_files(t, rename=False), "tools.data kitti"),
    ("kitti benchmark by value", "kitti",
     lambda t: kitti_semantic_files(t, rename=True), "tools.data kitti"),
]


@pytest.mark.parametrize("case, dataset, files, importer", LISTS, ids=[c[0] for c in LISTS])
def test_lists_refuse_another_convention_for_the_whole_build(tmp_path, capsys, case, dataset,
                                                            files, importer):
    images, labels = write_lists(tmp_path, *files(tmp_path))
    assert main(["lists", "--dataset", dataset, "--split", "train", "--images", images,
                 "--labels", labels, "--lmdb-root", str(tmp_path / "data"), "--crop", CROP,
                 "--skip-bad"]) == 2
    one_line_error(capsys, importer)
    assert list((tmp_path / "data").rglob("*lmdb*")) == []


def original_camvid(tmp_path, lists):
    """SegNet's layout, but the original release's *_L.png colour labels."""
    root = camvid_root(tmp_path / "raw", form="colour", lists=lists)
    for split in ("train", "val", "test"):
        folder = os.path.join(root, split + "annot")
        for name in os.listdir(folder):
            os.rename(os.path.join(folder, name), os.path.join(folder, name[:-4] + "_L.png"))
        if lists:
            with open(os.path.join(root, split + ".txt")) as f:
                text = f.read().replace(".png\n", "_L.png\n")
            with open(os.path.join(root, split + ".txt"), "w") as f:
                f.write(text)
    return root


def original_release(tmp_path):
    os.makedirs(tmp_path / "CamVid" / "LabeledApproved_full")
    return tmp_path / "CamVid"


def mixed_camvid(tmp_path):
    root = camvid_root(tmp_path / "raw")
    write_png(os.path.join(root, "valannot", "0016E5_000030.png"),
              np.zeros((240, 320, 3), np.uint8), "RGB")
    return root


def label_missing(tmp_path):
    root = cityscapes_root(tmp_path / "raw")
    os.remove(os.path.join(root, "gtFine", "val", "frankfurt",
                           "frankfurt_000001_000020_gtFine_labelIds.png"))
    return root


def entry_missing(tmp_path):
    root = camvid_root(tmp_path / "raw")
    os.remove(os.path.join(root, "train", "0001TP_000060.png"))
    return root


IMPORTS = [  # (case, command, --root, words of the one line)
    ("kitti benchmark", "kitti", lambda t: kitti_semantic_root(t / "raw"),
     ["KITTI's 2018 semantic benchmark", "tools.data kitti"]),
    ("camvid original labels listed", "camvid", lambda t: original_camvid(t, lists=True),
     ["*_L.png", "tools.data camvid"]),
    ("camvid original labels", "camvid", lambda t: original_camvid(t, lists=False),
     ["*_L.png", "tools.data camvid"]),
    ("camvid original release", "camvid", original_release, ["original CamVid release"]),
    ("camvid mixed", "camvid", mixed_camvid, ["mix conventions", "0016E5_000030.png"]),
    ("kitti grey indices", "kitti", lambda t: kitti_root(t / "raw", form="segnet"),
     ["grey class indices", "Ros et al.'s GT/"]),
    ("cityscapes empty", "cityscapes", lambda t: t, ["leftImg8bit", "--root is"]),
    ("camvid empty", "camvid", lambda t: t, ["train not found", "--root is"]),
    ("kitti empty", "kitti", lambda t: t, ["Training_00", "--root is"]),
    ("no root", "camvid", lambda t: t / "nowhere", ["does not exist", "--root is"]),
    ("cityscapes label missing", "cityscapes", label_missing,
     ["frankfurt_000001_000020_leftImg8bit.png has no label", "_gtFine_labelIds.png"]),
    ("camvid entry missing", "camvid", entry_missing,
     ["train.txt:2 names /SegNet/CamVid/train/0001TP_000060.png", "does not exist"]),
]


@pytest.mark.parametrize("case, command, make, words", IMPORTS, ids=[c[0] for c in IMPORTS])
def test_importer_refuses_in_one_line(tmp_path, capsys, case, command, make, words):
    root = make(tmp_path)
    assert build(command, root, tmp_path / "data", "--skip-bad") == 2
    err = one_line_error(capsys, words[0])
    assert all(word in err for word in words) and err.startswith(
        "python -m tools.data %s: error: " % command)
    assert not (tmp_path / "data").exists()


def test_exit_code_and_message_as_a_user_runs_it(tmp_path):
    root = kitti_semantic_root(tmp_path)
    proc = run_module("tools.data", "kitti", "--root", root, "--lmdb-root", tmp_path / "data")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "tools.data kitti --root" in proc.stderr


def test_convention_problem_leaves_each_data_sets_own_labels_alone():
    ours = {"cityscapes": list(range(19)) + [255], "camvid": list(range(11)) + [255],
            "kitti": list(range(11)) + [255], "pascal_voc": list(range(21)) + [255]}
    for dataset, values in ours.items():
        label = np.array([values], np.uint8)
        assert convention_problem(label, "/x/label.png", dataset) is None
    label_ids = np.array([[0, 1, 7, 26, 33]], np.uint8)
    assert "tools.data cityscapes" in convention_problem(label_ids, "/x/a.png", "cityscapes")
    assert "tools.data kitti" in convention_problem(label_ids, "/x/a.png", "kitti")
    assert "tools.data camvid" in convention_problem(np.array([[0, 11]]), "/x/a.png", "camvid")
    assert "tools.data cityscapes" in convention_problem(
        None, "/x/aachen_000000_000019_gtFine_labelIds.png", "cityscapes")
    assert convention_problem(None, "/x/a_L.png", "pascal_voc") is None


# ---- voc and coco write the same lists --------------------------------------------------------

@pytest.mark.filterwarnings(COCO_NUMPY2)
def test_voc_and_coco_write_their_lists(tmp_path, capsys):
    fx, out = make_fixture(tmp_path / "raw"), tmp_path / "data"
    common = ["--voc", fx.voc, "--sbd", fx.sbd, "--lmdb-root", str(out), "--crop", CROP]
    assert main(["voc"] + common) == 0
    assert lines(out, "pascal_voc", "val", "pairs") == [
        "%s\t%s" % (fx.images[key], fx.labels[key]) for key in VAL]
    assert sorted(lines(out, "pascal_voc", "train", "labels")) == sorted(
        s[2] for s in read_manifest(str(out / "pascal_voc" / "train_lmdb"))["samples"])
    assert main(["coco"] + common + ["--coco", fx.coco_annotations, fx.coco_images]) == 0
    coco = lines(out, "pascal_voc", "train_coco", "labels")
    assert len(coco) == 7 and sum("coco_labels" in p for p in coco) == 2
    assert "lists: %s/ train_coco_images.txt" % (out / "pascal_voc" / "lists") in (
        capsys.readouterr().out)


def test_help_says_what_each_importer_expects(capsys):
    for command, words in (("cityscapes", "gtFine_labelIds.png"), ("camvid", "trainannot/"),
                           ("kitti", "Validation_07/")):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0 and words in " ".join(capsys.readouterr().out.split())


def test_fixtures_at_the_end_to_end_size_still_hold_every_class(tmp_path):
    root = cityscapes_root(tmp_path, splits={"train": 1}, size=(36, 44))
    stem = os.path.join(root, "gtFine", "train", "aachen", "aachen_000000_000019_gtFine_")
    ids = read_label(stem + "labelIds.png")
    assert sorted(np.unique(ids)) == sorted(CITYSCAPES_TRAIN_ID)
    instances = np.asarray(Image.open(stem + "instanceIds.png")).astype(np.int64)
    assert (instances[ids == 26] // 1000 == 26).all() and (instances[ids == 7] == 7).all()
    assert len(np.unique(instances[ids == 26])) >= 1
    segnet = read_label(os.path.join(camvid_root(tmp_path, size=(36, 44)), "trainannot",
                                     "0001TP_000030.png"))
    assert sorted(np.unique(segnet)) == list(range(12))
