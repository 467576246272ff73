"""pycaffe jobs for the workflow tests (features, prediction, evaluation), run
in a child process like caffe_jobs.py: a failed Caffe CHECK aborts the job,
not the test run.

Usage: python caffe_workflow_jobs.py JOB JSON_ARGS -> last stdout line is JSON.
"""
import json
import os
import sys

import cv2
import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
import caffe  # noqa: E402

from caffe_jobs import randomize  # noqa: E402
from tools.tiling import MARGIN, prepare, reflect  # noqa: E402

caffe.set_mode_cpu()


def make_weights(prototxt, out, seed=0):
    """A .caffemodel with He-scaled random weights, saved under the net's own
    layer names (as the released models are)."""
    net = caffe.Net(prototxt, caffe.TEST)
    randomize(net, seed)
    net.save(out)
    return {"layers": [name for name in net.params]}


def untiled(prototxt, weights, image, mean, blob, out):
    """One forward pass over the whole reflect-padded image, extended at the
    bottom/right to whole tiles, the way the tiles see it; saves blob `blob`."""
    net = caffe.Net(prototxt, weights, caffe.TEST)
    name = net.inputs[0]
    th, tw = net.blobs[name].data.shape[2:]
    oh, ow = th - 2 * MARGIN, tw - 2 * MARGIN
    data = prepare(cv2.imread(image, cv2.IMREAD_COLOR), mean)
    h, w = data.shape[:2]
    padded = reflect(data, MARGIN, MARGIN, MARGIN, MARGIN)
    padded = reflect(padded, 0, -(-h // oh) * oh - h, 0, -(-w // ow) * ow - w)
    net.blobs[name].reshape(1, 3, *padded.shape[:2])
    net.reshape()
    net.blobs[name].data[0] = padded.transpose(2, 0, 1)
    net.forward()
    np.save(out, net.blobs[blob].data[0])
    return {"shape": list(net.blobs[blob].data.shape)}


if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[job](**args)))
