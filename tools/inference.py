"""The inference path shared by predict, features and evaluate: open a deploy
net checked against its weights and data set, run it tiled over an image of
any size, and turn its output into probabilities, labels or stored scores
(docs/design.md, Tiling and zoom).

Runs inside containers too (Python 3.6 in NVIDIA's Caffe image).
"""
import numpy as np

from prototxt_gen.cli_common import UserError, require_files
from prototxt_gen.spec.paths import deploy_file, model_file

from . import backend, crf
from .tiling import prepare, tiled, zoom


def default_net(dataset, stage):
    """The checked-in deploy net of a stage (the joint one: the released name)."""
    return model_file(dataset.name, deploy_file(dataset, stage))


def finite(array, what, allow=False):
    """NaN would become class 0 (argmax) or a silently poisoned score map."""
    if not allow and not np.isfinite(array).all():
        raise UserError("the net's %s hold NaN or infinite values: the weights are broken "
                        "(a diverged training run?)" % what)


def check_classes(net_path, blob, channels, dataset):
    if channels != dataset.classes:
        raise UserError("net %s gives %s classes in %r but %s has %d; use that data set's net"
                        % (net_path, channels, blob, dataset.name, dataset.classes))


def check_before_caffe(dataset, net_path, weights, blob):
    """What Caffe would not say: a layer the weights lack stays at its filler
    without a word (a renamed classifier predicts class 0 everywhere), a misfit
    aborts it, and a net of another data set runs happily.  So the net is
    traced and every parameter layer checked by name and shape first.  Needs
    our schema (protobuf >= 3.20): inside a Python 3.6 container only the class
    count is checked, after loading.  Returns (net, fitted layers), or None there."""
    try:
        from tools.weights.netcheck import fit_caffemodel, load_net
        from prototxt_gen.shapes import inputs, trace
    except ImportError:
        return
    net = load_net(net_path)
    tops = {row.top: row.blob for row in trace(net, inputs(net))}
    if blob not in tops:
        raise UserError("net %s has no blob %r: not a deploy net of this project"
                        % (net_path, blob))
    check_classes(net_path, blob, tops[blob].channels, dataset)
    return net, fit_caffemodel(net, weights)


def checked_net(dataset, net_path, weights, blob, backend_name="caffe", gpu=None):
    """The deploy net run by `backend_name`, checked against `weights` and the data
    set's class count in `blob`."""
    require_files([net_path, weights])
    checked = check_before_caffe(dataset, net_path, weights, blob)
    net = backend.open_net(backend_name, net_path, weights, gpu, checked)
    if isinstance(net, backend.CaffeNet):  # pycaffe says what the net gives, schema or not
        if blob not in net.net.blobs:
            raise UserError("net %s has no blob %r: not a deploy net of this project"
                            % (net_path, blob))
        check_classes(net_path, blob, net.net.blobs[blob].data.shape[1], dataset)
    return net


def probabilities(net, image, dataset, crf_params=None):
    """C x H x W class probabilities of a BGR image (`net` from backend.open_net),
    refined by a dense CRF with `crf_params`, if given."""
    prob, stride = tiled(net.blob("prob"), prepare(image, dataset.mean), net.tile_shape)
    finite(prob, "class probabilities")
    height, width = image.shape[:2]
    if stride > 1:
        prob = zoom(prob, stride, height, width)
    prob = prob[:, :height, :width]
    return crf.refine(prob, image, crf_params) if crf_params else prob


def segment(net, image, dataset, crf_params=None):
    return probabilities(net, image, dataset, crf_params).argmax(axis=0)


def scores(net, image, dataset, allow_nonfinite=False):
    """C x H' x W' float32 classifier scores of a BGR image: every tile's whole output."""
    out, _ = tiled(net.blob(dataset.classifier), prepare(image, dataset.mean), net.tile_shape)
    finite(out, "scores", allow_nonfinite)
    return np.ascontiguousarray(out, dtype=np.float32)
