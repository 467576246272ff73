"""Train what you deploy, judged by real Caffe (docs/design.md, Joint and deploy nets): with the
same weights, each stage's TEST net and the deploy net score the same input
alike; Cityscapes' loss reads, for every pixel of the upsampled score, the
label that deploy (zoom 1) gives that pixel; the context module fed the stored
features scores as the joint deploy net does.  The measured differences are
printed (run pytest with -s to see them)."""
import shutil

import cv2
import numpy as np
import pytest

from helpers import caffe_env, run_caffe, run_module
from prototxt_gen.generate import Options, all_files, write
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.paths import released_deploy
from synthetic import write_lmdb
from tools.data.image_records import image_label_record, raw_datum

pytestmark = pytest.mark.caffe
JOBS = "caffe_recipe_jobs.py"
TOLERANCE = 1e-4  # float32, same operations in the same order: differences are ~1e-6


def job(name, **args):
    return run_caffe(name, script=JOBS, **args)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_context_test_net_scores_as_the_context_deploy_net(small_models, tmp_path, name):
    folder = small_models / name
    result = job("test_vs_deploy", test=str(folder / "context_test.prototxt"),
                 deploy=str(folder / "context_deploy.prototxt"), weights=str(tmp_path / "w.caffemodel"))
    print("\n%s context TEST vs context deploy (%s padding): max |score diff| %.3g (scores up to "
          "%.3g), max |prob diff| %.3g" % (name, DATASETS[name].context_padding, result["score_max_diff"],
                                           result["score_max_abs"], result["prob_max_diff"]))
    assert result["shape"] == result["deploy_shape"]
    assert result["score_max_diff"] < TOLERANCE * max(1, result["score_max_abs"])
    assert result["prob_max_diff"] < TOLERANCE


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_joint_test_net_scores_as_the_released_deploy_net(small_models, tmp_path, name):
    ds = DATASETS[name]
    folder = small_models / name
    result = job("test_vs_deploy", test=str(folder / "joint_test.prototxt"),
                 deploy=str(folder / released_deploy(ds)), weights=str(tmp_path / "w.caffemodel"))
    print("\n%s joint TEST (%s) vs %s: max |score diff| %.3g (scores up to %.3g), max |prob diff| "
          "%.3g" % (name, result["blob"], released_deploy(ds), result["score_max_diff"],
                    result["score_max_abs"], result["prob_max_diff"]))
    assert result["shape"] == result["deploy_shape"]
    assert result["blob"] == ("ctx_upsample" if name == "cityscapes" else ds.context_prefix + "final")
    assert result["score_max_diff"] < TOLERANCE * max(1, result["score_max_abs"])
    assert result["prob_max_diff"] < TOLERANCE


CROP = 388  # 2 x 2 front-end cells, 16 x 16 pixels after the x8 Deconvolution


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory):
    """Cityscapes nets at crop 388 (deploy tile 388) and one val LMDB per image size."""
    root = tmp_path_factory.mktemp("cityscapes")
    write(all_files(Options(datasets=("cityscapes",), stages=("joint",), out=str(root / "models"),
                            lmdb_root=str(root / "data"), crop=CROP, batch=1, iter_size=1,
                            cpu=True, deploy_size=(CROP, CROP))))
    return root


def label_map(h, w, seed):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 19, (h, w)).astype(np.uint8)
    label[rng.random((h, w)) < 0.1] = 255
    return label


