"""CRF-RNN at inference (`--crf-rnn` of tools.predict and tools.evaluate): the
mean-field layer that a `python -m prototxt_gen --crf-rnn` net trained, its
three blobs and param_str read from the caffemodel, applied with 10
iterations (Zheng et al.'s test setting) to the whole image after tiling and
zoom, with either backend, as --crf applies the dense CRF.

The layer refines scores; the probabilities the deploy net gives serve as
well, since log(prob) differs from the scores by one constant per pixel,
which the mean field's softmax ignores.  What differs from the CRF-RNN net's
own deploy net is that the zoom interpolates probabilities where that net's
Deconvolution interpolates scores, and that the CRF sees the whole image,
not one tile.
"""
import numpy as np

from prototxt_gen.cli_common import UserError
from prototxt_gen.spec.crfrnn import LAYER, MODULE
from tools.crfrnn import meanfield


class Trained(object):
    """A caffemodel's CRF-RNN layer: its parameters (10 iterations) and the
    spatial, bilateral and compatibility matrices (C x C each)."""

    def __init__(self, path, dataset):
        try:
            from tools.weights import WeightsError
            from tools.weights.caffemodel import Caffemodel
        except ImportError as e:  # Python 3.6 containers: no schema
            raise UserError("--crf-rnn reads the caffemodel with this project's schema, which "
                            "needs protobuf >= 3.20 (%s)" % e)
        try:
            model = Caffemodel(path)
        except WeightsError as e:
            raise UserError(str(e))
        # Caffe's snapshots name the layer's class; tools.weights writes Python
        # layers without python_param (Caffe loads weights by layer name)
        found = [(name, p) for name, p in model.python_params().items()
                 if (p.module, p.layer) in ((MODULE, LAYER), ("", ""))]
        if len(found) != 1:
            raise UserError("--crf-rnn: %s holds %s CRF-RNN layer (a Python layer %s.%s, as "
                            "`python -m prototxt_gen --crf-rnn` nets train it); give weights "
                            "trained with one" % (path, "no" if not found else "more than one",
                                                  MODULE, LAYER))
        name, python = found[0]
        layer = model.layers[name]
        classes = dataset.classes
        if layer.shapes != ((1, 1, classes, classes),) * 3:
            raise UserError("--crf-rnn: %s's CRF-RNN layer %s holds blobs %s, not three "
                            "1x1x%dx%d for %s's %d classes"
                            % (path, name, layer.shapes, classes, classes, dataset.name, classes))
        try:
            params = meanfield.parse_params(python.param_str, training=False)
        except ValueError as e:
            raise UserError("--crf-rnn: %s's CRF-RNN layer %s: %s" % (path, name, e))
        self.params = params._replace(iterations=meanfield.TEST_ITERATIONS)
        self.weights = [np.asarray(a, dtype=np.float32)[0, 0] for a in layer.load()]
        if not all(np.isfinite(w).all() for w in self.weights):
            raise UserError("--crf-rnn: %s's CRF-RNN layer %s holds NaN or infinite values "
                            "(a diverged training run?)" % (path, name))

    def refine(self, prob, image, mean):
        """C x H x W probabilities and the H x W x 3 BGR uint8 image -> C x H x W
        probabilities after the mean field; the layer sees the image as the
        net's data blob holds it (BGR, `mean` subtracted)."""
        classes, height, width = prob.shape
        unary = np.log(np.maximum(prob, np.finfo(np.float32).tiny)).astype(np.float32)
        bottom = (image.astype(np.float32) - np.float32(mean)).transpose(2, 0, 1)
        field = meanfield.MeanField(meanfield.spatial_kernel(height, width, self.params),
                                    meanfield.bilateral_kernel(bottom, self.params))
        scores = field.forward(unary, self.weights, self.params.iterations, keep=False)
        q = meanfield.softmax(scores.reshape(classes, -1).T).T.reshape(prob.shape)
        if not np.isfinite(q).all():
            raise UserError("--crf-rnn: the CRF's probabilities hold NaN (its trained weights "
                            "overflow float32)")
        return q


def add_argument(parser):
    parser.add_argument("--crf-rnn", action="store_true",
                        help="refine the zoomed probabilities with the CRF-RNN layer the "
                             "weights hold (trained with a `prototxt_gen --crf-rnn` net), 10 "
                             "mean-field iterations over the whole image")
