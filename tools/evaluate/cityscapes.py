"""Cityscapes' benchmark figures, as cityscapesscripts' evalPixelLevelSemanticLabeling
computes them: class IoU and iIoU (mean over the 19 classes and over the 8 with
instances), category IoU and iIoU, from the official *_gtFine_labelIds.png
and *_gtFine_instanceIds.png; and labelId PNGs as the benchmark server reads them.

The label table and the average instance sizes come from the package at run
time; the arithmetic is ours, vectorised (the script's own is per instance and
per pixel), and follows the script's order of operations, so that every figure
equals the script's to the bit: a confusion matrix of labelIds over all pixels;
a false positive counted only on pixels whose truth is not ignored; NaN for a
class or category neither in the truth nor predicted; each instance's pixels
weighted by the class's average instance size over the instance's size;
means over the figures that are not NaN.  cityscapesscripts is imported only
here and only when needed, since Caffe's containers may lack it."""
import json
import math
import os
import re
from collections import namedtuple

import numpy as np
from PIL import Image

from prototxt_gen.cli_common import UserError, atomic_output, file_problem, shown

from ..images import read_label_image
from ..palettes import names
from .tables import Row

TRUTH_SUFFIX = "_gtFine_labelIds.png"
INSTANCE_SUFFIX = "_gtFine_instanceIds.png"
# The server matches a prediction to the truth <city>_<seq>_<frame>_gtFine_labelIds.png
# by the pattern <city>_<seq>_<frame>*.png (the script's getPrediction).
FRAME = re.compile(r"[^_]+_\d{6}_\d{6}(?=[_.]|$)")
INSTANCE_BASE = 1000  # instanceIds: labelId * 1000 + instance number; below 1000 no instance
SOURCE = "cityscapesscripts' evalPixelLevelSemanticLabeling"
# (our name of each figure, as the published rows' metrics; the script's result key)
METRICS = (("class IoU", "averageScoreClasses"), ("class iIoU", "averageScoreInstClasses"),
           ("category IoU", "averageScoreCategories"),
           ("category iIoU", "averageScoreInstCategories"))
# Said where the truths are converted trainId labels.
CLASS_IOU_ONLY = ("class IoU only: Cityscapes' iIoU and category IoU/iIoU need the official "
                  "*%s truths (with the *%s beside them)" % (TRUTH_SUFFIX, INSTANCE_SUFFIX))


def is_official(truth):
    return os.path.basename(truth).endswith(TRUTH_SUFFIX)


def instance_file(truth):
    return truth[:-len(TRUTH_SUFFIX)] + INSTANCE_SUFFIX


def frame(path):
    """<city>_<seq>_<frame> of a Cityscapes file name, or None."""
    found = FRAME.match(os.path.basename(path))
    return found.group(0) if found else None


class Tables:
    """The package's label table as arrays indexed by labelId, its categories
    and the evaluation's average instance size per class.  `why` names what
    needs the package, for the message when it is missing."""

    def __init__(self, why):
        try:
            from cityscapesscripts.helpers import labels as official
            from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as script
        except ImportError as e:
            raise UserError("%s takes the labels from the cityscapesscripts package (%s): "
                            "pip install cityscapesscripts" % (why, e))
        except ValueError as e:  # the script's import checks CITYSCAPES_EXPORT_DIR
            raise UserError("cannot import cityscapesscripts' evaluation: %s" % e)
        labels = [label for label in official.labels if label.id >= 0]
        self.size = max(label.id for label in labels) + 1
        self.labels = [official.id2label.get(i) for i in range(self.size)]
        # The 19 classes scored, in labelId order (the script's evalLabels less the ignored).
        self.classes = [label for label in labels if not label.ignoreInEval]
        self.instance_classes = [label for label in self.classes if label.hasInstances]
        self.scored = np.zeros(self.size, bool)
        self.scored[[label.id for label in self.classes]] = True
        self.categories = list(official.category2labels)
        self.category_of = np.array([self.categories.index(label.category) if label else -1
                                     for label in self.labels])
        # A category has iIoU if all its labels (with an id) have instances.
        self.instance_categories = [c for c in self.categories
                                    if all(label.hasInstances for label in labels
                                           if label.category == c)]
        self.average_size = np.full(self.size, np.nan)
        for label in self.instance_classes:
            self.average_size[label.id] = script.args.avgClassSize[label.name]
        self.train_of_label = np.full(256, 255, np.uint8)
        for label in labels:
            if 0 <= label.trainId < 255:
                self.train_of_label[label.id] = label.trainId
        # trainId -> the first label of that trainId, as the package's trainId2label
        self.label_of_train = np.zeros(256, np.uint8)
        self.known_train = np.zeros(256, bool)
        for train, label in official.trainId2label.items():
            if 0 <= train <= 255 and label.id >= 0:
                self.label_of_train[train], self.known_train[train] = label.id, True

    def label_ids(self, train_ids):
        """trainIds (0..18, 255) -> labelIds."""
        train_ids = np.asarray(train_ids)
        if not self.known_train[train_ids].all():
            raise ValueError("trainIds %s are no Cityscapes class"
                             % np.unique(train_ids[~self.known_train[train_ids]]))
        return self.label_of_train[train_ids]


