"""Images read strictly: a file libjpeg or libpng can only partly decode is an
error naming the file, not an image with grey or garbled rows.

Orientation: a file's EXIF orientation tag is applied, to images and labels
alike, because Caffe's own readers apply it: convert_imageset and the
ImageData layer read with cv::imread(IMREAD_COLOR), which turns a tagged JPEG
or PNG upright (OpenCV >= 3.1; the Caffe the tests build stores a 90-degree
tagged JPEG or PNG rotated).  Images are decoded by OpenCV, which does it;
labels by Pillow (palette indices, not colours), told to do the same.

OpenCV decodes (as Caffe and the authors' tools do) but lets libjpeg print its
warnings ("Corrupt JPEG data: ...") straight to stderr without the file name,
so the decoder's stderr is captured for the duration of the call and read
(a file it cannot decode at all is one error line, without libpng's words).
Runs inside containers too (Python 3.6).
"""
import os
import sys
import tempfile
import threading
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps

from prototxt_gen.cli_common import UserError

# libjpeg's and libpng's warnings about the data, not about our use of the library
CORRUPT = ("Corrupt JPEG data", "Premature end of JPEG", "Invalid JPEG", "Bogus", "Warning",
           "libpng")
# A damaged EXIF block is ignored, as OpenCV ignores it, without Pillow's warning line.
warnings.filterwarnings("ignore", "Corrupt EXIF data", UserWarning)
# One decoder at a time owns stderr: decoding is serialized (~7 ms for a VOC
# JPEG), the price of naming the file a warning belongs to.
_STDERR = threading.Lock()


def _decode_capturing_stderr(data):
    """cv2.imdecode, returning (image or None, what the decoder printed)."""
    with _STDERR, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
    return image, text


def read_image(path):
    """BGR uint8 H x W x 3; UserError if the file is unreadable, not an image, or
    decodes only with warnings."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise UserError("cannot read image %s: %s" % (path, e.strerror or e))
    if not data.size:
        raise UserError("image %s is empty" % path)
    image, printed = _decode_capturing_stderr(data)
    if image is None:  # what the decoder printed is said by this line
        raise UserError("cannot decode image %s: not an image OpenCV reads, or truncated" % path)
    lines = [line for line in printed.splitlines() if line.strip()]
    bad = [line for line in lines if line.lstrip().startswith(CORRUPT)]
    other = [line for line in lines if line not in bad]
    if other:  # someone else's output that landed in the capture
        print("\n".join(other), file=sys.stderr)
    if bad:
        raise UserError("image %s is corrupt (%s)" % (path, bad[0].strip().rstrip(".")))
    return image


def read_label_image(path):
    """A label image as Pillow decodes it (palette or grey values as stored),
    turned upright by its EXIF orientation as OpenCV turns the images; raises
    Pillow's errors (OSError, ValueError, DecompressionBombError)."""
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image)
