"""Deploy tiling, the authors' zoom alignment, score extraction and
prediction.  The quick tier uses a numpy stand-in with the front end's
geometry; the Caffe tier runs small generated deploy nets with random weights
and compares the tiled result with one untiled forward pass."""
import numpy as np
import pytest
from PIL import Image

from deploy_fixtures import JOBS, small_deploy, write_image
from helpers import REPO, caffe_env, run_caffe, run_module
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.grid import MARGIN as FRONTEND_MARGIN
from prototxt_gen.spec.paths import model_file, released_deploy
from tools.inference import probabilities, scores
from tools.palettes import read_labels
from tools.tiling import MARGIN, reflect, tiled, zoom


def test_margin_is_the_front_ends():
    assert MARGIN == FRONTEND_MARGIN == 186


# ---- a numpy stand-in for a deploy net ------------------------------------------

class WindowNet:
    """Like the front end: no padding, output cell (i, j) reads exactly the
    input window [8i, 8i + 372] x [8j, 8j + 372] (here a few fixed taps of
    it, corners included).  stride=1 mimics a net that upsamples itself."""

    def __init__(self, tile_shape, classes=3, stride=8, seed=0):
        rng = np.random.default_rng(seed)
        self.tile_shape, self.stride = tile_shape, stride
        taps = rng.integers(0, 2 * MARGIN + 1, (12, 2))
        self.taps = np.vstack([taps, [[0, 0], [2 * MARGIN, 2 * MARGIN]]])
        self.weights = rng.normal(size=(classes, len(self.taps), 3))

    def forward(self, tile):
        c, h, w = tile.shape
        rows = np.arange(0, h - 2 * MARGIN, self.stride)
        cols = np.arange(0, w - 2 * MARGIN, self.stride)
        out = np.zeros((len(self.weights), len(rows), len(cols)))
        for t, (dy, dx) in enumerate(self.taps):
            window = tile[:, rows[:, None] + dy, cols[None, :] + dx]  # 3 x r x c
            out += np.einsum("kc,crs->krs", self.weights[:, t], window)
        return out

    def blob(self, name):
        if name == "prob":
            return lambda tile: softmax(self.forward(tile))
        return self.forward


def softmax(x):
    e = np.exp(x - x.max(axis=0))
    return e / e.sum(axis=0)


