"""pycaffe jobs for tests/test_crfrnn.py, run in a child process like
caffe_jobs.py: the CRF-RNN Python layer (tools/crfrnn/layer.py) in real Caffe.

Usage: python caffe_crfrnn_jobs.py JOB JSON_ARGS -> last stdout line is JSON.
"""
import json
import os
import sys

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
import caffe  # noqa: E402

from crfrnn_fixtures import crf_layer  # noqa: E402

caffe.set_mode_cpu()
NAMES = ("spatial", "bilateral", "compatibility")


def input_net(path, shape, params):
    """Input blobs `unary` (shape) and `image` (3 channels), then the layer."""
    image = (shape[0], 3) + tuple(shape[2:])
    with open(path, "w") as f:
        f.write("force_backward: true\n")
        for name, dims in (("unary", shape), ("image", image)):
            f.write('layer { name: "%s" type: "Input" top: "%s" input_param { shape {%s } } }\n'
                    % (name, name, "".join(" dim: %d" % d for d in dims)))
        f.write(crf_layer(params))
    return path


def forward(work, arrays, out, params, phase="test"):
    """`unary` and `image` (N x ... arrays in the .npz `arrays`) through the
    layer in a TEST (or TRAIN) net; saves `pred` to `out`."""
    data = np.load(arrays)
    net = caffe.Net(input_net(os.path.join(work, "forward.prototxt"), data["unary"].shape, params),
                    caffe.TEST if phase == "test" else caffe.TRAIN)
    for name in ("unary", "image"):
        net.blobs[name].data[...] = data[name]
    net.forward()
    np.savez(out, pred=net.blobs["pred"].data)
    return {"blobs": [list(b.data.shape) for b in net.params["crf"]]}


def gradients(work, shape, params, seed=0, step=1e-2):
    """Central finite differences of L = sum(pred * R) in float32 Caffe against
    the layer's backward, for every unary and every entry of the three blobs
    (set to random matrices, so every term of the gradient counts); the
    image gets a zero gradient.  Returns the worst |numeric - analytic| over
    the largest |analytic| of each."""
    rng = np.random.default_rng(seed)
    net = caffe.Net(input_net(os.path.join(work, "grad.prototxt"), shape, params), caffe.TRAIN)
    net.blobs["unary"].data[...] = rng.normal(0, 1, shape)
    net.blobs["image"].data[...] = rng.uniform(-120, 120, net.blobs["image"].data.shape)
    for blob, mean in zip(net.params["crf"], (3, 5, -1)):
        blob.data[...] = mean * np.eye(shape[1]) + rng.normal(0, 1, blob.data.shape)
    weights = rng.normal(0, 1, shape)

    def loss():
        net.forward()
        return float((net.blobs["pred"].data.astype(np.float64) * weights).sum())

    loss()
    net.clear_param_diffs()
    net.blobs["pred"].diff[...] = weights
    net.blobs["image"].diff[...] = np.nan
    net.backward()
    targets = [("unary", net.blobs["unary"])] + list(zip(NAMES, net.params["crf"]))
    errors = {}
    for name, blob in targets:
        analytic = blob.diff.astype(np.float64).copy()
        numeric = np.zeros_like(analytic)
        for i in np.ndindex(analytic.shape):
            old = float(blob.data[i])
            blob.data[i] = old + step
            up = loss()
            blob.data[i] = old - step
            numeric[i] = (up - loss()) / (2 * step)
            blob.data[i] = old
        errors[name] = float(np.abs(numeric - analytic).max() / np.abs(analytic).max())
    errors["image_diff_zero"] = bool((net.blobs["image"].diff == 0).all())
    return errors


def blobs(net, weights):
    """The layer's three blobs in a caffemodel, read through the layer."""
    model = caffe.Net(net, weights, caffe.TEST)
    return {name: model.params["crf"][i].data[0, 0].tolist() for i, name in enumerate(NAMES)}


def generated_nets(train, test, deploy, layer="crf_rnn", seed=0):
    """A generated CRF-RNN net trio in real Caffe, the CRF blobs at their Potts
    start and the learned convolutions random (He-scaled): the TRAIN net's
    loss and the gradient each CRF blob and conv1_1 get, the TEST net's
    outputs, the deploy net's probabilities, and every blob's shape."""
    rng = np.random.default_rng(seed)
    nets = {"train": caffe.Net(train, caffe.TRAIN), "test": caffe.Net(test, caffe.TEST),
            "deploy": caffe.Net(deploy, caffe.TEST)}
    train_net = nets["train"]
    for name, blobs in train_net.params.items():
        if train_net.layer_dict[name].type == "Convolution":
            w = blobs[0].data
            w[...] = rng.normal(0, np.sqrt(2.0 / w[0].size), w.shape)
    loss = float(train_net.forward()["loss"])
    train_net.backward()
    grads = {name: float(np.abs(blob.diff).sum())
             for name, blob in zip(NAMES, train_net.params[layer])}
    grads["conv1_1"] = float(np.abs(train_net.params["conv1_1"][0].diff).sum())
    tested = {k: float(v) for k, v in nets["test"].forward().items()}
    prob = nets["deploy"].forward()["prob"]
    return {"loss": loss, "grads": grads, "test": tested,
            "prob_sum_error": float(np.abs(prob.sum(axis=1) - 1).max()),
            "shapes": {phase: {k: list(b.data.shape) for k, b in n.blobs.items()}
                       for phase, n in nets.items()},
            "crf_blobs": [list(b.data.shape) for b in train_net.params[layer]]}


if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[job](**args)))
