"""Records equal a NumPy rendering of the authors' data semantics (docs/design.md, Padding):
np.pad's "reflect" is OpenCV's BORDER_REFLECT_101, written independently."""
import math

import cv2
import numpy as np
import pytest

from prototxt_gen.schema import pb
from prototxt_gen.spec.grid import MARGIN
from record_reference import reference_context, reference_record
from tools.data.feature_records import feature_label_record, float_datum
from tools.data.image_records import image_label_record, png_datum, raw_datum

def sample(h, w, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    label = rng.integers(0, 21, (h, w), dtype=np.uint8)
    label[0] = 255
    return image, label


@pytest.mark.parametrize("h, w, crop", [
    (30, 40, 388),     # padded by 186 only
    (12, 10, 388),     # still short of the crop: padded again, reflecting the padded image
    (3, 2, 404),       # reflections wrap around a tiny image many times
    (375, 500, 500),   # VOC-sized
    (7, 300, 700),     # one side needs the second pad, the other not
    (11, 13, 392),     # odd amounts both ways: larger halves at the bottom and on the left
])
def test_image_record_is_the_authors_padding(h, w, crop):
    image, label = sample(h, w)
    record = image_label_record(image, label, crop)
    ref_image, ref_label = reference_record(image, label, crop)
    assert record.dtype == np.uint8 and record.shape == (4,) + ref_image.shape[:2]
    assert min(record.shape[1:]) >= crop
    np.testing.assert_array_equal(record[:3], ref_image.transpose(2, 0, 1))
    np.testing.assert_array_equal(record[3], ref_label)


@pytest.mark.parametrize("compression", [0, 1, 9])
def test_png_datum_is_lossless_and_four_channel(compression):
    record = image_label_record(*sample(17, 31), 388)
    datum = pb.Datum.FromString(png_datum(record, compression).SerializeToString())
    assert datum.encoded and (datum.channels, datum.height, datum.width) == record.shape
    decoded = cv2.imdecode(np.frombuffer(datum.data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, record.transpose(1, 2, 0))  # Caffe decodes H x W x C


def test_raw_datum_is_the_record_in_caffes_channel_order():
    """Caffe reads an unencoded Datum's bytes as channel, then row, then column."""
    record = image_label_record(*sample(17, 31), 388)
    datum = pb.Datum.FromString(raw_datum(record).SerializeToString())
    assert not datum.encoded and (datum.channels, datum.height, datum.width) == record.shape
    planes = np.frombuffer(datum.data, np.uint8).reshape(record.shape)
    np.testing.assert_array_equal(planes, record)


def test_compression_trades_size_for_time():
    record = image_label_record(*sample(60, 80), 500)
    sizes = [len(png_datum(record, level).data) for level in (0, 1)]
    assert sizes[0] > record.size and sizes[1] < sizes[0]


def test_odd_padding_puts_the_larger_half_bottom_and_left():
    label = np.zeros((11, 13), np.uint8)
    record = image_label_record(np.zeros((11, 13, 3), np.uint8), label, 392)
    rows, cols = np.nonzero(record[3] == 0)
    # 392 - 383 = 9 rows: 4 on top, 5 below; 392 - 385 = 7 columns: 4 left, 3 right.
    assert (rows.min() - MARGIN, record.shape[1] - 1 - rows.max() - MARGIN) == (4, 5)
    assert (cols.min() - MARGIN, record.shape[2] - 1 - cols.max() - MARGIN) == (4, 3)


@pytest.mark.parametrize("h, w, tile", [(30, 40, 6), (12, 10, 6), (375, 500, 66), (17, 31, 2)])
def test_context_record_subsamples_from_pixel_zero(h, w, tile):
    """Whole tile outputs (`tile` cells per tile): cells past the image are labelled 255."""
    rng = np.random.default_rng(1)
    _, label = sample(h, w)
    cells = [tile * math.ceil(math.ceil(n / 8) / tile) for n in (h, w)]
    features = rng.normal(size=(21, *cells)).astype(np.float32)
    record = feature_label_record(features, label)
    ref_features, ref_label = reference_context(features, label)
    assert record.dtype == np.float32 and record.shape == (22, *cells)
    np.testing.assert_array_equal(record[:21], ref_features)
    np.testing.assert_array_equal(record[21], ref_label)
    datum = pb.Datum.FromString(float_datum(record).SerializeToString())
    assert (datum.channels, datum.height, datum.width) == record.shape and not datum.encoded
    np.testing.assert_array_equal(np.asarray(datum.float_data, np.float32).reshape(record.shape), record)
