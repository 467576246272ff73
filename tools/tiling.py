"""Running a deploy net over an image of any size, and bringing its output back
to the image's pixels (docs/design.md, Tiling and zoom).

The image (mean subtracted) is reflect-padded by the front end's margin and
cut into tiles of the net's input size; each tile yields output cells `stride`
pixels apart, cell i standing for the pixels from stride x i on, so tiles that
step by whole cells abut exactly: by (input - 2 x margin) pixels, or the whole
cells in them where that is not a whole number of cells (the released KITTI
tile), each tile but the last then giving up its extra cells.  A tile running
past the bottom/right is reflect-padded to full size.  Because the front end has
no padding, this equals one forward pass over the whole padded image.

Runs inside containers too (Python 3.6 in NVIDIA's Caffe image).
"""
import cv2
import numpy as np

from prototxt_gen.cli_common import UserError
from prototxt_gen.spec import grid
from prototxt_gen.spec.grid import MARGIN


def prepare(image, mean):
    """BGR uint8 H x W x 3 -> float32 with the data set's BGR mean subtracted."""
    return image.astype(np.float32) - np.asarray(mean, dtype=np.float32)


def reflect(image, top, bottom, left, right):
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REFLECT_101)


def output_stride(tile_shape, cells, traced=None, margin=MARGIN):
    """Image pixels per output cell of a deploy output whose tile of
    `tile_shape` gives `cells` (h, w), when the tiling can place them: one
    whole number of pixels between cells on both axes, cells enough to fill
    the tile's (tile - 2 margin) pixels, and cell i standing for the pixels
    from margin + stride x i on (grid.cell_centre), where the training labels
    and the zoom put it.  `traced`, the output's shapes.Blob, gives its stride
    and cell 0's centre from the net's layers.  Without it (no shape engine: a
    Python 3.6 container) only this recipe's outputs are known, by their cell
    count: the front end's (grid.STRIDE apart, rounded up) or their x8
    upsampling's.  Any other geometry would put cells on the wrong pixels:
    UserError."""
    tile_shape, cells = tuple(tile_shape), tuple(cells)
    if len(cells) != 2 or None in cells:
        raise UserError("its output is no map of cells (N x C x H x W) to tile")
    spans = [side - 2 * margin for side in tile_shape]
    if traced:
        jumps = traced.jump
    else:
        whole = [-(-span // grid.STRIDE) for span in spans]
        counts = {grid.STRIDE: whole, 1: [grid.STRIDE * n for n in whole]}
        jumps = [stride for stride, count in counts.items() if list(cells) == count][:1] * 2
        if not jumps:
            raise UserError("a %dx%d tile gives %dx%d cells, which are not this recipe's (%s "
                            "pixels apart); without the shape engine (protobuf >= 3.20) no other "
                            "geometry can be checked" % (tile_shape + cells + (
                                " or ".join(map(str, (grid.STRIDE, 1))),)))
    if jumps[0] != jumps[1] or jumps[0] % 1 or jumps[0] < 1:
        raise UserError("its cells are %s pixels apart; the tiling places cells a whole number of "
                        "pixels apart, the same on both axes" % "x".join("%g" % j for j in jumps))
    stride = int(jumps[0])
    if min(spans) < stride or any(n < span // stride for n, span in zip(cells, spans)):
        raise UserError("a %dx%d tile gives %dx%d cells %d pixels apart, too few for the %dx%d "
                        "pixels its tiles step by" % (tile_shape + cells + (stride,)
                                                      + tuple(spans)))
    if traced and traced.centre != (grid.cell_centre(stride),) * 2:
        raise UserError("its cell 0 is centred on tile pixel %s, not %g, so every cell would sit "
                        "on the wrong pixels (padding or a crop the paper's front end does not "
                        "have?)" % ("x".join("%g" % c for c in traced.centre) if traced.centre
                                    else "of no one grid", grid.cell_centre(stride)))
    return stride


def tiled(forward, image, tile_shape, stride=None, margin=MARGIN):
    """forward(C x th x tw tile) -> K x h x w output.  Returns the output of
    the tiles, stepping by whole cells, and its stride (image pixels per output
    cell: 8, or 1 for a net that upsamples itself): `stride` as output_stride
    found it for the net, else output_stride of the first tile's output."""
    th, tw = tile_shape
    padded = reflect(image, margin, margin, margin, margin)

    def run(y, x):
        tile = padded[y:y + th, x:x + tw]
        tile = reflect(tile, 0, th - tile.shape[0], 0, tw - tile.shape[1])
        return forward(tile.transpose(2, 0, 1))

    first = run(0, 0)
    stride = stride or output_stride(tile_shape, first.shape[1:], margin=margin)
    keep = [(side - 2 * margin) // stride for side in tile_shape]  # cells a tile adds
    ys, xs = (range(0, size, n * stride) for size, n in zip(image.shape[:2], keep))
    rows = []
    for y in ys:
        row = [first if y == x == 0 else run(y, x) for x in xs]
        row = np.concatenate([out[:, :, :keep[1]] for out in row[:-1]] + row[-1:], axis=2)
        rows.append(row if y == ys[-1] else row[:, :keep[0]])
    return np.concatenate(rows, axis=1), stride


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
