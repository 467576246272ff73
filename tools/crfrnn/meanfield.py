"""Mean-field inference of the dense CRF as a recurrent net (CRF-RNN, Zheng et
al., ICCV 2015), forward and backward on NumPy arrays.  This is the
computation of crfasrnn's MultiStageMeanfield Caffe layer; the Caffe Python
layer (tools/crfrnn/layer.py) and Caffe-free inference both call it.

With unaries U (scores, C x H x W) and Z_0 = U, each of T iterations is

    Q = softmax(Z_(t-1))                             over the C classes
    S = Ks Q / Ks 1,   B = Kb Q / Kb 1               the two Gaussian kernels
    Z_t = U - compatibility (Ws S + Wb B)            C x C matrices

and the output is Z_T, scores before the softmax.  Ks is the spatial kernel
(features x / theta_gamma, y / theta_gamma), Kb the bilateral one (x / theta_alpha,
y / theta_alpha, and the image's three channels / theta_beta).  Each divides by
its filtered ones (the "normalise after" of Kraehenbuehl's densecrf).  With the
Potts initialisation (Ws = w_s I, Wb = w_b I, compatibility = -I) this is
densecrf's inference with unary energy -U and Potts weights w_s and w_b.

The image is used as the net's data blob holds it (BGR, mean subtracted, 0-255
scale), as crfasrnn's layer reads its `data` bottom.  The Gaussian depends on
colour differences only; the mean subtracted moves just where the lattice's
grid falls.
Runs inside Caffe's own Python (3.6 in NVIDIA's image): NumPy and SciPy only.
"""
import json
import math
from collections import namedtuple

import numpy as np
from scipy import sparse

from tools.crfrnn.lattice import Lattice, chain

Params = namedtuple("Params", "theta_alpha theta_beta theta_gamma iterations "
                              "spatial_weight bilateral_weight")
# crfasrnn's values (TVG_CRFRNN_new_deploy.prototxt, spatial.par, bilateral.par);
# 5 iterations when training and 10 at test (Zheng et al. 2015, section 6).
DEFAULTS = Params(theta_alpha=160.0, theta_beta=3.0, theta_gamma=3.0, iterations=None,
                  spatial_weight=3.0, bilateral_weight=5.0)
TRAIN_ITERATIONS, TEST_ITERATIONS = 5, 10


def parse_params(text, training):
    """A layer's param_str (a JSON object with any of Params' fields, or
    nothing) -> Params; the iterations default by phase."""
    given = json.loads(text) if text.strip() else {}
    if not isinstance(given, dict) or set(given) - set(Params._fields):
        raise ValueError("param_str must be a JSON object with keys from %s, not %r"
                         % (", ".join(Params._fields), text))
    fields = {"iterations": TRAIN_ITERATIONS if training else TEST_ITERATIONS}
    fields.update(given)
    params = DEFAULTS._replace(**fields)
    if type(params.iterations) is not int or params.iterations < 1:
        raise ValueError("iterations must be a whole number from 1, not %r" % params.iterations)
    for field, value in zip(Params._fields, params):
        width = field.startswith("theta")
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or (width and value <= 0)):
            raise ValueError("%s must be a %snumber, not %r" % (field, "positive " * width, value))
    return params


def initial_blobs(classes, params):
    """Spatial and bilateral kernel weights (diagonal) and the Potts
    compatibility (-I), each C x C, as crfasrnn initialises them."""
    eye = np.eye(classes, dtype=np.float32)
    return params.spatial_weight * eye, params.bilateral_weight * eye, -eye


def _pixel_grid(height, width):
    """(x, y) of every pixel, row-major, as float32."""
    y, x = np.mgrid[:height, :width].astype(np.float32)
    return np.stack([x.ravel(), y.ravel()], axis=1)


