"""LMDB build rate: `python -m tools.data lists` (decode, validate, pad, encode
image + label, write) against Caffe's `convert_imageset --encoded` (which copies
the JPEG bytes) on the same synthetic VOC-sized images in the same run, plus
the size on disk per 1000 samples.

    source <caffe env.sh>; python benchmarks/bench_lmdb.py [--count 500] [--compression 0 1]

Not a test: the numbers depend on the machine and its load.  Each side runs
`--repeat` times, alternating, and its best time counts.
"""
import argparse
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
from tools.palettes import write_labels  # noqa: E402


def make_images(folder, count, height=375, width=500, seed=0):
    """Photo-like JPEGs and palette labels of a few objects with 255 boundaries,
    VOC's sizes."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        image = smooth_image(rng, height, width, cell=25)
        label = np.zeros((height, width), np.uint8)
        for _ in range(3):
            y, x = rng.integers(0, height - 60), rng.integers(0, width - 60)
            h, w = rng.integers(40, height - y), rng.integers(40, width - x)
            label[y:y + h, x:x + w] = rng.integers(1, 21)
            label[y:y + h, [x, x + w - 1]] = label[[y, y + h - 1], x:x + w] = 255
        cv2.imwrite(os.path.join(folder, "%05d.jpg" % i), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        write_labels(os.path.join(folder, "%05d.png" % i), label, "pascal_voc")


def disk_bytes(path):
    return sum(os.stat(os.path.join(path, f)).st_blocks * 512 for f in os.listdir(path))


def timed(command, cwd):
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, GLOG_minloglevel="1"))
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--compression", type=int, nargs="+", default=[0, 1])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, help="our threads (default: all cores)")
    args = p.parse_args()
    convert = shutil.which("convert_imageset") or os.path.join(
        os.environ.get("CAFFE_ROOT", ""), "build", "tools", "convert_imageset")
    work = tempfile.mkdtemp(prefix="bench_lmdb_")
    try:
        images = os.path.join(work, "images")
        os.makedirs(images)
        make_images(images, args.count)
        names = ["%05d" % i for i in range(args.count)]
        for stem, lines in (("caffe", ["%s.jpg 0" % n for n in names]),
                            ("images", [os.path.join(images, n + ".jpg") for n in names]),
                            ("labels", [os.path.join(images, n + ".png") for n in names])):
            with open(os.path.join(work, stem + ".txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
        for name in os.listdir(images):  # both sides read from the page cache
            with open(os.path.join(images, name), "rb") as f:
                f.read()
        caffe_out = os.path.join(work, "caffe_lmdb")
        caffe_cmd = [convert, "--encoded", images + "/", os.path.join(work, "caffe.txt"), caffe_out]
        ours = {}
        caffe_best = float("inf")
        for _ in range(args.repeat):
            shutil.rmtree(caffe_out, ignore_errors=True)
            caffe_best = min(caffe_best, timed(caffe_cmd, work))
            for level in args.compression:
                cmd = [sys.executable, "-m", "tools.data", "lists", "--dataset", "pascal_voc",
                       "--split", "train", "--images", os.path.join(work, "images.txt"),
                       "--labels", os.path.join(work, "labels.txt"), "--compression", str(level),
                       "--lmdb-root", os.path.join(work, "ours%d" % level), "--force"]
                cmd += ["--workers", str(args.workers)] if args.workers else []
                ours[level] = min(ours.get(level, float("inf")), timed(cmd, REPO))
        caffe_rate = args.count / caffe_best
        print("%d JPEGs of 500x375 with palette labels, %d cores, best of %d"
              % (args.count, os.cpu_count(), args.repeat))
        print("convert_imageset --encoded: %7.1f images/s, %6.3f GB per 1000 samples"
              % (caffe_rate, disk_bytes(caffe_out) / args.count / 1e6))
        for level, seconds in ours.items():
            path = os.path.join(work, "ours%d" % level, "pascal_voc", "train_lmdb")
            print("tools.data, PNG level %d:  %7.1f pairs/s,  %6.3f GB per 1000 samples, "
                  "ratio %.2fx convert_imageset" % (level, args.count / seconds,
                                                    disk_bytes(path) / args.count / 1e6,
                                                    args.count / seconds / caffe_rate))
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
