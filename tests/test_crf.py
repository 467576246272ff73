"""The dense CRF moves a blurred, misplaced boundary onto the image's colour edge."""
import argparse

import numpy as np
import pytest

from tools import crf

HEIGHT, WIDTH, EDGE, SHIFT = 96, 160, 70, 14


def scene(seed=0):
    """A noisy two-colour image split at column EDGE, its labels, and a score
    map whose boundary sits SHIFT pixels to the right, blurred over ~25
    pixels, as an upsampled stride-8 net's would."""
    rng = np.random.default_rng(seed)
    image = np.empty((HEIGHT, WIDTH, 3))
    image[:, :EDGE], image[:, EDGE:] = (40, 160, 60), (200, 60, 170)
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    truth = (np.arange(WIDTH) >= EDGE)[None].repeat(HEIGHT, axis=0).astype(int)
    right = 1 / (1 + np.exp(-(np.arange(WIDTH) - (EDGE + SHIFT)) / 6.0))
    prob = np.stack([1 - right, right])[:, None, :].repeat(HEIGHT, axis=1).astype(np.float32)
    return image, truth, prob


def mean_iou(prediction, truth):
    return np.mean([((prediction == c) & (truth == c)).sum() / ((prediction == c) | (truth == c)).sum()
                    for c in (0, 1)])


def test_crf_moves_the_boundary_to_the_colour_edge():
    image, truth, prob = scene()
    refined = crf.refine(prob, image, crf.DEFAULTS)
    assert refined.shape == prob.shape
    np.testing.assert_allclose(refined.sum(axis=0), 1, rtol=1e-4)
    before, after = mean_iou(prob.argmax(axis=0), truth), mean_iou(refined.argmax(axis=0), truth)
    print("\nCRF on the synthetic edge: mean IoU %.4f before, %.4f after" % (before, after))
    assert before < 0.85 and after > 0.99 and after - before > 0.15
    edges = refined.argmax(axis=0).argmax(axis=1)  # first column of class 1 in each row
    assert np.abs(edges - EDGE).max() <= 1


def test_defaults_are_deeplabs_and_the_flags_reach_them():
    assert crf.DEFAULTS == crf.CrfParams(3.0, 3.0, 69.0, 5.0, 5.0, 10)
    parser = argparse.ArgumentParser()
    crf.add_arguments(parser)
    args = parser.parse_args(["--crf", "--crf-bilateral-sxy", "50", "--crf-iterations", "5"])
    assert crf.from_args(args) == crf.DEFAULTS._replace(bilateral_sxy=50.0, iterations=5)
    assert len(crf.grid(crf.DEFAULTS)) == 24 and crf.DEFAULTS._replace(
        bilateral_sxy=69.0, bilateral_compat=5.0) in crf.grid(crf.DEFAULTS)
    with pytest.raises(SystemExit):
        parser.parse_args(["--crf-iterations", "0"])
