"""The paper's training sets from the real directory layouts: VOC 2012 + SBD
(palette PNGs read as indices, SBD .mat files), COCO mapped to VOC."""
import numpy as np
import pytest
from PIL import Image

from data_fixtures import COCO_IMAGES, COCO_NUMPY2, TRAIN, VAL, make_fixture
from tools.data.coco import VOC_INDEX, coco_samples
from tools.data.validate import read_label
from tools.data.voc_sbd import voc_sets

pytestmark = pytest.mark.filterwarnings(COCO_NUMPY2)
VOC_CLASSES = ("aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse "
               "motorbike person pottedplant sheep sofa train tvmonitor").split()


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return make_fixture(tmp_path_factory.mktemp("sources"))


def test_voc_training_set_is_the_papers(fx):
    """VOC train + SBD train + SBD val, every VOC val image removed, each once;
    an image in VOC train keeps VOC's label."""
    train, val, counts = voc_sets(fx.voc, fx.sbd)
    assert [(s.name, s.source, s.label) for s in train] == [
        (key[1], fx.images[key], fx.labels[key]) for key in TRAIN]
    assert [s.name for s in val] == [name for _, name in VAL]
    assert counts == {
        "VOC 2012 train": {"listed": 3, "added": 3, "in VOC val": 0, "duplicates": 0},
        "SBD train": {"listed": 3, "added": 1, "in VOC val": 1, "duplicates": 1},
        "SBD val": {"listed": 2, "added": 1, "in VOC val": 0, "duplicates": 1},
        "VOC 2012 val": {"listed": 2}}


def test_voc_labels_are_palette_indices_not_colours(fx):
    key = ("voc", "2007_000032")
    with Image.open(fx.labels[key]) as png:
        assert png.mode == "P"
        colours = np.asarray(png.convert("RGB"))
    label = read_label(fx.labels[key])
    np.testing.assert_array_equal(label, fx.truth[key])
    assert 255 in label and not np.array_equal(colours[:, :, 0], label)


def test_sbd_labels_come_from_gtcls_segmentation(fx):
    key = ("sbd", "2008_000003")
    np.testing.assert_array_equal(read_label(fx.labels[key]), fx.truth[key])


def test_coco_to_voc_mapping_covers_every_voc_class_once():
    assert sorted(VOC_INDEX.values()) == list(range(1, 21))
    renamed = {"airplane": "aeroplane", "dining table": "diningtable", "motorcycle": "motorbike",
               "potted plant": "pottedplant", "couch": "sofa", "tv": "tvmonitor"}
    assert {VOC_CLASSES[i - 1]: renamed.get(n, n) for n, i in VOC_INDEX.items()} == {
        c: c for c in VOC_CLASSES}


def test_coco_labels(fx, tmp_path):
    """Images without a non-crowd VOC object are dropped; VOC objects get their VOC
    index (smaller ones stay on top), other categories background, crowd 255."""
    samples, counts = coco_samples(fx.coco_annotations, fx.coco_images, str(tmp_path / "labels"))
    assert [s.name for s in samples] == ["COCO_train2014_%012d" % i for i in (9, 34)]
    assert counts == {"images": len(COCO_IMAGES), "with VOC objects": 2, "labels written": 2}
    for s in samples:
        assert s.source == fx.images[("coco", s.name)]
        with Image.open(s.label) as png:
            assert png.mode == "P"
        np.testing.assert_array_equal(read_label(s.label), fx.truth[("coco", s.name)])
    label = read_label(samples[0].label)
    assert label[15, 25] == 12 and label[6, 6] == 15 and label[30, 5] == 0 and label[5, 40] == 255
    again, counts = coco_samples(fx.coco_annotations, fx.coco_images, str(tmp_path / "labels"))
    assert again == samples and counts["labels written"] == 0
