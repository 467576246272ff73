"""The inference path shared by predict, features and evaluate: open a deploy
net checked against its weights and data set, run it tiled over an image of
any size, and turn its output into probabilities, labels or stored scores
(docs/design.md, Tiling and zoom).

Runs inside containers too (Python 3.6 in NVIDIA's Caffe image).
"""
from collections import namedtuple

import numpy as np

from prototxt_gen.cli_common import UserError, require_files
from prototxt_gen.spec.paths import deploy_file, model_file

from . import backend, crf
from .crfrnn import trained as crf_rnn
from .tiling import output_stride, prepare, tiled, zoom

# A backend's deploy net (its tile_shape and blob(name)) with the stride of the
# output that checked_net checked against the tiling.
Checked = namedtuple("Checked", "tile_shape blob stride")


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
    read as pycaffe builds it (TEST phase) and traced, its output's cells are
    checked against the tiling, and every parameter layer is checked by name and
    shape first.  Needs our schema (protobuf >= 3.20): inside a Python 3.6
    container only the class count and the cell count are checked, after
    loading.  Returns ((net, fitted layers), the output's stride), or (None,
    None) there."""
    try:
        from tools.weights.netcheck import fit_caffemodel, load_net
        from prototxt_gen.schema import pb
        from prototxt_gen.shapes import input_blobs, inputs, trace
    except ImportError:
        return None, None
    net = load_net(net_path, pb.TEST)
    tops = {row.top: row.blob for row in trace(net, inputs(net))}
    if tops.get(blob) is None:
        raise UserError("net %s has no blob %r: not a deploy net of this project"
                        % (net_path, blob))
    check_classes(net_path, blob, tops[blob].channels, dataset)
    tiles = list(input_blobs(net).values())
    if not tiles:
        raise UserError("net %s has no input (an Input layer or `input` field) to feed tiles to"
                        % net_path)
    stride = _stride(net_path, blob, (tiles[0].height, tiles[0].width), tops[blob].dims[2:],
                     tops[blob])
    return (net, fit_caffemodel(net, weights)), stride


def _stride(net_path, blob, tile_shape, cells, traced=None):
    """tiling.output_stride, its refusal naming the net and the blob."""
    try:
        return output_stride(tile_shape, cells, traced)
    except UserError as e:
        raise UserError("net %s, blob %r: %s" % (net_path, blob, e))


def checked_net(dataset, net_path, weights, blob, backend_name="caffe", gpu=None):
    """The deploy net run by `backend_name`, checked against `weights` and the data
    set's class count in `blob`, whose cells the tiling places (Checked)."""
    require_files([net_path, weights])
    checked, stride = check_before_caffe(dataset, net_path, weights, blob)
    net = backend.open_net(backend_name, net_path, weights, gpu, checked)
    if isinstance(net, backend.CaffeNet):  # pycaffe says what the net gives, schema or not
        if blob not in net.net.blobs:
            raise UserError("net %s has no blob %r: not a deploy net of this project"
                            % (net_path, blob))
        check_classes(net_path, blob, net.net.blobs[blob].data.shape[1], dataset)
        if stride is None:  # no shape engine here
            stride = _stride(net_path, blob, net.tile_shape, net.net.blobs[blob].data.shape[2:])
    return Checked(net.tile_shape, net.blob, stride)


def _checked_stride(net):
    """The stride checked_net found for `net`; None for a backend's net used
    directly, whose stride tiled() checks from its first tile."""
    return getattr(net, "stride", None)


def probabilities(net, image, dataset, refinement=None):
    """C x H x W class probabilities of a BGR image (`net` from backend.open_net),
    refined (see refined) over the whole image after tiling and zoom."""
    prob, stride = tiled(net.blob("prob"), prepare(image, dataset.mean), net.tile_shape,
                         _checked_stride(net))
    finite(prob, "class probabilities")
    height, width = image.shape[:2]
    if stride > 1:
        prob = zoom(prob, stride, height, width)
    return refined(prob[:, :height, :width], image, dataset, refinement)


def refined(prob, image, dataset, refinement):
    """`prob` as `refinement` leaves it: None (as it is), the dense CRF's
    parameters (crf.CrfParams) or a trained CRF-RNN layer (crf_rnn.Trained)."""
    if refinement is None:
        return prob
    if isinstance(refinement, crf_rnn.Trained):
        return refinement.refine(prob, image, dataset.mean)
    return crf.refine(prob, image, refinement)


def segment(net, image, dataset, refinement=None):
    return probabilities(net, image, dataset, refinement).argmax(axis=0)


def scores(net, image, dataset, allow_nonfinite=False):
    """C x H' x W' float32 classifier scores of a BGR image: every tile's whole
    output (the cells it adds, where its step is no whole number of cells)."""
    out, _ = tiled(net.blob(dataset.classifier), prepare(image, dataset.mean), net.tile_shape,
                   _checked_stride(net))
    finite(out, "scores", allow_nonfinite)
    return np.ascontiguousarray(out, dtype=np.float32)