@pytest.mark.parametrize("h, w", [
    (16, 16),   # exactly one deploy tile: scores comparable pixel for pixel
    (40, 24),   # larger than the output: centre-crop offsets 12 and 4
    (9, 13),    # smaller: padded up to the crop, odd amounts (bottom and left larger)
])
def test_cityscapes_labels_are_those_deploy_assigns(cityscapes, tmp_path, h, w):
    ds = DATASETS["cityscapes"]
    rng = np.random.default_rng(h * w)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    label = label_map(h, w, h + w)
    record = image_label_record(image, label, CROP)
    lmdb = cityscapes / "data" / "cityscapes" / "val_lmdb"
    shutil.rmtree(str(lmdb), ignore_errors=True)
    write_lmdb(lmdb, [raw_datum(record)])
    out = tmp_path / "blobs.npz"
    weights = tmp_path / "w.caffemodel"
    models = cityscapes / "models" / "cityscapes"
    result = job("upsampled_labels", test=str(models / "joint_test.prototxt"),
                 deploy=str(models / released_deploy(ds)), weights=str(weights), out=str(out), seed=h)
    blobs = np.load(out)
    assert result["blob"] == "ctx_upsample" and result["label_shape"] == [1, 1, 16, 16]
    # Where each output pixel lies in the image: the record is the image padded by
    # 186 and then (top, left) more; Caffe's TEST crop starts at the centre offset.
    extra_h, extra_w = max(0, 16 - h), max(0, 16 - w)
    top, left = extra_h // 2, extra_w - extra_w // 2
    oy, ox = (record.shape[1] - CROP) // 2, (record.shape[2] - CROP) // 2  # record: 4 x H x W
    rows, cols = oy + np.arange(16) - top, ox + np.arange(16) - left
    inside = (rows[:, None] >= 0) & (rows[:, None] < h) & (cols >= 0) & (cols < w)
    expected = np.where(inside, label[np.clip(rows, 0, h - 1)][:, np.clip(cols, 0, w - 1)], 255)
    np.testing.assert_array_equal(blobs["label"], expected)
    # ... and the pixel the net centres there is that image pixel (mean subtracted).
    pixels = blobs["data"][:, 186:202, 186:202].transpose(1, 2, 0) + np.float32(ds.mean)
    seen = image[np.clip(rows, 0, h - 1)][:, np.clip(cols, 0, w - 1)]
    np.testing.assert_allclose(pixels[inside], seen[inside], atol=1e-3)
    print("\ncityscapes %dx%d: %d of 256 upsampled pixels inside the image; every label as deploy + zoom 1 "
          "assigns them (crop offset %d, %d; padding top %d, left %d)"
          % (h, w, int(inside.sum()), oy, ox, top, left))
    if (h, w) == (16, 16):
        path = tmp_path / "image.png"
        cv2.imwrite(str(path), image)
        run_caffe("deploy_probabilities", script=JOBS, deploy=str(models / released_deploy(ds)),
                  weights=str(weights), image=str(path), dataset="cityscapes", out=str(tmp_path / "p.npy"))
        prob = np.load(tmp_path / "p.npy")
        score = blobs["score"]
        ours = np.exp(score - score.max(0)) / np.exp(score - score.max(0)).sum(0)
        diff = float(np.abs(ours - prob).max())
        print("cityscapes 16x16: upsampled TEST scores vs deploy + zoom 1, max |prob diff| %.3g" % diff)
        assert prob.shape == (19, 16, 16) and diff < TOLERANCE


@pytest.mark.parametrize("name, h, w", [("pascal_voc", 30, 40), ("pascal_voc", 60, 40),
                                        ("camvid", 50, 100)])
def test_stored_features_feed_the_context_module_as_deploy_does(tmp_path, name, h, w):
    """tools.features at a 420-pixel tile (6 x 6 cells): every tile's whole output is
    stored; the context deploy net on each tile's slice gives the joint deploy net's prob."""
    ds = DATASETS[name]
    write(all_files(Options(datasets=(name,), stages=("frontend", "context", "joint"),
                            out=str(tmp_path / "models"), context_crop=6, deploy_size=(420, 420))))
    models = tmp_path / "models" / name
    weights = tmp_path / "w.caffemodel"
    job("save_random_weights", prototxt=str(models / released_deploy(ds)), out=str(weights), seed=3)
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), np.random.default_rng(4).integers(0, 256, (h, w, 3), dtype=np.uint8))
    proc = run_module("tools.features", str(image), "--dataset", name, "--weights", weights,
                      "--net", models / "frontend_deploy.prototxt", "--out", tmp_path / "scores",
                      env=caffe_env())
    assert proc.returncode == 0, proc.stderr
    features = tmp_path / "scores" / "img.npy"
    tiles = (-(-h // 48), -(-w // 48))
    assert np.load(features).shape == (ds.classes, 6 * tiles[0], 6 * tiles[1])
    result = job("context_on_stored", context_deploy=str(models / "context_deploy.prototxt"),
                 joint_deploy=str(models / released_deploy(ds)), weights=str(weights), image=str(image),
                 dataset=name, features=str(features))
    print("\n%s %dx%d: stored %s, %d tile(s); context deploy on stored features vs joint deploy: "
          "max |prob diff| %.3g" % (name, h, w, result["features"], result["tiles"], result["prob_max_diff"]))
    assert result["tiles"] == tiles[0] * tiles[1]
    assert result["prob_max_diff"] < TOLERANCE