def write_label_ids(path, train_ids, tables):
    """A label map (trainIds) as the benchmark server reads it: an 8-bit grey
    PNG of labelIds, written atomically."""
    image = Image.fromarray(tables.label_ids(train_ids), mode="L")
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG")


def check_server_names(images):
    """Every image must be named <city>_<seq>_<frame>..., and each frame only
    once, for the server to find exactly one prediction per truth."""
    seen = {}
    for path in images:
        core = frame(path)
        if not core:
            raise UserError("%s is not named <city>_<seq>_<frame>_... (e.g. berlin_000000_000019_"
                            "leftImg8bit.png): the benchmark server finds predictions by that "
                            "name; keep the Cityscapes file names" % shown(path))
        if core in seen:
            raise UserError("%s and %s are both frame %s: the server takes one prediction per "
                            "frame; predict them separately"
                            % (shown(seen[core]), shown(path), core))
        seen[core] = path


Truth = namedtuple("Truth", "label_ids instances train_ids")


def _read(path, what):
    try:
        image = read_label_image(path)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise UserError("cannot read %s %s: %s" % (what, shown(path), e))
    if not (image.mode in ("L", "P") or image.mode.startswith("I")):
        raise UserError("%s is a %s image, not Cityscapes' %s (one channel)"
                        % (shown(path), image.mode, what))
    return np.array(image).astype(np.int64)


