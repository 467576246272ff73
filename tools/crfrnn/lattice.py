"""The permutohedral lattice (Adams, Baek & Davis, Eurographics 2010) as sparse
matrices: Gaussian filtering of values at N points by their d-dimensional
features (each already divided by its kernel width).

A point is splatted onto the d + 1 vertices of the lattice simplex that holds
it (barycentric weights), the vertices are blurred with [1/2, 1, 1/2] along
each of the d + 1 lattice axes in turn, and the points read their vertices
back (slice, the splat weights times alpha = 1 / (1 + 2^-d)).  The steps,
scales and rounding are Kraehenbuehl's permutohedral.cpp, which both
pydensecrf and crfasrnn's ModifiedPermutohedral use, so the three filters
agree to float rounding.

For one image the features are fixed, so the lattice is built once (in NumPy,
without a loop over points) and each filtering is a few sparse products.  The
filter's transpose, which the backward pass needs, is the same splat and
slice with the blur axes in reverse order: each axis's blur is symmetric.
"""
import numpy as np
from scipy import sparse


class Lattice(object):
    """Splat, blur and slice for one set of features (N x d), as sparse
    matrices: `splat` M x N (CSC, which reads the values in order: faster
    than CSR here), `blurs` d + 1 of M x M, `slice` N x M."""

    def __init__(self, features, dtype=np.float32):
        f = np.asarray(features, dtype=np.float32)
        if not np.isfinite(f).all():
            raise ValueError("lattice features must be finite: NaN or infinity in the image?")
        n, d = f.shape
        rank, rem0, bary = _simplices(f)
        codes, strides = _vertex_codes(rank, rem0)
        vertices, vertex = np.unique(codes.ravel(), return_inverse=True)
        rows = sparse.csr_matrix((bary.T.astype(dtype).ravel(), vertex.ravel(),
                                  np.arange(0, n * (d + 1) + 1, d + 1)), shape=(n, len(vertices)))
        self.splat = rows.T
        self.slice = rows * (np.float32(1) / (1 + np.float32(2) ** np.float32(-d)))
        self.blurs = [_blur(vertices, step, dtype) for step in _axis_steps(strides)]

    def filter(self, values, transpose=False):
        """N x K values -> N x K filtered (by the transposed filter if asked)."""
        return chain(values, self.splat, self.blurs[::-1] if transpose else self.blurs, self.slice)


def chain(values, splat, blurs, slice_):
    """The filter's three steps on `values`; the caller may pass splat and
    slice matrices scaled by a normalisation."""
    values = splat @ values
    for blur in blurs:
        values = blur @ values
    return slice_ @ values


def _axis_steps(strides):
    """The change of a key's code to its neighbour along each lattice axis j:
    (-1, ..., -1, d at j, -1, ..., -1) in the key's d coordinates (all -1 along
    the last axis, whose coordinate the key leaves out)."""
    d, down = len(strides), -strides.sum()
    return [down + (d + 1) * strides[j] for j in range(d)] + [down]


def _blur(vertices, step, dtype):
    """M x M: a vertex plus half of each neighbour (key code +- step) that
    exists.  Symmetric, since a vertex is its neighbour's neighbour."""
    count = len(vertices)
    found = [np.arange(count)]
    for code in (vertices + step, vertices - step):
        at = np.minimum(np.searchsorted(vertices, code), count - 1)
        found.append(np.where(vertices[at] == code, at, count))
    columns = np.stack(found, axis=1)
    weights = np.broadcast_to(np.array([1, 0.5, 0.5], dtype=dtype), columns.shape)
    keep = columns < count
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    return sparse.csr_matrix((weights[keep], columns[keep], indptr), shape=(count, count))


def _simplices(f):
    """Each point's simplex (Adams et al. 2010) in float32, as
    permutohedral.cpp computes it, coordinate by coordinate: the elevated
    point's rank order, the nearest remainder-0 lattice point, and the
    barycentric weights, each (d + 1) x N."""
    n, d = f.shape
    down = np.float32(1) / np.float32(d + 1)
    inv_std = np.float32(np.sqrt(2.0 / 3.0) * (d + 1))
    scale = 1.0 / np.sqrt((np.arange(d) + 2.0) * (np.arange(d) + 1.0)) * np.float64(inv_std)
    cf = np.ascontiguousarray((f * scale.astype(np.float32)).T)
    elevated = np.empty((d + 1, n), dtype=np.float32)
    tail = np.zeros(n, dtype=np.float32)
    for j in range(d, 0, -1):
        elevated[j] = tail - np.float32(j) * cf[j - 1]
        tail += cf[j - 1]
    elevated[0] = tail
    nearest = np.rint(down * elevated)
    rem0 = nearest * np.float32(d + 1)
    diff = elevated - rem0
    rank = np.zeros((d + 1, n), dtype=np.int64)
    for i in range(d):
        for j in range(i + 1, d + 1):
            less = diff[i] < diff[j]
            rank[i] += less
            rank[j] += ~less
    rank += nearest.sum(axis=0).astype(np.int64)
    low, high = rank < 0, rank > d
    rank += (d + 1) * (low.astype(np.int64) - high)
    rem0 += np.float32(d + 1) * (low.astype(np.float32) - high)
    v = (elevated - rem0) * down
    plus, minus = np.zeros((d + 2, n), dtype=np.float32), np.zeros((d + 2, n), dtype=np.float32)
    np.put_along_axis(plus, d - rank, v, axis=0)
    np.put_along_axis(minus, d - rank + 1, v, axis=0)
    bary = plus - minus
    bary[0] += np.float32(1) + bary[d + 1]
    return rank, rem0.astype(np.int64), bary[:d + 1]


def _vertex_codes(rank, rem0):
    """N x (d + 1): one int64 per simplex vertex (remainder r = 0..d), packing
    its key, the first d coordinates of rem0 plus the canonical simplex's
    column rank (r, or r - d - 1 where rank > d - r), in mixed radix with room
    for every vertex and blur neighbour (each coordinate within 2d of rem0)."""
    d = len(rank) - 1
    rank, rem0 = rank[:d], rem0[:d]
    low = rem0.min(axis=1) - 2 * d
    spans = rem0.max(axis=1) - low + 2 * d + 1
    if np.prod([float(s) for s in spans]) >= 2.0 ** 62:
        raise ValueError("the features span a lattice too large for 64-bit keys (spans %s): "
                         "the kernel widths are too narrow for these features" % spans.tolist())
    strides = np.cumprod(np.concatenate([[1], spans[:-1]])).astype(np.int64)
    base = strides @ (rem0 - low[:, None])
    codes = np.empty((rank.shape[1], d + 1), dtype=np.int64)
    for r in range(d + 1):
        codes[:, r] = base + r * strides.sum() - (d + 1) * (strides @ (rank > d - r))
    return codes, strides
