"""Jobs run by real pycaffe in a child process (a failed Caffe CHECK aborts the
process; the tests see a failed job instead of a dead test run).

Usage: python caffe_jobs.py JOB JSON_ARGS  -> last stdout line is a JSON result.
"""
import json
import os
import sys

import numpy as np

from tools.train.solver import Solver

os.environ.setdefault("GLOG_minloglevel", "2")
import caffe  # noqa: E402

caffe.set_mode_cpu()
PHASES = {"train": caffe.TRAIN, "test": caffe.TEST}


def shapes(net):
    return {name: list(blob.data.shape) for name, blob in net.blobs.items()}


def param_count(net):
    return int(sum(b.data.size for blobs in net.params.values() for b in blobs))


def load(path, phase):
    net = caffe.Net(path, PHASES[phase])
    return {"blobs": shapes(net), "params": param_count(net),
            "layers": list(net._layer_names), "outputs": list(net.outputs)}


def solver(path):
    """Constructs a solver (its train and test nets) the way `caffe train` does,
    after creating its snapshot directory as the training runner does."""
    os.makedirs(os.path.dirname(Solver(path).prefix), exist_ok=True)
    s = caffe.get_solver(path)
    return {"train_blobs": shapes(s.net), "test_nets": len(s.test_nets),
            "test_blobs": [shapes(n) for n in s.test_nets]}


def randomize(net, seed, positive=False):
    """He-scaled weights so signals neither vanish nor explode; biases small."""
    rng = np.random.default_rng(seed)
    for blobs in net.params.values():
        w = blobs[0].data
        fan_in = max(1, w[0].size)
        values = rng.normal(0, np.sqrt(2.0 / fan_in), w.shape)
        w[...] = np.abs(values) if positive else values
        for b in blobs[1:]:
            b.data[...] = 0.01 if positive else 0


def forward_backward(path, first_param, seed=0):
    """TRAIN forward + backward with random weights: loss and the gradient that
    reaches the first learned layer."""
    net = caffe.Net(path, caffe.TRAIN)
    randomize(net, seed)
    out = net.forward()
    net.backward()
    grad = net.params[first_param][0].diff
    return {"loss": float(out["loss"]), "first_grad_abs_sum": float(np.abs(grad).sum()),
            "blobs": shapes(net)}


def test_forward(path):
    net = caffe.Net(path, caffe.TEST)
    randomize(net, 1)
    out = net.forward()
    return {k: float(np.asarray(v).ravel()[0]) for k, v in out.items()}


def receptive_fields(path, layers):
    """Backpropagates one output unit of each layer to the input and measures
    the extent of the nonzero input gradient.  Positive weights and inputs keep
    every ReLU open, so the extent is exactly the receptive field."""
    net = caffe.Net(path, caffe.TEST)
    randomize(net, 2, positive=True)
    data = net.blobs["data"]
    data.data[...] = 1.0 + np.random.default_rng(3).random(data.data.shape)
    net.forward()
    result = {}
    for name in layers:
        top = net.top_names[name][0]
        for blob in net.blobs.values():
            blob.diff[...] = 0
        diff = net.blobs[top].diff
        diff[0, 0, diff.shape[2] // 2, diff.shape[3] // 2] = 1.0
        net.backward(start=name)
        hit = np.nonzero(np.abs(data.diff[0]).sum(axis=0))
        result[name] = [int(hit[0].max() - hit[0].min() + 1), int(hit[1].max() - hit[1].min() + 1)]
    return result


if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[job](**args)))
