"""Our LMDBs fed to the GENERATED nets in real BVLC Caffe: sample by sample, the
`data` and `label` blobs equal the NumPy reference of the authors' semantics
(docs/design.md, Training input from stock layers): TEST = centre crop;
TRAIN = some crop offset and mirror, found by trying every one."""
import itertools
import os

import numpy as np
import pytest

from data_fixtures import CLASSES, COCO_NUMPY2, TRAIN, VAL, make_fixture
from helpers import run_caffe
from prototxt_gen.generate import Options, all_files, write
from prototxt_gen.spec.datasets import DATASETS
from record_reference import (reference_blobs, reference_context, reference_context_blobs,
                               reference_record)
from tools.data.cli import main
from tools.data.lmdb_writer import read_manifest

pytestmark = [pytest.mark.caffe, pytest.mark.filterwarnings(COCO_NUMPY2)]
CROP, CONTEXT_CROP = 404, 4  # 4 x 4 output cells
EPOCHS = {"train": 4, "test": 1}  # TRAIN: enough random coins to see mirrored and plain crops
MEAN = DATASETS["pascal_voc"].mean
LABEL_LAYERS = ["label_crop", "label"]


PNG = "_png"  # suffix of the data and nets of the PNG-encoded records


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every LMDB the VOC nets read, built by the CLI from the synthetic trees
    (VOC's also as PNG records), and the nets generated at a small crop, batch 1,
    reading them."""
    root = tmp_path_factory.mktemp("caffe_data")
    fx = make_fixture(root / "src")
    data, common = str(root / "data"), ["--lmdb-root", str(root / "data"), "--crop", str(CROP)]
    trees = ["--voc", fx.voc, "--sbd", fx.sbd]
    assert main(["voc", *trees, *common]) == 0
    assert main(["voc", *trees, "--lmdb-root", data + PNG, "--crop", str(CROP),
                 "--compression", "1"]) == 0
    assert main(["coco", *trees, "--coco", fx.coco_annotations, fx.coco_images, *common]) == 0
    for split, keys in (("train", TRAIN), ("val", VAL)):
        features, labels = fx.write_lists(keys, "context_" + split, inputs="features")
        assert main(["context", "--dataset", "pascal_voc", "--split", split, "--features", features,
                     "--labels", labels, "--lmdb-root", data,
                     "--context-crop", str(CONTEXT_CROP)]) == 0
    for form in ("", PNG):
        write(all_files(Options(datasets=("pascal_voc",), stages=("frontend", "context"),
                                out=str(root / ("models" + form)), lmdb_root=data + form,
                                crop=CROP, batch=1, iter_size=1, context_crop=CONTEXT_CROP,
                                context_batch=1, cpu=True)))
    return fx, root


def blobs(root, net, phase, lmdb, label_layers=(), form=""):
    """(the manifest's samples in Caffe's reading order, data blobs, label blobs);
    TRAIN's crops and mirrors are the same in every run (one Caffe seed)."""
    manifest = read_manifest(str(root / ("data" + form) / "pascal_voc" / lmdb))
    out = str(root / ("%s%s.npz" % (net, form)))
    run_caffe("data_blobs", script="caffe_data_jobs.py", out=out, phase=phase,
              path=str(root / ("models" + form) / "pascal_voc" / ("%s.prototxt" % net)),
              batches=EPOCHS[phase] * manifest["records"], label_layers=list(label_layers),
              seed=1)
    result = np.load(out)
    return EPOCHS[phase] * manifest["samples"], result["data"], result["label"]


def by_path(table):
    return {os.path.abspath(p): key for key, p in table.items()}


def matches(candidates, data, label):
    """The (y, x, mirror) whose reference blobs equal Caffe's, label compared first."""
    return [c for c, (ref_data, ref_label) in candidates
            if np.array_equal(ref_label, label) and np.array_equal(ref_data, data)]


def check_every_sample(keys, data, label, candidates, train):
    """Each sample matches a crop of its reference; TRAIN saw both mirror coins."""
    mirrors = set()
    for i, key in enumerate(keys):
        found = matches(candidates(key), data[i], label[i, 0])
        assert found, "%s: no crop / mirror matches" % (key,)
        mirrors.update(mirror for _, _, mirror in found)
    assert mirrors == ({False, True} if train else {False})


def crops(height, width, crop, train):
    """(y, x, mirror) Caffe may have used: TEST the centre; TRAIN any offset, either way."""
    if not train:
        return [((height - crop) // 2, (width - crop) // 2, False)]
    return itertools.product(range(height - crop + 1), range(width - crop + 1), (False, True))


@pytest.mark.parametrize("net, phase, lmdb, expected", [
    ("frontend_test", "test", "val_lmdb", VAL),
    ("frontend_train", "train", "train_lmdb", TRAIN),
    ("frontend_coco_train", "train", "train_coco_lmdb", None),
])
def test_image_nets_read_the_authors_samples(built, net, phase, lmdb, expected):
    fx, root = built
    samples, data, label = blobs(root, net, phase, lmdb, LABEL_LAYERS)
    keys = [by_path(fx.images)[image] for _, image, _ in samples]
    if expected is None:  # VOC training set + the COCO images with VOC objects
        expected = TRAIN + [k for k in fx.truth if k[0] == "coco"]
    assert sorted(keys) == sorted(EPOCHS[phase] * expected)
    assert data.shape == (len(keys), 3, CROP, CROP) and label.shape == (len(keys), 1, 4, 4)

    def candidates(key):
        image, full = reference_record(fx.image(key), fx.truth[key], CROP)
        return ((c, reference_blobs(image, full, CROP, MEAN, *c))
                for c in crops(*full.shape, CROP, phase == "train"))
    check_every_sample(keys, data, label, candidates, phase == "train")


@pytest.mark.parametrize("net, phase, lmdb", [
    ("frontend_test", "test", "val_lmdb"),
    ("frontend_train", "train", "train_lmdb"),
])
def test_raw_and_png_records_give_caffe_the_same_blobs(built, net, phase, lmdb):
    """The default raw Datums and PNG (--compression 1) records of the same pairs,
    same shuffle, same Caffe seed: identical `data` and `label`, sample by sample."""
    _, root = built
    raw, png = (blobs(root, net, phase, lmdb, LABEL_LAYERS, form) for form in ("", PNG))
    assert raw[0] == png[0]  # same keys, same order
    assert read_manifest(str(root / "data" / "pascal_voc" / lmdb))["record"] == "raw"
    assert read_manifest(str(root / ("data" + PNG) / "pascal_voc" / lmdb))["record"] == "png"
    for raw_blob, png_blob in zip(raw[1:], png[1:]):
        assert raw_blob.shape == png_blob.shape
        np.testing.assert_array_equal(raw_blob, png_blob)


@pytest.mark.parametrize("net, phase, lmdb, expected", [
    ("context_test", "test", "context_val_lmdb", VAL),
    ("context_train", "train", "context_train_lmdb", TRAIN),
])
def test_context_nets_read_scores_and_subsampled_labels(built, net, phase, lmdb, expected):
    fx, root = built
    samples, data, label = blobs(root, net, phase, lmdb)
    keys = [by_path(fx.features)[features] for _, features, _ in samples]
    assert sorted(keys) == sorted(EPOCHS[phase] * expected)
    assert data.shape == (len(keys), CLASSES, CONTEXT_CROP, CONTEXT_CROP)

    def candidates(key):
        features, cells = reference_context(np.load(fx.features[key]), fx.truth[key])
        return ((c, reference_context_blobs(features, cells, CONTEXT_CROP, *c))
                for c in crops(*cells.shape, CONTEXT_CROP, phase == "train"))
    check_every_sample(keys, data, label, candidates, phase == "train")
