"""Running a deploy net over an image of any size (docs/design.md, Tiling and zoom).

The image (mean subtracted) is reflect-padded by the front end's margin and
cut into tiles of the net's input size; each tile yields an output tile of
(input - 2 x margin) pixels, so tiles abut exactly; a tile running past the
bottom/right is reflect-padded to full size.  The output tiles are
concatenated.  Because the front end has no padding, this equals one forward
pass over the whole padded image.

Runs inside containers too (Python 3.6 in NVIDIA's Caffe image).
"""
import os

import cv2
import numpy as np

from prototxt_gen.cli_common import UserError
from prototxt_gen.spec.grid import MARGIN


def prepare(image, mean):
    """BGR uint8 H x W x 3 -> float32 with the data set's BGR mean subtracted."""
    return image.astype(np.float32) - np.asarray(mean, dtype=np.float32)


def reflect(image, top, bottom, left, right):
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REFLECT_101)


def tiled(forward, image, tile_shape, margin=MARGIN):
    """forward(C x th x tw tile) -> K x h x w output.  Returns the concatenated
    output and its stride (image pixels per output cell: 8, or 1 for a net
    that upsamples itself)."""
    th, tw = tile_shape
    oh, ow = th - 2 * margin, tw - 2 * margin
    height, width = image.shape[:2]
    padded = reflect(image, margin, margin, margin, margin)
    rows = []
    for y in range(0, height, oh):
        row = []
        for x in range(0, width, ow):
            tile = padded[y:y + th, x:x + tw]
            tile = reflect(tile, 0, th - tile.shape[0], 0, tw - tile.shape[1])
            row.append(forward(tile.transpose(2, 0, 1)))
        rows.append(np.concatenate(row, axis=2))
    output = np.concatenate(rows, axis=1)
    return output, oh // rows[0].shape[1]


class DeployNet:
    """A pycaffe net in TEST phase whose first input takes one tile."""

    def __init__(self, prototxt, weights, gpu=None):
        os.environ.setdefault("GLOG_minloglevel", "1")  # no INFO dump of every layer
        try:
            import caffe  # here, so the numeric functions above need no Caffe
        except ImportError as e:
            raise UserError("cannot import pycaffe (%s): source the env file "
                            "tools/install_caffe.sh prints, or run in a Caffe image" % e)
        if gpu is None:
            caffe.set_mode_cpu()
        else:
            caffe.set_device(gpu)
            caffe.set_mode_gpu()
        self.net = caffe.Net(str(prototxt), caffe.TEST, weights=str(weights))
        self.input = self.net.inputs[0]
        self.tile_shape = tuple(self.net.blobs[self.input].data.shape[2:])

    def blob(self, name):
        """forward() for `tiled` that returns blob `name` of the tile."""
        if name not in self.net.blobs:
            raise KeyError("the net has no blob %r (it has %s)" % (name, ", ".join(self.net.blobs)))

        def forward(tile):
            self.net.blobs[self.input].data[0] = tile
            self.net.forward()
            return self.net.blobs[name].data[0].copy()
        return forward
