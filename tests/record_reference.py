"""A NumPy rendering of the authors' data semantics (docs/design.md, Padding),
written independently of tools.data: np.pad's "reflect" is OpenCV's
BORDER_REFLECT_101.  Records and Caffe's blobs are checked against it."""
import numpy as np

from prototxt_gen.spec.grid import MARGIN, STRIDE


def halves(extra):
    return max(0, extra) // 2, max(0, extra) - max(0, extra) // 2


def reference_record(image, label, crop):
    """Steps 2-3: reflect / 255 by 186, then up to the crop, split as the fork's
    PadImage: top = (crop - h) // 2, the rest at the bottom; right = (crop - w) // 2,
    the rest (the larger half) on the left (docs/design.md, Padding)."""
    image = np.pad(image, ((MARGIN, MARGIN), (MARGIN, MARGIN), (0, 0)), mode="reflect")
    label = np.pad(label, MARGIN, constant_values=255)
    pads = (halves(crop - label.shape[0]), halves(crop - label.shape[1])[::-1])
    return (np.pad(image, pads + ((0, 0),), mode="reflect"),
            np.pad(label, pads, constant_values=255))


def reference_blobs(image, label, crop, mean, y, x, mirror):
    """Steps 4-6 for a crop at (y, x): mirror, subtract the mean, CHW; the label
    of output cell (h, w) is the cropped label's pixel (186 + 8h, 186 + 8w)."""
    image, label = image[y:y + crop, x:x + crop], label[y:y + crop, x:x + crop]
    if mirror:
        image, label = image[:, ::-1], label[:, ::-1]
    data = (image.astype(np.float32) - np.asarray(mean, np.float32)).transpose(2, 0, 1)
    cells = MARGIN + STRIDE * np.arange((crop - 2 * MARGIN) // STRIDE)
    return data, label[np.ix_(cells, cells)].astype(np.float32)


def reference_context(features, label):
    """Scores as stored and the label pixel (8i, 8j) of each cell (i, j); 255 for
    cells past the image."""
    c, h, w = features.shape
    cells = np.full((h, w), 255, np.uint8)
    for i in range(h):
        for j in range(w):
            if STRIDE * i < label.shape[0] and STRIDE * j < label.shape[1]:
                cells[i, j] = label[STRIDE * i, STRIDE * j]
    return features, cells


def reference_context_blobs(features, cells, crop, y, x, mirror):
    features, cells = features[:, y:y + crop, x:x + crop], cells[y:y + crop, x:x + crop]
    if mirror:
        features, cells = features[:, :, ::-1], cells[:, ::-1]
    return features, cells.astype(np.float32)
