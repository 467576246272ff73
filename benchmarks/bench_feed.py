"""Training records through real Caffe, every form on the same images in one run:

  feed   samples/s that the stock Data layer of the GENERATED nets (Data + Slice,
         their transform_param: crop, mirror, mean) delivers from each LMDB: our
         raw, PNG level 0 and level 1 records, convert_imageset's raw and
         --encoded LMDBs (same layer, crop 360: their images are not padded),
         and context records with float_data packed and unpacked;
  build  samples/s of `python -m tools.data` (decode, validate, pad, encode,
         write) against Caffe's `convert_imageset` raw and --encoded;
  disk   GB per 1000 samples;

then the ratios the records are held to.  Rates are given per wall second and
per CPU second: on a shared machine the first mostly measures its load.  Not a
test: the figures depend on the machine.

    source <caffe env.sh>; python benchmarks/bench_feed.py [--count 150] [--repeat 2]
"""
import argparse
import contextlib
import functools
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from google.protobuf import text_format

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]
from data_fixtures import smooth_image  # noqa: E402
from prototxt_gen.generate import Options, all_files, render  # noqa: E402
from prototxt_gen.schema import pb  # noqa: E402
from prototxt_gen.spec.datasets import DATASETS  # noqa: E402
from tools.data import cli  # noqa: E402
from tools.data.feature_records import feature_label_record, float_datum  # noqa: E402
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


def cpu_seconds(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed(how):
    """(wall, CPU) seconds of a command or of a call in this process."""
    who = resource.RUSAGE_CHILDREN if isinstance(how, list) else resource.RUSAGE_SELF
    cpu, start = cpu_seconds(who), time.perf_counter()
    if isinstance(how, list):
        subprocess.run(how, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, GLOG_minloglevel="1"))
    else:
        how()
    return time.perf_counter() - start, cpu_seconds(who) - cpu


def data_part(net_path, source, crop=None, mean=()):
    """The generated net's input layers only (Data, then Slice if any), reading `source`."""
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


def thread_cpu():
    """{thread id: CPU seconds} of this process's threads other than the main one."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for tid in os.listdir("/proc/self/task"):
        if int(tid) != os.getpid():
            with open("/proc/self/task/%s/stat" % tid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            seconds[tid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return seconds


def feed_rate(caffe, prototxt, batch, min_seconds):
    """(wall, thread) samples/s of net.forward() once the prefetch queue is
    drained: per second of wall time, and per CPU second of the Data layer's
    prefetch thread (the busiest thread but the main one), which is what it
    feeds on a core of its own however loaded the machine is."""
    with tempfile.NamedTemporaryFile("w", suffix=".prototxt", delete=False) as f:
        f.write(prototxt)
    try:
        net = caffe.Net(f.name, caffe.TRAIN)
        for _ in range(8):  # more than Caffe's prefetch queue holds
            net.forward()
        cpu, start, batches = thread_cpu(), time.perf_counter(), 0
        while time.perf_counter() - start < min_seconds or batches < 8:
            net.forward()
            batches += 1
        wall = time.perf_counter() - start
        busiest = max(cpu_after - cpu.get(tid, 0.0) for tid, cpu_after in thread_cpu().items())
        del net
    finally:
        os.remove(f.name)
    return batches * batch / wall, batches * batch / busiest


def in_process(*argv):
    """`python -m tools.data ARGV` as a call: the build without the interpreter's start-up."""
    def run():
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            if cli.main(list(argv)) != 0:
                raise SystemExit("tools.data %s failed" % " ".join(argv))
    return run


def unpacked_context(path, samples, crop):
    """Context records with float_data unpacked, as protobuf writes Caffe's Datum by default."""
    def encode(sample):
        record = feature_label_record(*feature_pair(sample, VOC.classes), crop)
        return float_datum(record, packed=False).SerializeToString(), record.shape
    build(path, samples, encode, {})


def builds(work, inputs, lists, caffe_list, workers):
    """{form: (LMDB path, command or callable that builds it)}, our forms first."""
    convert = os.path.join(os.environ.get("CAFFE_ROOT", ""), "build", "tools", "convert_imageset")
    todo = {}
    for form, flags in FORMS.items():
        root = os.path.join(work, form)
        todo[form] = (os.path.join(root, VOC.name, "train_lmdb"),
                      in_process("lists", "--dataset", VOC.name, "--split", "train", "--images",
                              lists["jpg"], "--labels", lists["png"], "--lmdb-root", root,
                                 "--force", *flags, *workers))
    for form, flags in (("convert raw", []), ("convert --encoded", ["--encoded"])):
        path = os.path.join(work, form.replace(" ", "_"))
        todo[form] = (path, [convert, *flags, inputs + "/", caffe_list, path])
    root = os.path.join(work, "context")
    todo["context packed"] = (
        os.path.join(root, VOC.name, "context_train_lmdb"),
        in_process("context", "--dataset", VOC.name, "--split", "train", "--features",
                   lists["npy"], "--labels", lists["png"], "--lmdb-root", root, "--force",
                   *workers))
    path = os.path.join(work, "context_unpacked")
    todo["context unpacked"] = (path, functools.partial(
        unpacked_context, path, paired(lists["npy"], lists["png"]), VOC.context_crop))
    return todo


