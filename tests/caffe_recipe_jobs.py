"""pycaffe jobs for the train-what-you-deploy tests, run in a child process
like caffe_jobs.py.  Usage: python caffe_recipe_jobs.py JOB JSON_ARGS -> last
stdout line is JSON."""
import json
import os
import sys

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
import caffe  # noqa: E402

from caffe_jobs import randomize  # noqa: E402

caffe.set_mode_cpu()


def score_blob(net_param_path, consumer):
    """The bottom of the layer of type `consumer` (SoftmaxWithLoss or Softmax)."""
    from google.protobuf import text_format
    from prototxt_gen.schema import pb
    net = text_format.Parse(open(net_param_path).read(), pb.NetParameter(), allow_unknown_field=True)
    return next(l.bottom[0] for l in net.layer if l.type == consumer)


def softmax(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_vs_deploy(test, deploy, weights, seed=0):
    """Random weights into the TEST net (saved to `weights`), one forward over its
    centre crop; the same input and weights through the deploy net, reshaped to
    that input.  Max differences of the scores the loss reads and of `prob`."""
    net = caffe.Net(test, caffe.TEST)
    randomize(net, seed)
    net.save(weights)
    net.forward()
    data = net.blobs["data"].data.copy()
    name = score_blob(test, "SoftmaxWithLoss")
    ours = net.blobs[name].data.copy()
    dep = caffe.Net(deploy, caffe.TEST, weights=weights)
    dep.blobs["data"].reshape(*data.shape)
    dep.reshape()
    dep.blobs["data"].data[...] = data
    dep.forward()
    theirs = dep.blobs[score_blob(deploy, "Softmax")].data
    return {"blob": name, "shape": list(ours.shape), "deploy_shape": list(theirs.shape),
            "score_max_diff": float(np.abs(ours - theirs).max()),
            "score_max_abs": float(np.abs(ours).max()),
            "prob_max_diff": float(np.abs(softmax(ours) - dep.blobs["prob"].data).max())}


def upsampled_labels(test, deploy, weights, out, seed=0):
    """TEST net forward: its `data` and `label` blobs and the upsampled score;
    then the deploy pipeline (tiles, zoom 1) on the same weights: saved to `out`."""
    net = caffe.Net(test, caffe.TEST)
    randomize(net, seed)
    net.save(weights)
    net.forward()
    name = score_blob(test, "SoftmaxWithLoss")
    np.savez(out, data=net.blobs["data"].data[0], label=net.blobs["label"].data[0, 0],
             score=net.blobs[name].data[0])
    return {"blob": name, "label_shape": list(net.blobs["label"].data.shape),
            "score_shape": list(net.blobs[name].data.shape)}


def deploy_probabilities(deploy, weights, image, dataset, out):
    """tools.predict's probabilities (tiles, then zoom) of one image."""
    import cv2
    from prototxt_gen.spec.datasets import DATASETS
    from tools.backend import CaffeNet
    from tools.inference import probabilities
    prob = probabilities(CaffeNet(deploy, weights), cv2.imread(image, cv2.IMREAD_COLOR),
                         DATASETS[dataset])
    np.save(out, prob)
    return {"shape": list(prob.shape)}


def save_random_weights(prototxt, out, seed=0):
    net = caffe.Net(prototxt, caffe.TEST)
    randomize(net, seed)
    net.save(out)
    return {"layers": list(net.params)}


def context_on_stored(context_deploy, joint_deploy, weights, image, dataset, features):
    """Each deploy tile's slice of the stored scores through the context deploy net
    against the joint (released-name) deploy net's `prob` of the same tile."""
    import cv2
    from prototxt_gen.spec.datasets import DATASETS
    from tools.backend import CaffeNet
    from tools.tiling import prepare, tiled
    ds = DATASETS[dataset]
    joint = CaffeNet(joint_deploy, weights)
    expected, _ = tiled(joint.blob("prob"), prepare(cv2.imread(image, cv2.IMREAD_COLOR), ds.mean),
                        joint.tile_shape)
    scores = np.load(features)
    ctx = caffe.Net(context_deploy, caffe.TEST, weights=weights)
    side = ctx.blobs["data"].data.shape[2]
    diffs = []
    for y in range(0, scores.shape[1], side):
        for x in range(0, scores.shape[2], side):
            ctx.blobs["data"].data[0] = scores[:, y:y + side, x:x + side]
            ctx.forward()
            diffs.append(float(np.abs(ctx.blobs["prob"].data[0]
                                      - expected[:, y:y + side, x:x + side]).max()))
    return {"features": list(scores.shape), "joint": list(expected.shape), "tiles": len(diffs),
            "prob_max_diff": max(diffs)}


if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[job](**args)))
