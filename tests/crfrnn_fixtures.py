"""Inputs and the independent reference for the CRF-RNN tests and benchmark:
real photographs as the data layers give them, random unaries, training
records, the layer's prototxt, and pydensecrf2's mean-field inference set up
as crfasrnn's layer computes."""
import json

import cv2
import numpy as np
import pydensecrf.densecrf as dcrf

from onnx_fixtures import photo
from prototxt_gen.spec.datasets import DATASETS

VOC = DATASETS["pascal_voc"]
PHOTOS = ("pascal_voc", "camvid", "kitti")  # astronaut, coffee, chelsea


def image_bottom(dataset, height, width):
    """3 x H x W float32: the data set's photograph, BGR, mean subtracted."""
    bgr = photo(dataset, height, width).astype(np.float32) - np.float32(VOC.mean)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1))


def random_unaries(classes, height, width, seed=0, scale=2.0):
    return np.random.default_rng(seed).normal(0, scale, (classes, height, width)).astype(np.float32)


def densecrf(unary, image, params):
    """pydensecrf2 with the layer's Potts initialisation: unary energy -U, a
    spatial kernel (x, y) / theta_gamma and a bilateral one (x, y) / theta_alpha,
    channels / theta_beta, both DIAG_KERNEL and NORMALIZE_AFTER (filter, then
    divide by the filtered ones), Potts weights 3 and 5.  Returns the DenseCRF;
    its inference(T) is T mean-field iterations."""
    classes, height, width = unary.shape
    y, x = np.mgrid[:height, :width].astype(np.float32)
    xy = np.stack([x.ravel(), y.ravel()])
    colours = image.reshape(3, -1).astype(np.float32)
    crf = dcrf.DenseCRF(height * width, classes)
    crf.setUnaryEnergy(np.ascontiguousarray(-unary.reshape(classes, -1), dtype=np.float32))
    for features, weight in ((xy / np.float32(params.theta_gamma), params.spatial_weight),
                             (np.concatenate([xy / np.float32(params.theta_alpha),
                                              colours / np.float32(params.theta_beta)]),
                              params.bilateral_weight)):
        crf.addPairwiseEnergy(np.ascontiguousarray(features), compat=float(weight),
                              kernel=dcrf.DIAG_KERNEL, normalization=dcrf.NORMALIZE_AFTER)
    return crf


def agreement(scores, reference):
    """softmax(scores) (C x H x W) against reference probabilities (C x N):
    max |Q difference|, argmax agreement, and the largest top-two gap of the
    reference at a pixel whose argmax differs (0 when none does)."""
    e = np.exp(scores - scores.max(axis=0))
    q = (e / e.sum(axis=0)).reshape(len(scores), -1)
    reference = np.asarray(reference).reshape(q.shape)
    differ = q.argmax(axis=0) != reference.argmax(axis=0)
    top2 = np.sort(reference, axis=0)[-2:]
    return {"max_diff": float(np.abs(q - reference).max()), "argmax": float(1 - differ.mean()),
            "gap": float((top2[1] - top2[0])[differ].max()) if differ.any() else 0.0}


def training_records(classes=3, height=48, width=64):
    """(C + 3 + 1) x H x W float32 records, unaries, image bottom and label, one
    per photograph: the label splits the grey levels into C equal parts (so
    its edges are colour edges), and the unaries are that label blurred
    (Gaussian, sigma 3 pixels) and noisy, as upsampled scores are."""
    rng = np.random.default_rng(0)
    for dataset in PHOTOS + ("cityscapes",):
        image = image_bottom(dataset, height, width)
        grey = image.mean(axis=0)
        label = np.digitize(grey, np.quantile(grey, np.arange(1, classes) / classes))
        planes = np.eye(classes, dtype=np.float32)[label].transpose(2, 0, 1)
        blurred = np.stack([cv2.GaussianBlur(p, (0, 0), 3) for p in planes])
        unary = 3 * blurred + rng.normal(0, 0.7, blurred.shape).astype(np.float32)
        yield np.concatenate([unary, image, label[None].astype(np.float32)])


def crf_layer(params, lr_mults=()):
    """The Python layer's prototxt, from bottoms `unary` and `image` to `pred`."""
    lr = "".join(" param { lr_mult: %g }" % m for m in lr_mults)
    return ('layer { name: "crf" type: "Python" bottom: "unary" bottom: "image" top: "pred"%s\n'
            '  python_param { module: "tools.crfrnn.layer" layer: "MultiStageMeanfield" '
            "param_str: '%s' } }\n" % (lr, json.dumps(params)))