def data_nets(work, lmdbs):
    """{form: prototxt}: the generated nets' data parts, one per LMDB."""
    models = os.path.join(work, "models")
    for path, message in all_files(Options(datasets=(VOC.name,), stages=("frontend", "context"),
                                           out=models, lmdb_root=work, cpu=True)).items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(render(message))
    net = functools.partial(os.path.join, models, VOC.name)
    nets = {}
    for form, path in lmdbs.items():
        if form.startswith("context"):
            nets[form] = data_part(net("context_train.prototxt"), path)
        elif form.startswith("convert"):
            nets[form] = data_part(net("frontend_train.prototxt"), path, CONVERT_CROP,
                                   list(VOC.mean))
        else:
            nets[form] = data_part(net("frontend_train.prototxt"), path)
    return nets


def report(args, feed, build_rate, disk):
    print("%d VOC-sized (%dx%d) JPEG + palette label pairs and %dx%dx%d score maps; %d cores; "
          "Data layer batch %d (context %d), crop %d (convert_imageset %d, context %d); best of "
          "%d; tools.data runs in this process (no Python start-up)"
          % (args.count, WIDTH, HEIGHT, VOC.classes, math.ceil(HEIGHT / 8), math.ceil(WIDTH / 8),
             os.cpu_count(), VOC.batch, VOC.context_batch, VOC.crop, CONVERT_CROP,
             VOC.context_crop, args.repeat))
    print("feed/s: per second of wall time (the machine's load included), and per CPU second "
          "of Caffe's prefetch thread (what it feeds with a core to itself); feed ratios use "
          "the latter.  build/s: per second of wall time, and per CPU second (all threads)")
    print("%-18s %11s %11s %11s %11s %11s" % ("records", "feed/s wall", "feed/s CPU",
                                              "build/s", "build/s CPU", "GB per 1000"))
    for form in feed:
        print("%-18s %11.1f %11.1f %11.1f %11.1f %11.3f" % (form, *feed[form], *build_rate[form],
                                                         disk[form]))
    feed = {form: rates[1] for form, rates in feed.items()}
    build_cpu = {form: rates[1] for form, rates in build_rate.items()}
    build_rate = {form: rates[0] for form, rates in build_rate.items()}
    for text, ratio, target in (
            ("feed, raw / PNG level 0", feed["raw"] / feed["png0"], 4.0),
            ("feed, raw / PNG level 1", feed["raw"] / feed["png1"], None),
            ("feed, raw / convert_imageset raw", feed["raw"] / feed["convert raw"], None),
            ("feed, raw / convert_imageset --encoded", feed["raw"] / feed["convert --encoded"],
             None),
            ("feed, context packed / front end raw", feed["context packed"] / feed["raw"], 10.0),
            ("feed, context packed / unpacked",
             feed["context packed"] / feed["context unpacked"], None),
            ("build, raw / convert_imageset raw", build_rate["raw"] / build_rate["convert raw"],
             1.0),
            ("build per CPU second, raw / convert_imageset raw",
             build_cpu["raw"] / build_cpu["convert raw"], None),
            ("build per CPU second and GB, raw / convert_imageset raw",
             build_cpu["raw"] * disk["raw"] / (build_cpu["convert raw"] * disk["convert raw"]),
             None),
            ("build, raw / convert_imageset --encoded",
             build_rate["raw"] / build_rate["convert --encoded"], None),
            ("build, PNG level 0 / convert_imageset raw",
             build_rate["png0"] / build_rate["convert raw"], None),
            ("disk, raw / convert_imageset raw", disk["raw"] / disk["convert raw"], None),
            ("disk, PNG level 1 / raw", disk["png1"] / disk["raw"], None)):
        verdict = "" if target is None else "  target >= %.1fx: %s" % (
            target, "met" if ratio >= target else "NOT MET")
        print("%-56s %6.2fx%s" % (text, ratio, verdict))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=150, help="images (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="time of each feed measurement (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=2,
                   help="builds and feeds, alternating; the best counts (default: %(default)s)")
    p.add_argument("--workers", type=int, help="tools.data threads (default: all cores)")
    args = p.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    import caffe
    caffe.set_mode_cpu()
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
        todo = builds(work, inputs, lists, caffe_list,
                      ["--workers", str(args.workers)] if args.workers else [])
        seconds = {form: (float("inf"), float("inf")) for form in todo}
        for _ in range(args.repeat):
            for form, (path, how) in todo.items():
                shutil.rmtree(path, ignore_errors=True)
                seconds[form] = min(seconds[form], timed(how))
        lmdbs = {form: path for form, (path, _) in todo.items()}
        nets = data_nets(work, lmdbs)
        feed = {form: (0.0, 0.0) for form in nets}
        for _ in range(args.repeat):
            for form, prototxt in nets.items():
                batch = VOC.context_batch if form.startswith("context") else VOC.batch
                feed[form] = max(feed[form], feed_rate(caffe, prototxt, batch, args.seconds),
                                 key=lambda rates: rates[1])
        report(args, feed, {form: tuple(args.count / t for t in s) for form, s in seconds.items()},
               {form: disk_gb_per_1000(path, args.count) for form, path in lmdbs.items()})
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