class Benchmark:
    """Accumulates, per scored system, the labelId confusion matrix and the
    instance-weighted true positives and false negatives over the pairs."""

    def __init__(self, tables, systems):
        self.tables, self.images = tables, 0
        self.matrices = np.zeros((systems, tables.size, tables.size), np.int64)
        # [system, class or category, (tp, fn)], weighted
        self.weighted = np.zeros((systems, tables.size, 2))
        self.category_weighted = np.zeros((systems, len(tables.categories), 2))

    @classmethod
    def of_pairs(cls, pairs, systems):
        """A benchmark for pairs whose truths are all official labelIds files
        (each with its instanceIds beside it); None if none is."""
        truths = [truth for _, truth, _ in pairs]
        official = [truth for truth in truths if is_official(truth)]
        if not official:
            return None
        if len(official) < len(truths):
            other = next(truth for truth in truths if not is_official(truth))
            raise UserError("%s is an official *%s but %s is not: score the official files "
                            "(for the benchmark figures) or converted trainId labels, not both "
                            "at once" % (shown(official[0]), TRUTH_SUFFIX, shown(other)))
        for truth in official:
            problem = file_problem(instance_file(truth))
            if problem:
                raise UserError("%s %s: Cityscapes' iIoU weighs each instance by its size, read "
                                "from the *%s beside each *%s (from gtFine_trainvaltest.zip)"
                                % (shown(instance_file(truth)), problem, INSTANCE_SUFFIX,
                                   TRUTH_SUFFIX))
        return cls(Tables("scoring official Cityscapes labelIds"), systems)

    def read(self, path):
        """An official truth: its labelIds, instanceIds and trainIds (255: ignored)."""
        label_ids = _read(path, "labelIds")
        bad = np.unique(label_ids[(label_ids < 0) | (label_ids >= self.tables.size)])
        if bad.size:
            raise UserError("%s holds %s, no Cityscapes labelIds (0..%d)"
                            % (shown(path), ", ".join(map(str, bad[:5])), self.tables.size - 1))
        instances = _read(instance_file(path), "instanceIds")
        if instances.shape != label_ids.shape:
            raise UserError("%s is %s but %s is %s" % (shown(instance_file(path)), instances.shape,
                                                        shown(path), label_ids.shape))
        return Truth(label_ids, instances, self.tables.train_of_label[label_ids])

    def add(self, predictions, truth, path):
        """One image's predictions (trainIds, one per system) against its truth."""
        t, n = self.tables, self.tables.size
        instances = truth.instances.ravel()
        chosen = instances > INSTANCE_BASE
        ids = instances[chosen]
        if ids.size and ids.max() >= n * INSTANCE_BASE:
            raise UserError("%s holds instance %d, of no Cityscapes labelId"
                            % (shown(instance_file(path)), ids.max()))
        for s, prediction in enumerate(predictions):
            predicted = t.label_ids(prediction).ravel().astype(np.int64)
            self.matrices[s] += np.bincount(truth.label_ids.ravel() * n + predicted,
                                            minlength=n * n).reshape(n, n)
            self._add_instances(s, ids, predicted[chosen], path)
        self.images += 1

    def _add_instances(self, s, ids, predicted, path):
        """Per instance (in id order, as the script): its size, pixels predicted
        as its class and as its category, weighted and summed in that order."""
        t = self.tables
        label = ids // INSTANCE_BASE
        hit = predicted == label
        category_hit = t.category_of[predicted] == t.category_of[label]
        counts = np.bincount((ids * 2 + hit) * 2 + category_hit,
                             minlength=t.size * INSTANCE_BASE * 4).reshape(-1, 2, 2)
        sizes = counts.sum(axis=(1, 2))
        found = np.flatnonzero(sizes)
        label = found // INSTANCE_BASE
        stray = [i for i, l in zip(found, label) if t.scored[l] and np.isnan(t.average_size[l])]
        if stray:
            raise UserError("%s holds instance %d of %s, a class without instances"
                            % (shown(instance_file(path)), stray[0],
                               t.labels[stray[0] // INSTANCE_BASE].name))
        keep = ~np.isnan(t.average_size[label])  # the script skips ignored classes' instances
        found, label, size = found[keep], label[keep], sizes[found[keep]]
        tp = counts[found, 1].sum(axis=1)
        category_tp = counts[found, :, 1].sum(axis=1)
        weight = t.average_size[label] / size
        for column, value in ((0, tp * weight), (1, (size - tp) * weight)):
            np.add.at(self.weighted[s, :, column], label, value)
        category = t.category_of[label]
        inside = np.isin(category, [t.categories.index(c) for c in t.instance_categories])
        for column, value in ((0, category_tp * weight), (1, (size - category_tp) * weight)):
            np.add.at(self.category_weighted[s, :, column], category[inside], value[inside])

    def results(self, s):
        """The figures of system s (fractions, NaN where the script has NaN),
        under the keys of the script's result JSON."""
        t, m = self.tables, self.matrices[s]
        tp = np.diag(m)
        fn = m.sum(axis=1) - tp
        fp_all = m[t.scored].sum(axis=0)   # over pixels whose truth is not ignored
        classes, instances = {}, {}
        for label in t.classes:
            i = label.id
            fp = fp_all[i] - tp[i]
            classes[label.name] = _ratio(tp[i], tp[i] + fp + fn[i])
            instances[label.name] = float("nan")
            if label in t.instance_classes:
                weighted_tp, weighted_fn = self.weighted[s, i]
                instances[label.name] = _ratio(weighted_tp, weighted_tp + fp + weighted_fn)
        categories, category_instances = {}, {}
        for c, name in enumerate(t.categories):
            other = t.scored & (t.category_of != c)
            ids = np.flatnonzero(t.scored & (t.category_of == c))
            if ids.size:
                inside = m[np.ix_(ids, ids)].sum()
                categories[name] = _ratio(inside, inside + m[other][:, ids].sum()
                                          + (m[ids].sum() - inside))
            if name in t.instance_categories:
                ids = np.flatnonzero(t.category_of == c)
                weighted_tp, weighted_fn = self.category_weighted[s, c]
                category_instances[name] = _ratio(
                    weighted_tp, weighted_tp + m[other][:, ids].sum() + weighted_fn)
        return {"classScores": classes, "classInstScores": instances,
                "categoryScores": categories, "categoryInstScores": category_instances,
                "averageScoreClasses": _mean(classes), "averageScoreInstClasses": _mean(instances),
                "averageScoreCategories": _mean(categories),
                "averageScoreInstCategories": _mean(category_instances)}

    def report(self, scored, ours):
        """`ours` (a row of per-class IoU per system; scored: (name, ...) in the
        order of add()'s predictions) with the benchmark's other figures as
        metrics (the columns of the published rows) and, after each row, a row
        of its per-class iIoU."""
        systems = {name: s for s, (name, _) in enumerate(scored)}
        source = "%s, %d images" % (SOURCE, self.images)
        classes = names("cityscapes")  # ours, by trainId
        rows = []
        for row in ours:
            found = self.results(systems[row.name])
            metrics = {name: 100 * found[key] for name, key in METRICS[1:]}
            rows.append(row._replace(metrics=dict(row.metrics or {}, **metrics)))
            per_class = {classes[label.trainId]: 100 * found["classInstScores"][label.name]
                         for label in self.tables.instance_classes}
            rows.append(Row(source, row.name + " iIoU", per_class, None,
                            {"class iIoU": metrics["class iIoU"]}))
        return rows

    def text(self, scored):
        """The figures of each system in percent, as printed below the IoU table:
        the four of the benchmark, then per category."""
        categories = [c for c in self.tables.categories if c != "void"]
        found = [(name, self.results(s)) for s, (name, _) in enumerate(scored)]
        blocks = [
            ("", [name for name, _ in METRICS],
             [(name, [r[key] for _, key in METRICS]) for name, r in found]),
            ("category", categories,
             [(name + kind, [r[key].get(c, float("nan")) for c in categories])
              for name, r in found
              for kind, key in ((" IoU", "categoryScores"), (" iIoU", "categoryInstScores"))])]
        width = max(len(name) for name, _ in blocks[1][2])
        lines = ["%s, %d images (%%):" % (SOURCE, self.images)]
        for title, columns, rows in blocks:
            widths = [max(5, len(c)) for c in columns]
            lines.append(title.ljust(width) + " " + " ".join(
                c.rjust(w) for c, w in zip(columns, widths)))
            lines.extend(name.ljust(width) + " " + " ".join(
                ("-" if math.isnan(v) else "%.1f" % (100 * v)).rjust(w)
                for v, w in zip(values, widths)) for name, values in rows)
        return "\n".join(lines)

    def write_json(self, path, scored):
        """The figures (fractions; null for the script's NaN) under the script's
        keys, per system, to `path` (a temporary name the caller renames)."""
        def plain(value):
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return None if math.isnan(value) else value
        found = {"source": SOURCE, "images": self.images,
                 "systems": {name: plain(self.results(s)) for s, (name, _) in enumerate(scored)}}
        with open(path, "w") as f:
            json.dump(found, f, indent=1)
            f.write("\n")


def _ratio(part, whole):
    return float("nan") if whole == 0 else float(part / whole)


def _mean(scores):
    """The script's average: the figures that are not NaN, summed in order."""
    total, count = 0.0, 0
    for value in scores.values():
        if not math.isnan(value):
            total, count = total + value, count + 1
    return total / count if count else float("nan")
