"""Jobs for the weight-tool tests, run by real pycaffe in a child process (a
failed Caffe CHECK aborts the process; the test sees a failed job).

Usage: python caffe_weight_jobs.py JOB JSON_ARGS  -> last stdout line is a JSON result.
Blobs are compared by the SHA-256 of their float32 bytes, so "equal" means
bit-identical, NaN payloads and -0.0 included.
"""
import json
import os
import sys

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
import caffe  # noqa: E402
from weights_fixtures import digest  # noqa: E402

caffe.set_mode_cpu()


def _digests(net):
    return {name: [digest(b.data) for b in blobs] for name, blobs in net.params.items()}


def digests(net, weights):
    """Loads `weights` (any format Caffe reads, V1 included) into `net`."""
    return _digests(caffe.Net(net, caffe.TEST, weights=weights))


def save_random(net, out, seed):
    """Random weights with the values that break lossy copies (-0.0, NaN, inf,
    denormals, extremes), written by Caffe's own net.save."""
    model = caffe.Net(net, caffe.TEST)
    rng = np.random.default_rng(seed)
    special = np.array([-0.0, np.nan, np.inf, -np.inf, 1e-45, -3e-39, 3.4028235e38], np.float32)
    for blobs in model.params.values():
        for blob in blobs:
            values = rng.normal(0, 1, blob.data.shape).astype(np.float32)
            flat = values.reshape(-1)
            flat[: len(special)] = special[: flat.size]
            blob.data[...] = values
    model.save(out)
    return _digests(model)


def pass_through(net, weights, top, seed):
    """Random non-negative input (the ReLUs keep it) through the net: is `top`
    exactly the input?  Dyadic values (k / 64) keep every partial sum of the
    Large module's fractional taps (1/2, 1/4, ..., 1/32) exact in float32."""
    model = caffe.Net(net, caffe.TEST, weights=weights)
    data = model.blobs["data"]
    data.data[...] = np.random.default_rng(seed).integers(0, 1 << 12, data.data.shape) / 64.0
    model.forward()
    out = model.blobs[top].data
    return {"shape": list(out.shape), "input_shape": list(data.data.shape),
            "equal": bool(np.array_equal(out, data.data))}


def blob(net, layer, index, out, weights=None):
    """One parameter blob as Caffe holds it (filled by Caffe's fillers when no
    weights are given), saved to `out` (.npy)."""
    model = caffe.Net(net, caffe.TEST, **({"weights": weights} if weights else {}))
    np.save(out, model.params[layer][index].data)
    return {"shape": list(model.params[layer][index].data.shape)}


if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[job](**args)))
