"""Each stage's training batch on N GPUs (README, Training on several GPUs).

BVLC Caffe's `caffe train --gpu 0,1,...` (NCCL) runs one solver per GPU, each
over its train net's own batch, and averages their gradients, so one update
sees batch x N x iter_size samples.  To keep the recipe's effective batch (its
batch x iter_size on one GPU), the per-GPU batch shrinks, never above the
one-GPU batch (GPU memory), with the fewest accumulated passes.  The user's
--batch / --iter-size / --context-batch are kept as given.
"""
from dataclasses import dataclass

from .cli_common import UserError
from .spec.datasets import DATASETS, TRAIN_BATCHES


@dataclass(frozen=True)
class Split:
    """One TrainBatch of one data set on `gpus` GPUs."""
    group: object       # the TrainBatch
    stages: tuple       # the chosen stages that train with it
    batch: int
    iter_size: int
    gpus: int
    recipe: int         # the effective batch of the data set's recipe
    given: bool         # the user chose its batch or iter_size

    @property
    def effective(self):
        return self.batch * self.gpus * self.iter_size

    @property
    def name(self):
        return "/".join(self.stages)

    def fields(self):
        """{Dataset field: value}, for spec.overridden."""
        values = {self.group.size: self.batch}
        if self.group.passes:
            values[self.group.passes] = self.iter_size
        return values

    def options(self):
        """The command-line options that choose this split."""
        values = self.fields()
        return " ".join("--%s %d" % (field.replace("_", "-"), values[field]) for field in values)


def split(effective, gpus, most, batch=None, iter_size=None):
    """(batch, iter_size) per GPU whose batch x gpus x iter_size is closest to
    `effective`, equal where whole numbers allow: a given batch or iter_size is
    kept; otherwise the fewest passes, then the largest batch up to `most`."""
    sizes = [batch] if batch else range(1, most + 1)
    passes = [iter_size] if iter_size else range(1, effective + 1)
    return min(((b, k) for b in sizes for k in passes),
               key=lambda bk: (abs(bk[0] * gpus * bk[1] - effective), bk[1], -bk[0]))


def _split(ds, group, stages, opts):
    most, passes = ds.train_batch(stages[0])
    chosen = {field: getattr(opts, field) for field in (group.size, group.passes) if field}
    batch, iter_size = split(most * passes, opts.gpus, most, chosen[group.size],
                             chosen.get(group.passes, 1))
    return Split(group, stages, batch, iter_size, opts.gpus, most * passes,
                 any(value is not None for value in chosen.values()))


def _splits(ds, opts):
    """One Split per TrainBatch of the chosen stages, possible or not."""
    splits = []
    for group in TRAIN_BATCHES:
        stages = tuple(s for s in opts.stages if s in group.stages)
        if stages:
            splits.append(_split(ds, group, stages, opts))
    return splits


def _no_split(ds, opts, wrong):
    """One line: what cannot be kept, the nearest GPU counts that keep every
    chosen data set's, and the options that accept the closest other batch."""
    gpus = opts.gpus
    recipes = [s.recipe for name in opts.datasets for s in _splits(DATASETS[name], opts)
               if not s.given] + [s.recipe for s in wrong]
    # N GPUs keep an effective batch exactly where N divides it
    fits = [n for n in range(1, min(recipes) + 1) if all(r % n == 0 for r in recipes)]
    nearest = [n for n in (max((n for n in fits if n < gpus), default=None),
                           min((n for n in fits if n > gpus), default=None)) if n]
    return "--gpus %d cannot keep %s's effective batch (batch x %d GPUs x iter_size) of %s: " \
           "choose --gpus %s, or accept %s with --dataset %s %s" % (
               gpus, ds.name, gpus, " and ".join("%s %d" % (s.name, s.recipe) for s in wrong),
               " or ".join(map(str, nearest)),
               " and ".join("%s %d" % (s.name, s.effective) for s in wrong), ds.name,
               " ".join(s.options() for s in wrong))


def train_batches(ds, opts):
    """The Split of each TrainBatch the chosen stages of `ds` (a recipe's row)
    train with on opts.gpus GPUs; a UserError where the recipe's effective batch
    has no whole-number split and the user chose no other."""
    splits = _splits(ds, opts)
    wrong = [s for s in splits if s.effective != s.recipe and not s.given]
    if wrong:
        raise UserError(_no_split(ds, opts, wrong))
    return splits


def note(opts):
    """One line on the effective batches that the user's own batch options give
    on several GPUs, or None."""
    given = ["%s %s %d x %d x %d = %d (recipe %d)" % (
        name, s.name, s.batch, s.gpus, s.iter_size, s.effective, s.recipe)
        for name in opts.datasets for s in train_batches(DATASETS[name], opts) if s.given]
    if opts.gpus > 1 and given:
        return "note: effective batch (per-GPU batch x GPUs x iter_size): " + "; ".join(given)
    return None
