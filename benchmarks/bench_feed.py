"""Training records through real Caffe, every form on the same images in one run:

  feed   samples/s that the stock Data layer of the GENERATED nets (Data + Slice,
         their transform_param: crop, mirror, mean) delivers from each LMDB;
         convert_imageset's LMDBs go through the same layer at the largest crop
         their unpadded images allow;
  build  samples/s of `python -m tools.data` (decode, validate, pad, encode,
         write) against Caffe's `convert_imageset` raw and --encoded;
  disk   GB per 1000 samples;

then the ratios the records are held to.  Not a test: the figures depend on
the machine and its load.

    source <caffe env.sh>; python benchmarks/bench_feed.py [--count 200]
"""
import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]
from data_fixtures import smooth_image  # noqa: E402
from prototxt_gen.datasets import DATASETS  # noqa: E402
from prototxt_gen.generate import Options, all_files, render  # noqa: E402
from tools.data.context import feature_label_record, float_datum  # noqa: E402
from tools.data.lmdb_writer import build  # noqa: E402
from tools.data.samples import paired  # noqa: E402
from tools.data.validate import feature_pair  # noqa: E402
from tools.palettes import write_labels  # noqa: E402

VOC = DATASETS["pascal_voc"]
HEIGHT, WIDTH = 375, 500
CONVERT_CROP = 360  # convert_imageset keeps images unpadded: at most 375
FORMS = {"raw": [], "png0": ["--compression", "0"], "png1": ["--compression", "1"]}


def make_inputs(folder, count, seed=0):
    """Photo-like JPEGs, palette labels of a few objects with 255 boundaries, and
    front-end-like score maps (C x H/8 x W/8 float32), VOC's sizes."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        image = smooth_image(rng, HEIGHT, WIDTH, cell=25)
        label = np.zeros((HEIGHT, WIDTH), np.uint8)
        for _ in range(3):
            y, x = rng.integers(0, HEIGHT - 60), rng.integers(0, WIDTH - 60)
            h, w = rng.integers(40, HEIGHT - y), rng.integers(40, WIDTH - x)
            label[y:y + h, x:x + w] = rng.integers(1, VOC.classes)
            label[y:y + h, [x, x + w - 1]] = label[[y, y + h - 1], x:x + w] = 255
        cv2.imwrite(os.path.join(folder, "%05d.jpg" % i), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        write_labels(os.path.join(folder, "%05d.png" % i), label, "pascal_voc")
        cells = (VOC.classes, math.ceil(HEIGHT / 8), math.ceil(WIDTH / 8))
        np.save(os.path.join(folder, "%05d.npy" % i), rng.normal(size=cells).astype(np.float32))


def write_list(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def disk_gb_per_1000(path, count):
    used = sum(os.stat(os.path.join(path, f)).st_blocks * 512 for f in os.listdir(path))
    return used / count * 1000 / 1e9


def timed(command):
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, GLOG_minloglevel="1"))
    return time.perf_counter() - start


def data_part(net_path, source, crop=None, mean=None):
    """The generated net's input layers only (Data, then Slice if any), reading `source`."""
    from prototxt_gen.schema import pb
    from google.protobuf import text_format
    with open(net_path) as f:
        net = text_format.Parse(f.read(), pb.NetParameter())
    layers = [layer for layer in net.layer[:2] if layer.type in ("Data", "Slice")]
    data = layers[0]
    data.data_param.source = source
    if crop is not None:  # convert_imageset's 3-channel records: Data's own label top
        data.transform_param.crop_size = crop
        data.transform_param.ClearField("mean_value")
        data.transform_param.mean_value.extend(mean)
        data.top[:] = ["data", "label"]
        layers = [data]
    del net.layer[:]
    net.layer.extend(layers)
    return render(net)


def feed_rate(caffe, prototxt, batch, batches):
    """Samples/s of net.forward() once the prefetch queue is drained: the rate of
    the Data layer's one prefetch thread."""
    with tempfile.NamedTemporaryFile("w", suffix=".prototxt", delete=False) as f:
        f.write(prototxt)
    try:
        net = caffe.Net(f.name, caffe.TRAIN)
        for _ in range(8):  # more than Caffe's prefetch queue holds
            net.forward()
        start = time.perf_counter()
        for _ in range(batches):
            net.forward()
        seconds = time.perf_counter() - start
        del net
    finally:
        os.remove(f.name)
    return batches * batch / seconds


