"""The computation of an evaluation: pairs of label maps (or images the net
predicts) -> one confusion matrix per scored system -> table rows.  Nothing
here writes a file; predictions reach the caller through `keep`."""
import os
import sys

import numpy as np
from tqdm import tqdm

from prototxt_gen.cli_common import UserError, listed, read_text
from prototxt_gen.spec.labels import IGNORE

from .. import crf
from ..images import read_image
from ..inference import probabilities, refined
from ..data.conventions import convention_problem
from ..palettes import names, read_labels
from .confusion import confusion, iou
from .tables import Row


def read_pairs(path):
    """(first, truth, image or None) per line; a relative path is read from the
    pairs file's own folder, as every list's is (cli_common.listed).  Paths are
    separated by tabs where a line has one (a path may then hold spaces), else
    by any white space."""
    pairs = []
    for number, line in enumerate(read_text(path, "pairs file").splitlines(), 1):
        parts = line.split("\t") if "\t" in line else line.split()
        fields = [listed(field.strip(), path) for field in parts if field.strip()]
        if not fields:
            continue
        if len(fields) not in (2, 3):
            raise UserError("%s:%d: expected 2 or 3 paths, got %d (separate them by tabs if a "
                            "path holds a space)" % (path, number, len(fields)))
        pairs.append((fields[0], fields[1], fields[2] if len(fields) == 3 else None))
    if not pairs:
        raise UserError("%s lists no pairs: one `PREDICTION TRUTH [IMAGE]` per line" % path)
    return pairs


def labels_of(path, dataset):
    """Class indices of a label PNG; a value that is no class of the data set
    (nor 255) means labels of another data set, which would score silently wrong."""
    labels = read_labels(path, dataset.name)
    problem = convention_problem(labels, path, dataset.name)
    if problem:  # e.g. Cityscapes labelIds: scored as train ids, road would count as "sign"
        raise UserError(problem)
    stray = np.unique(labels[(labels >= dataset.classes) & (labels != IGNORE)])
    if stray.size:
        raise UserError("%s holds values %s, not classes of %s (0..%d, 255 ignored): labels "
                        "of another data set?" % (path, ", ".join(map(str, stray[:5])),
                                                  dataset.name, dataset.classes - 1))
    return labels


def systems(args, trained_crf_rnn=None):
    """(row name, refinement: None, CRF parameters or a trained CRF-RNN layer)
    of each prediction scored per image."""
    params = crf.from_args(args)
    if args.crf_search:
        return [("no CRF", None)] + [
            ("CRF w%g sxy%g srgb%g" % (p.bilateral_compat, p.bilateral_sxy, p.bilateral_srgb), p)
            for p in crf.grid(params)]
    return ([(args.name, None)] + ([(args.name + " + CRF", params)] if args.crf else [])
            + ([(args.name + " + CRF-RNN", trained_crf_rnn)] if trained_crf_rnn else []))


def predictions(net, image, dataset, scored):
    """The label map of each scored system from one forward pass."""
    prob = probabilities(net, image, dataset)
    return [refined(prob, image, dataset, how).argmax(axis=0) for _, how in scored]


def score(pairs, dataset, net, scored, examples, example_system=-1, keep=None, benchmark=None):
    """Confusion matrices (one per scored system) over all pairs, and the first
    `examples` pairs as (index, name, image, prediction of `example_system`,
    truth).  Without a net the first path of a pair is the prediction; with
    one it is the image, and keep(name, label maps) gets each image's predictions.
    A cityscapes.Benchmark reads the truths (official labelIds, scored as
    trainIds here) and accumulates its own figures too."""
    matrices = np.zeros((len(scored), dataset.classes, dataset.classes + 1), dtype=np.int64)
    shown = []
    for index, (first, truth_path, image_path) in enumerate(
            tqdm(pairs, unit="image", file=sys.stderr, disable=None)):
        if benchmark:
            official = benchmark.read(truth_path)
            truth = official.train_ids
        else:
            truth = labels_of(truth_path, dataset)
        name = os.path.splitext(os.path.basename(truth_path))[0]
        if net:
            image = read_image(first)
            found = predictions(net, image, dataset, scored)
            if keep:
                keep(name, found)
        else:
            image = read_image(image_path) if image_path else None
            found = [labels_of(first, dataset)]
        try:
            for matrix, prediction in zip(matrices, found):
                matrix += confusion(prediction, truth, dataset.classes)
        except ValueError as e:
            raise UserError("%s vs %s: %s" % (first, truth_path, e))
        if benchmark:
            benchmark.add(found, official, truth_path)
        if index < examples:
            shown.append((index, name, image, found[example_system], truth))
    return matrices, shown


def rows(scored, matrices, dataset, images, best_first=False):
    """A table row (percent) per scored system."""
    classes = names(dataset.name)
    out = []
    for (label, _), matrix in zip(scored, matrices):
        per_class, mean = iou(matrix)
        out.append(Row("this evaluation, %d images" % images, label,
                       dict(zip(classes, 100 * per_class)), 100 * mean))
    return sorted(out, key=lambda row: -row.mean) if best_first else out
