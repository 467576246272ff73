"""pycaffe jobs for the ONNX tests, run in a child process like caffe_jobs.py.

Usage: python caffe_onnx_jobs.py JOB JSON_ARGS -> last stdout line is JSON.
"""
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
import caffe  # noqa: E402

caffe.set_mode_cpu()


def forward(prototxt, weights, data, blobs, out, repeat=1):
    """TEST forward of the input array in `data` (.npy, N x C x H x W), `repeat`
    times; saves the named blobs to `out` (.npz) and returns the fastest
    forward's seconds."""
    net = caffe.Net(prototxt, weights, caffe.TEST)
    array = np.load(data)
    name = net.inputs[0]
    net.blobs[name].reshape(*array.shape)
    net.reshape()
    net.blobs[name].data[...] = array
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        net.forward()
        times.append(time.perf_counter() - start)
    np.savez(out, **{b: net.blobs[b].data for b in blobs})
    return {"seconds": min(times)}


if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[job](**args)))