class Kernel(object):
    """A Gaussian kernel over an image's pixels, divided by its filtered ones
    (as crfasrnn's layer and densecrf's NORMALIZE_AFTER do): diag(n) K, with
    the normalisation n folded into the slice matrix (and, for the transpose
    K^T diag(n), into the splat matrix)."""

    def __init__(self, features, dtype):
        lattice = Lattice(features, dtype)
        norm = 1 / (lattice.filter(np.ones((len(features), 1), dtype=dtype)).ravel() + 1e-20)
        scale = sparse.diags(norm.astype(dtype))
        self.forward_ops = lattice.splat, lattice.blurs, (scale @ lattice.slice).tocsr()
        self.transpose_ops = (lattice.splat @ scale).tocsc(), lattice.blurs[::-1], lattice.slice

    def apply(self, values):
        return chain(values, *self.forward_ops)

    def apply_transpose(self, values):
        return chain(values, *self.transpose_ops)


def spatial_kernel(height, width, params, dtype=np.float32):
    return Kernel(_pixel_grid(height, width) / np.float32(params.theta_gamma), dtype)


def bilateral_kernel(image, params, dtype=np.float32):
    """`image`: 3 x H x W as the layer's image bottom holds it."""
    colours = np.asarray(image, dtype=np.float32).reshape(3, -1).T / np.float32(params.theta_beta)
    grid = _pixel_grid(*image.shape[1:]) / np.float32(params.theta_alpha)
    return Kernel(np.concatenate([grid, colours], axis=1), dtype)


def softmax(z):
    """Over the classes (axis 1) of an N x C array."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= (e @ np.ones(e.shape[1], dtype=e.dtype))[:, None]
    return e


class MeanField(object):
    """Forward and backward for one image: `spatial` and `bilateral` are its
    Kernels (the spatial one may be shared by every image of its size)."""

    def __init__(self, spatial, bilateral):
        self.kernels = (spatial, bilateral)
        self.trace = self.weights = None

    def forward(self, unary, weights, iterations, keep=True):
        """unary: C x H x W; weights: (spatial, bilateral, compatibility), each
        C x C -> C x H x W scores after `iterations` steps.  With `keep`, holds
        what the backward pass needs (3 x iterations arrays of the unaries'
        size); inference alone passes False."""
        shape = unary.shape
        u = np.ascontiguousarray(unary.reshape(shape[0], -1).T)
        self.weights = ws, wb, compat = [np.asarray(w, dtype=u.dtype) for w in weights]
        # Z = U - compat (Ws S + Wb B) = U - S (compat Ws)^T - B (compat Wb)^T
        through = [(compat @ w).T for w in (ws, wb)]
        z, self.trace = u, []
        for _ in range(iterations):
            q = softmax(z)
            s, b = (k.apply(q) for k in self.kernels)
            z = u - s @ through[0]
            z -= b @ through[1]
            if keep:
                self.trace.append((q, s, b))
        return z.T.reshape(shape)

    def backward(self, diff):
        """The gradient of the scores (C x H x W) -> gradients of the unaries
        (C x H x W) and of the three weight matrices, for the last forward."""
        if not self.trace:
            raise ValueError("backward needs a forward that kept its trace (keep=True)")
        shape = diff.shape
        ws, wb, compat = self.weights
        g = np.ascontiguousarray(diff.reshape(shape[0], -1).T, dtype=ws.dtype)
        unary = np.zeros_like(g)
        d_ws, d_wb, d_compat = (np.zeros_like(w) for w in self.weights)
        through = [compat @ w for w in (ws, wb)]
        ones = np.ones(shape[0], dtype=g.dtype)
        for q, s, b in reversed(self.trace):
            unary += g
            # pairwise = compat (Ws S + Wb B), and Z = U - pairwise
            g_s, g_b = g.T @ s, g.T @ b
            d_compat -= g_s @ ws.T + g_b @ wb.T
            d_ws -= compat.T @ g_s
            d_wb -= compat.T @ g_b
            dq = self.kernels[0].apply_transpose(g @ through[0])
            dq += self.kernels[1].apply_transpose(g @ through[1])
            dq *= -1
            g = q * (dq - ((q * dq) @ ones)[:, None])
        unary += g
        return unary.T.reshape(shape), (d_ws, d_wb, d_compat)
