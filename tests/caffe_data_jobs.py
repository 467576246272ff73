"""Data-tool jobs run by real pycaffe in a child process (a failed Caffe CHECK
aborts the process; the tests see a failed job instead of a dead test run).

Usage: python caffe_data_jobs.py JOB JSON_ARGS  -> last stdout line is a JSON result.
"""
import json
import os
import sys

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
import caffe  # noqa: E402

caffe.set_mode_cpu()
PHASES = {"train": caffe.TRAIN, "test": caffe.TEST}


def data_blobs(path, phase, batches, out, label_layers=(), seed=None):
    """The `data` and `label` blobs of a generated net for `batches` forward
    passes, saved to `out` (.npz).  Only the layers that make them run: the Data
    layer and Slice, then the label's Crop / Pooling / Crop, which read the
    convolutions' blob shapes (fixed at setup) but not their values.  A `seed`
    makes TRAIN's random crops and mirrors repeat from run to run."""
    if seed is not None:
        caffe.set_random_seed(seed)
    net = caffe.Net(path, PHASES[phase])
    data, label = [], []
    for _ in range(batches):
        net.forward(start="data_label", end="slice")
        if label_layers:
            net.forward(start=label_layers[0], end=label_layers[-1])
        data.append(net.blobs["data"].data.copy())
        label.append(net.blobs["label"].data.copy())
    np.savez(out, data=np.concatenate(data), label=np.concatenate(label))
    return {"data": list(net.blobs["data"].data.shape), "label": list(net.blobs["label"].data.shape)}


if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[job](**args)))
