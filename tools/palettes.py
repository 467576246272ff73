"""Class names and colours of each data set (docs/design.md, Data sets), and label
PNGs coloured by them.

Predictions are written as palette ("P") PNGs: viewers show the colours,
while readers get the class indices back unchanged, as with VOC's own labels.
"""
import numpy as np
from PIL import Image

from prototxt_gen.cli_common import UserError, atomic_output

IGNORE = 255
# Colours that mean "ignore" in colour-coded labels: white and VOC's boundary colour.
IGNORE_COLOURS = ((255, 255, 255), (224, 224, 192))

# The standard VOC colour map; the short names are the paper's table columns.
VOC = (("background", (0, 0, 0)), ("aero", (128, 0, 0)), ("bike", (0, 128, 0)),
       ("bird", (128, 128, 0)), ("boat", (0, 0, 128)), ("bottle", (128, 0, 128)),
       ("bus", (0, 128, 128)), ("car", (128, 128, 128)), ("cat", (64, 0, 0)),
       ("chair", (192, 0, 0)), ("cow", (64, 128, 0)), ("table", (192, 128, 0)),
       ("dog", (64, 0, 128)), ("horse", (192, 0, 128)), ("mbike", (64, 128, 128)),
       ("person", (192, 128, 128)), ("plant", (0, 64, 0)), ("sheep", (128, 64, 0)),
       ("sofa", (0, 192, 0)), ("train", (128, 192, 0)), ("tv", (0, 64, 128)))

# The 11 CamVid classes in the order of the released models (KITTI shares them).
CAMVID = (("building", (128, 0, 0)), ("tree", (128, 128, 0)), ("sky", (128, 128, 128)),
          ("car", (64, 0, 128)), ("sign", (192, 128, 128)), ("road", (128, 64, 128)),
          ("pedestrian", (64, 64, 0)), ("fence", (64, 64, 128)), ("pole", (192, 192, 128)),
          ("sidewalk", (0, 0, 192)), ("bicyclist", (0, 128, 192)))

# Cityscapes' 19 train ids.
CITYSCAPES = (("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("building", (70, 70, 70)),
              ("wall", (102, 102, 156)), ("fence", (190, 153, 153)), ("pole", (153, 153, 153)),
              ("light", (250, 170, 30)), ("sign", (220, 220, 0)), ("vegetation", (107, 142, 35)),
              ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)), ("person", (220, 20, 60)),
              ("rider", (255, 0, 0)), ("car", (0, 0, 142)), ("truck", (0, 0, 70)),
              ("bus", (0, 60, 100)), ("train", (0, 80, 100)), ("motorcycle", (0, 0, 230)),
              ("bicycle", (119, 11, 32)))

CLASSES = {"pascal_voc": VOC, "camvid": CAMVID, "kitti": CAMVID, "cityscapes": CITYSCAPES}


def names(dataset):
    return [name for name, _ in CLASSES[dataset]]


def colours(dataset):
    """C x 3 uint8 RGB."""
    return np.array([rgb for _, rgb in CLASSES[dataset]], dtype=np.uint8)


def write_labels(path, labels, dataset):
    """H x W class indices -> palette PNG (index 255, "ignore", is white)."""
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    table = np.full((256, 3), 255, dtype=np.uint8)
    table[:len(CLASSES[dataset])] = colours(dataset)
    image.putpalette(table.ravel().tolist())
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG")


def read_labels(path, dataset):
    """Class indices of a label PNG: palette or grey images hold them directly;
    colour images are mapped back through the data set's colours; a colour
    outside that palette (and the ignore colours) is an error, since scoring it
    as "ignore" would give a wrong number."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("P", "L", "I", "I;16"):
                return np.array(image).astype(np.int64)
            rgb = np.array(image.convert("RGB")).astype(np.int64)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise UserError("cannot read label image %s: %s" % (path, e))
    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    table = np.concatenate([colours(dataset), np.array(IGNORE_COLOURS, np.uint8)]).astype(np.int64)
    known = (table[:, 0] << 16) | (table[:, 1] << 8) | table[:, 2]
    order = np.argsort(known)
    index = np.minimum(np.searchsorted(known[order], keys), len(known) - 1)
    found = known[order][index] == keys
    if not found.all():
        key = int(keys[~found][0])
        raise UserError("%s is a colour image with %d pixels in colours outside the %s palette "
                        "(e.g. RGB %d,%d,%d): write class indices (palette or grey PNG) or "
                        "use that data set's colours" % (path, int((~found).sum()), dataset,
                                                          key >> 16, (key >> 8) & 255, key & 255))
    labels = order[index]
    return np.where(labels < len(CLASSES[dataset]), labels, IGNORE).astype(np.int64)
