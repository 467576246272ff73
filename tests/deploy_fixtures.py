"""Small deploy nets with weights Caffe itself fills, and smooth test images,
for the prediction tests (tools.predict locally and in the container)."""
import cv2
import numpy as np

from helpers import run_caffe
from onnx_fixtures import deploy_prototxt

JOBS = "caffe_workflow_jobs.py"


def small_deploy(tmp_path, name, stage, size):
    path = deploy_prototxt(tmp_path, name, stage, size)
    weights = tmp_path / ("%s_%s.caffemodel" % (name, stage))
    layers = run_caffe("make_weights", script=JOBS, prototxt=str(path), out=str(weights))["layers"]
    return path, weights, layers


def write_image(path, size, seed):
    """Smooth colours, so neighbouring tiles see related content."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.resize(small, size[::-1], interpolation=cv2.INTER_LINEAR))
    return path