def unpacked_context(path, samples, crop):
    """Context records with float_data unpacked, as protobuf writes Caffe's Datum by default."""
    def encode(sample):
        record = feature_label_record(*feature_pair(sample, VOC.classes), crop)
        return float_datum(record, packed=False).SerializeToString(), record.shape
    build(path, samples, encode, {})


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=150, help="images (default: %(default)s)")
    p.add_argument("--batches", type=int, default=12,
                   help="timed batches per feed measurement (default: %(default)s)")
    p.add_argument("--workers", type=int, help="tools.data threads (default: all cores)")
    args = p.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    import caffe
    caffe.set_mode_cpu()
    convert = os.path.join(os.environ.get("CAFFE_ROOT", ""), "build", "tools", "convert_imageset")
    work = tempfile.mkdtemp(prefix="bench_feed_")
    try:
        inputs = os.path.join(work, "inputs")
        os.makedirs(inputs)
        make_inputs(inputs, args.count)
        names = ["%05d" % i for i in range(args.count)]
        lists = {ext: write_list(os.path.join(work, ext + ".txt"),
                                 [os.path.join(inputs, n + "." + ext) for n in names])
                 for ext in ("jpg", "png", "npy")}
        caffe_list = write_list(os.path.join(work, "caffe.txt"), ["%s.jpg 0" % n for n in names])
        for name in os.listdir(inputs):  # every build reads from the page cache
            with open(os.path.join(inputs, name), "rb") as f:
                f.read()
        workers = ["--workers", str(args.workers)] if args.workers else []

        lmdbs, build_s = {}, {}
        for form, flags in FORMS.items():
            root = os.path.join(work, form)
            build_s[form] = timed([sys.executable, "-m", "tools.data", "lists", "--dataset",
                                   VOC.name, "--split", "train", "--images", lists["jpg"],
                                   "--labels", lists["png"], "--lmdb-root", root, *flags,
                                   *workers])
            lmdbs[form] = os.path.join(root, VOC.name, "train_lmdb")
        for form, flags in (("convert raw", []), ("convert --encoded", ["--encoded"])):
            lmdbs[form] = os.path.join(work, form.replace(" ", "_"))
            build_s[form] = timed([convert, *flags, inputs + "/", caffe_list, lmdbs[form]])
        root = os.path.join(work, "context")
        build_s["context packed"] = timed([
            sys.executable, "-m", "tools.data", "context", "--dataset", VOC.name, "--split",
            "train", "--features", lists["npy"], "--labels", lists["png"], "--lmdb-root", root,
            *workers])
        lmdbs["context packed"] = os.path.join(root, VOC.name, "context_train_lmdb")
        lmdbs["context unpacked"] = os.path.join(work, "context_unpacked")
        start = time.perf_counter()
        unpacked_context(lmdbs["context unpacked"], paired(lists["npy"], lists["png"]),
                         VOC.context_crop)
        build_s["context unpacked"] = time.perf_counter() - start

        models = os.path.join(work, "models")
        files = all_files(Options(datasets=(VOC.name,), stages=("frontend", "context"),
                                  out=models, lmdb_root=work, cpu=True))
        for path, message in files.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(render(message))
        frontend = os.path.join(models, VOC.name, "frontend_train.prototxt")
        context = os.path.join(models, VOC.name, "context_train.prototxt")
        crop_360 = dict(crop=CONVERT_CROP, mean=list(VOC.mean))
        nets = {form: data_part(frontend, lmdbs[form]) for form in FORMS}
        nets.update({form: data_part(frontend, lmdbs[form], **crop_360)
                     for form in ("convert raw", "convert --encoded")})
        nets.update({form: data_part(context, lmdbs[form])
                     for form in ("context packed", "context unpacked")})
        feed = {}
        for form, prototxt in nets.items():
            batch = VOC.context_batch if form.startswith("context") else VOC.batch
            feed[form] = feed_rate(caffe, prototxt, batch, args.batches)

        print("%d VOC-sized (%dx%d) JPEG + palette label pairs and %dx%dx%d score maps; "
              "%d cores; Data layer batch %d (context %d), crop %d (convert_imageset %d, "
              "context %d), %d timed batches"
              % (args.count, WIDTH, HEIGHT, VOC.classes, math.ceil(HEIGHT / 8),
                 math.ceil(WIDTH / 8), os.cpu_count(), VOC.batch, VOC.context_batch, VOC.crop,
                 crop_360["crop"], VOC.context_crop, args.batches))
        print("%-20s %12s %12s %14s" % ("records", "feed/s", "build/s", "GB per 1000"))
        for form in lmdbs:
            print("%-20s %12.1f %12.1f %14.3f" % (form, feed[form], args.count / build_s[form],
                                                  disk_gb_per_1000(lmdbs[form], args.count)))
        build_rate = {form: args.count / s for form, s in build_s.items()}
        for text, ratio, target in (
                ("feed, raw / PNG level 0", feed["raw"] / feed["png0"], 4.0),
                ("feed, raw / PNG level 1", feed["raw"] / feed["png1"], None),
                ("feed, raw / convert_imageset raw", feed["raw"] / feed["convert raw"], None),
                ("feed, context packed / front end raw", feed["context packed"] / feed["raw"],
                 10.0),
                ("feed, context packed / unpacked",
                 feed["context packed"] / feed["context unpacked"], None),
                ("build, raw / convert_imageset raw",
                 build_rate["raw"] / build_rate["convert raw"], 1.0),
                ("build, raw / convert_imageset --encoded",
                 build_rate["raw"] / build_rate["convert --encoded"], None),
                ("build, PNG level 0 / convert_imageset raw",
                 build_rate["png0"] / build_rate["convert raw"], None)):
            verdict = "" if target is None else "  target >= %.1fx: %s" % (
                target, "met" if ratio >= target else "NOT MET")
            print("%-44s %6.2fx%s" % (text, ratio, verdict))
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
