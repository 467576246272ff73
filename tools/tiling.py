"""Running a deploy net over an image of any size, and bringing its output back
to the image's pixels (docs/design.md, Tiling and zoom).

The image (mean subtracted) is reflect-padded by the front end's margin and
cut into tiles of the net's input size; each tile yields an output tile of
(input - 2 x margin) pixels, so tiles abut exactly; a tile running past the
bottom/right is reflect-padded to full size.  The output tiles are
concatenated.  Because the front end has no padding, this equals one forward
pass over the whole padded image.

Runs inside containers too (Python 3.6 in NVIDIA's Caffe image).
"""
import cv2
import numpy as np

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


def zoom(prob, factor, height, width):
    """Bilinear upsampling with the released models' alignment: cell i sits
    at pixel factor x i, so out[c, h, w] mixes cells h // factor and the next
    one with weight h / factor - h // factor (and likewise for w); cells past
    the last one are clamped to it."""
    def axis(size, cells):
        pos = np.arange(size) / float(factor)
        low = np.floor(pos).astype(int)
        return np.minimum(low, cells - 1), np.minimum(low + 1, cells - 1), (pos - low).astype(np.float32)

    r0, r1, rt = axis(height, prob.shape[1])
    c0, c1, ct = axis(width, prob.shape[2])
    top, bottom = prob[:, r0], prob[:, r1]
    top = top[:, :, c0] * (1 - ct) + top[:, :, c1] * ct
    bottom = bottom[:, :, c0] * (1 - ct) + bottom[:, :, c1] * ct
    return top * (1 - rt)[:, None] + bottom * rt[:, None]