def untiled(net, image, forward):
    """One pass over the whole padded image, extended like the last tiles."""
    oh, ow = (s - 2 * MARGIN for s in net.tile_shape)
    h, w = image.shape[:2]
    padded = reflect(image, MARGIN, MARGIN, MARGIN, MARGIN)
    padded = reflect(padded, 0, -(-h // oh) * oh - h, 0, -(-w // ow) * ow - w)
    return forward(padded.transpose(2, 0, 1))


@pytest.mark.parametrize("size", [(1, 1), (16, 24), (17, 25), (40, 9), (100, 70)])
def test_tiles_equal_one_pass_over_the_padded_image(size):
    net = WindowNet((388, 404))
    image = np.random.default_rng(1).normal(size=size + (3,)).astype(np.float32)
    out, stride = tiled(net.forward, image, net.tile_shape)
    assert stride == 8
    assert out.shape[1:] == (-(-size[0] // 16) * 2, -(-size[1] // 32) * 4)
    np.testing.assert_allclose(out, untiled(net, image, net.forward), rtol=1e-9)


def test_a_net_that_upsamples_itself_has_stride_1():
    net = WindowNet((380, 396), stride=1)
    image = np.random.default_rng(2).normal(size=(20, 30, 3)).astype(np.float32)
    out, stride = tiled(net.forward, image, net.tile_shape)
    assert stride == 1 and out.shape[1:] == (24, 48)
    np.testing.assert_allclose(out, untiled(net, image, net.forward), rtol=1e-9)


# ---- zoom ---------------------------------------------------------------------------

def zoom_by_loops(prob, f, height, width):
    """docs/design.md, Tiling and zoom, literally, clamped at the border."""
    last_r, last_c = prob.shape[1] - 1, prob.shape[2] - 1
    out = np.zeros((prob.shape[0], height, width))
    for h in range(height):
        for w in range(width):
            r0, c0 = h // f, w // f
            rt, ct = h / f - r0, w / f - c0
            r1, c1 = min(r0 + 1, last_r), min(c0 + 1, last_c)
            r0, c0 = min(r0, last_r), min(c0, last_c)
            v0 = rt * prob[:, r1, c0] + (1 - rt) * prob[:, r0, c0]
            v1 = rt * prob[:, r1, c1] + (1 - rt) * prob[:, r0, c1]
            out[:, h, w] = (1 - ct) * v0 + ct * v1
    return out


def test_zoom_matches_the_authors_formula():
    prob = np.random.default_rng(3).random((4, 5, 7)).astype(np.float32)
    for height, width in ((40, 56), (37, 50), (45, 60)):
        np.testing.assert_allclose(zoom(prob, 8, height, width),
                                   zoom_by_loops(prob, 8, height, width), rtol=1e-5)


def test_zoom_anchors_cell_i_at_pixel_8i():
    prob = np.zeros((2, 3, 3), dtype=np.float32)
    prob[0, 1, 1] = 1.0
    out = zoom(prob, 8, 24, 24)
    assert out[0, 8, 8] == 1.0 and out[0, 0, 0] == 0.0
    assert out[0, 12, 8] == pytest.approx(0.5) and out[0, 4, 4] == pytest.approx(0.25)
    assert out[0, 15, 8] == pytest.approx(1 / 8)
    prob[0, 2, 2] = 1.0
    assert zoom(prob, 8, 24, 24)[0, 20, 23] == 1.0, "past the last cell: clamped"


# ---- prediction and scores on the stand-in -----------------------------------------

def test_probabilities_are_zoomed_tiles_cropped_to_the_image():
    net = WindowNet((380, 396))
    voc = DATASETS["pascal_voc"]
    image = np.random.default_rng(4).integers(0, 256, (21, 35, 3), dtype=np.uint8)
    prob = probabilities(net, image, voc)
    assert prob.shape == (3, 21, 35)
    full = untiled(net, image.astype(np.float32) - np.float32(voc.mean), net.blob("prob"))
    np.testing.assert_allclose(prob, zoom(full, 8, 21, 35), rtol=1e-6)
    np.testing.assert_allclose(prob.sum(axis=0), 1, rtol=1e-6)


def test_cityscapes_style_net_is_not_zoomed():
    net = WindowNet((380, 396), stride=1)
    image = np.random.default_rng(5).integers(0, 256, (10, 30, 3), dtype=np.uint8)
    prob = probabilities(net, image, DATASETS["cityscapes"])
    full = untiled(net, image.astype(np.float32) - np.float32(DATASETS["cityscapes"].mean),
                   net.blob("prob"))
    np.testing.assert_allclose(prob, full[:, :10, :30], rtol=1e-6)


def test_scores_keep_every_tile_whole():
    """Tiles of 1 x 3 cells (8 x 24 pixels): a 17 x 33 image needs 3 x 2 of them, and
    all 3 x 6 cells are stored, not just the ceil(17 / 8) x ceil(33 / 8) on the image."""
    net = WindowNet((380, 396))
    image = np.random.default_rng(6).integers(0, 256, (17, 33, 3), dtype=np.uint8)
    out = scores(net, image, DATASETS["camvid"])
    assert out.shape == (3, 3, 6) and out.dtype == np.float32


# ---- real Caffe ----------------------------------------------------------------------

def tool(module, *args, cwd):
    out = run_module(module, *args, cwd=cwd, env=caffe_env())
    assert out.returncode == 0, out.stderr
    return out


@pytest.mark.caffe
def test_features_equal_one_untiled_forward_of_the_front_end(tmp_path):
    voc = DATASETS["pascal_voc"]
    net, weights, layers = small_deploy(tmp_path, "pascal_voc", "frontend", (388, 396))
    assert "fc-final" in layers
    image = write_image(tmp_path / "2007_000033.jpg", (27, 20), seed=7)  # 2 x 2 tiles
    tool("tools.features", image, "--dataset", "pascal_voc", "--weights", weights, "--net", net,
         "--out", tmp_path / "scores", cwd=REPO)
    got = np.load(tmp_path / "scores" / "2007_000033.npy")
    assert got.dtype == np.float32 and got.shape == (21, 4, 3)
    run_caffe("untiled", script=JOBS, prototxt=str(net), weights=str(weights), image=str(image),
              mean=list(voc.mean), blob="fc-final", out=str(tmp_path / "full.npy"))
    full = np.load(tmp_path / "full.npy")
    assert np.abs(full).max() > 1e-3, "random weights should give non-trivial scores"
    np.testing.assert_allclose(got, full[:, :4, :3], rtol=1e-4, atol=1e-5 * np.abs(full).max())


@pytest.mark.caffe
def test_predict_writes_palette_png_with_the_released_layer_names(tmp_path):
    """A small CamVid joint deploy net (front end + Basic context, the released
    model's names) on an image that fits in one tile: the colour PNG equals
    the argmax of the zoomed untiled prob.  (Across tiles the context module's
    zero padding makes tiles differ from one pass, as in the authors' tool;
    the front-end test above covers several tiles.)"""
    camvid = DATASETS["camvid"]
    net, weights, layers = small_deploy(tmp_path, "camvid", "joint", (388, 388))
    assert {"final", "ctx_conv1_1", "ctx_fc1", "ctx_final"} <= set(layers)
    image = write_image(tmp_path / "0001TP_008550.png", (16, 13), seed=8)
    out = tool("tools.predict", image, "--dataset", "camvid", "--weights", weights, "--net", net,
               "--out", tmp_path / "pred", cwd=REPO)
    png = tmp_path / "pred" / "0001TP_008550.png"
    assert str(png) in out.stdout
    assert Image.open(png).mode == "P" and Image.open(png).size == (13, 16)
    run_caffe("untiled", script=JOBS, prototxt=str(net), weights=str(weights), image=str(image),
              mean=list(camvid.mean), blob="prob", out=str(tmp_path / "full.npy"))
    full = np.load(tmp_path / "full.npy")
    assert full.shape == (11, 2, 2)
    np.testing.assert_array_equal(read_labels(png, "camvid"), zoom(full, 8, 16, 13).argmax(axis=0))
    palette = Image.open(png).getpalette()[:33]
    assert tuple(palette[:3]) == (128, 0, 0) and tuple(palette[30:33]) == (0, 128, 192)


def test_default_nets_are_the_generated_release_names():
    for ds in DATASETS.values():
        assert (REPO / "caffe_models" / ds.name / released_deploy(ds)).exists()
        assert model_file(ds.name, released_deploy(ds)) == str(REPO / "caffe_models" / ds.name / released_deploy(ds))
