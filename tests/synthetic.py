"""Random records of any size in the formats the generated nets read
(docs/design.md, Records), and a bare LMDB writer for them, so the Caffe tier can run
every net without data sets.  Callers encode them with tools.data's own
raw_datum / float_datum."""
import os

import lmdb
import numpy as np


def image_label_records(count, size, classes, seed=0):
    """4 x H x W (B, G, R, label) uint8 arrays with a few labels set to 255."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        image = rng.integers(0, 256, (3, size, size), dtype=np.uint8)
        label = rng.integers(0, classes, (1, size, size), dtype=np.uint8)
        label[:, : size // 8] = 255
        yield np.concatenate([image, label])


def feature_label_records(count, size, classes, seed=0):
    """(C + 1) x H x W float32: scores, then the label channel."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        scores = rng.normal(size=(classes, size, size)).astype(np.float32)
        label = rng.integers(0, classes, (1, size, size)).astype(np.float32)
        yield np.concatenate([scores, label])


def write_lmdb(path, datums):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    env = lmdb.open(str(path), map_size=1 << 32)
    with env.begin(write=True) as txn:
        for i, datum in enumerate(datums):
            txn.put(b"%08d" % i, datum.SerializeToString())
    env.close()
    return path
