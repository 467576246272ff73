"""A small synthetic Cityscapes in the official layout, for the benchmark
figures: gtFine labelIds with ignored ids and crowd regions, instanceIds with
several instances per class of different sizes, and noisy predictions as
labelId PNGs (what the official script reads) and trainId PNGs (ours); and
the official script run on them."""
import copy

import cv2
import numpy as np
from PIL import Image

from onnx_fixtures import deploy_prototxt, photo, random_weights
from tools.palettes import write_labels
from tools.weights.netcheck import load_net
from weights_fixtures import narrow, write_net

SHAPE = (64, 128)
CITY = "lindau"
# labelIds drawn as background blocks: ignored ones (0-6 void, 9 parking, 14 guard
# rail, 18 polegroup), flat, construction, object, nature, sky
BACKGROUND = (0, 1, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 17, 18, 19, 20, 21, 22, 23)
# instance classes: person, rider, car, truck, bicycle, and caravan (has instances,
# ignored); bus and motorcycle never have an instance (motorcycle: a crowd region
# only); train (31) is in no truth and never predicted: NaN
INSTANCES = (24, 25, 26, 27, 33, 29)
ABSENT_TRAIN_ID = 16  # train


def label_tables():
    from cityscapesscripts.helpers.labels import labels, trainId2label
    train_of = {label.id: label.trainId if 0 <= label.trainId < 255 else 255
                for label in labels if label.id >= 0}
    return train_of, {t: label.id for t, label in trainId2label.items() if 0 <= t <= 255}


def truth(rng):
    """(labelIds, instanceIds) of one frame."""
    h, w = SHAPE
    ids = np.zeros(SHAPE, np.uint8)
    for _ in range(12):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        ids[y:y + rng.integers(4, 40), x:x + rng.integers(4, 60)] = rng.choice(BACKGROUND)
    instances = ids.astype(np.int32)
    counts = {}
    for label in rng.permutation(INSTANCES * 2):
        y, x = rng.integers(0, h - 2), rng.integers(0, w - 2)
        size = rng.integers(2, 20, 2)  # instances of very different sizes
        counts[label] = counts.get(label, 0) + 1
        ids[y:y + size[0], x:x + size[1]] = label
        instances[y:y + size[0], x:x + size[1]] = label * 1000 + counts[label]
    # crowd regions: a class without an instance number
    ids[:5, :9] = instances[:5, :9] = 32
    ids[-6:, -7:] = instances[-6:, -7:] = 26
    return ids, instances


def prediction(rng, ids, train_of):
    """trainIds: the truth's (random where it is ignored), a quarter of the
    pixels replaced at random, a block of bus on no bus, a few 255."""
    train = np.vectorize(train_of.get)(ids)
    noise = rng.random(SHAPE) < 0.25
    train = np.where((train == 255) | noise, rng.integers(0, 19, SHAPE), train)
    train[train == ABSENT_TRAIN_ID] = 0
    train[20:26, 50:70] = 15
    train[-1, :10] = 255
    return train.astype(np.uint8)


def write_official_layout(root, frames=3, seed=0):
    """gtFine/val/<city>/ and predictions as labelIds (pred_labelIds/) and as
    trainId palette PNGs (pred_trainIds/), one per frame; returns
    [(truth labelIds path, labelId prediction, trainId prediction)]."""
    rng = np.random.default_rng(seed)
    train_of, label_of = label_tables()
    gt = root / "gtFine" / "val" / CITY
    for folder in (gt, root / "pred_labelIds", root / "pred_trainIds"):
        folder.mkdir(parents=True)
    found = []
    for index in range(frames):
        stem = "%s_%06d_%06d" % (CITY, 0, 19 + index)
        ids, instances = truth(rng)
        Image.fromarray(ids).save(gt / (stem + "_gtFine_labelIds.png"))
        Image.fromarray(instances.astype(np.uint16)).save(gt / (stem + "_gtFine_instanceIds.png"))
        train = prediction(rng, ids, train_of)
        label_ids = np.vectorize(label_of.get)(train).astype(np.uint8)
        Image.fromarray(label_ids).save(root / "pred_labelIds" / (stem + "_leftImg8bit.png"))
        write_labels(root / "pred_trainIds" / (stem + "_leftImg8bit.png"), train, "cityscapes")
        found.append((gt / (stem + "_gtFine_labelIds.png"),
                      root / "pred_labelIds" / (stem + "_leftImg8bit.png"),
                      root / "pred_trainIds" / (stem + "_leftImg8bit.png")))
    return found


class NumpyWithIn1d:
    """numpy, as the script sees it, with in1d back (numpy itself is left alone)."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def in1d(values, test):
        return np.isin(values, test).ravel()


def official_figures(predictions, truths):
    """The package's own evaluation of labelId predictions against the truths.
    cityscapesscripts 2.3 calls np.in1d, which numpy 2.4 removed: it gets
    np.isin, flattened as in1d's result was, for the call."""
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as script
    if not hasattr(script.np, "in1d"):
        script.np = NumpyWithIn1d()
    args = copy.copy(script.args)
    args.evalInstLevelScore, args.evalPixelAccuracy = True, False
    args.quiet, args.JSONOutput, args.colorized = True, False, False
    args.bold = args.nocol = ""
    return script.evaluateImgLists([str(p) for p in predictions], [str(t) for t in truths], args)


def small_net(folder):
    """A narrowed Cityscapes joint deploy net (it upsamples itself) with random
    weights, for --backend onnx: (net, weights)."""
    net = write_net(folder / "net.prototxt", narrow(load_net(
        deploy_prototxt(folder, "cityscapes", "joint", (388, 404)))))
    return net, random_weights(net, folder / "w.caffemodel", input_std=16.0)


def write_images(root, truths):
    """leftImg8bit/val/<city>/<frame>_leftImg8bit.png beside each truth (the
    data set's photograph, shifted per frame)."""
    folder = root / "leftImg8bit" / "val" / CITY
    folder.mkdir(parents=True)
    images = []
    for index, truth in enumerate(truths):
        path = folder / truth.name.replace("_gtFine_labelIds.png", "_leftImg8bit.png")
        cv2.imwrite(str(path), np.roll(photo("cityscapes", *SHAPE), 17 * index, axis=1))
        images.append(path)
    return images
