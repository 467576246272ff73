"""The short `tools.reproduce pascal_voc` run on a tiny synthetic VOC that the
end-to-end tests share: schedules of a few iterations and 420-pixel deploy
tiles (6 x 6 output cells, one tile per fixture image), so that it takes
minutes; every other file is what `python -m prototxt_gen` generates."""
from data_fixtures import make_fixture
from weights_fixtures import FULL, trainable_values, write_vgg_v1

CELLS = 6  # per 420-pixel deploy tile


def synthetic_voc(root):
    """(fixture, work directory, tools.reproduce arguments) under `root`."""
    fx = make_fixture(root / "raw")
    work = root / "run"
    vgg = write_vgg_v1(root / "VGG_ILSVRC_16_layers.caffemodel", FULL, trainable_values)
    command = ["pascal_voc", "--work", work, "--vgg", vgg, "--any-vgg", "--voc", fx.voc, "--sbd", fx.sbd,
               "--crop", 388, "--batch", 1, "--iter-size", 1, "--context-crop", CELLS,
               "--context-batch", 2, "--cpu", "--deploy-size", 420, "--test-iter", 1,
               "--max-iter", "frontend=3", "--max-iter", "context=60", "--max-iter", "joint=2",
               "--joint"]
    return fx, work, command


def statuses(summary):
    """{stage: status} from the summary table tools.reproduce prints last."""
    table = summary.split("\nsummary")[1].split("\n\n")[0]
    return dict(line.split()[:2] for line in table.splitlines()[2:])


# Each urban data set in its official layout (importer_fixtures), small images
# so that one 420-pixel deploy tile covers each, run as synthetic_voc runs.
URBAN_SIZE = (36, 44)


def synthetic_urban(root, dataset, make_root, joint=False):
    """(data set root, work directory, tools.reproduce arguments) under `root`."""
    data = make_root(root / "raw", size=URBAN_SIZE)
    work = root / "run"
    vgg = write_vgg_v1(root / "VGG_ILSVRC_16_layers.caffemodel", FULL, trainable_values)
    command = [dataset, "--work", work, "--vgg", vgg, "--any-vgg", "--root", data,
               "--crop", 388, "--batch", 1, "--iter-size", 1, "--context-crop", CELLS,
               "--context-batch", 2, "--cpu", "--deploy-size", 420, "--test-iter", 1,
               "--max-iter", "frontend=2", "--max-iter", "context=20", "--max-iter", "joint=2"]
    return data, work, command + ["--joint"] * joint
