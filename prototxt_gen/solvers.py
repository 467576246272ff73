"""Solvers for the paper's schedules (section 5; docs/design.md, Schedules).

Every solver uses only fields Caffe 1.0 knows: initial weights are given to
`caffe train --weights`, never as `weights:` in the file.
"""
from dataclasses import dataclass, replace

from .schema import pb
from .spec import crfrnn


@dataclass(frozen=True)
class Schedule:
    base_lr: float
    max_iter: int
    drops: tuple = ()  # iterations at which the rate falls by 10x
    momentum: float = 0.9


SCHEDULES = {
    # VOC-only front end: 60K iterations at 1e-3, batch 14.
    "frontend": Schedule(1e-3, 60000),
    # COCO-augmented front end, stage 1: 100K at 1e-3, then 40K at 1e-4.
    "frontend_coco_stage1": Schedule(1e-3, 140000, (100000,)),
    # ... stage 2: fine-tune on VOC only, 50K at 1e-5.
    "frontend_coco_stage2": Schedule(1e-5, 50000),
    # Context module on stored front-end scores, identity-initialized.
    "context": Schedule(1e-3, 40000),
    # Front end + context together.
    "joint": Schedule(1e-5, 40000),
    # CRF-RNN on top of a trained front end or joint net (python -m prototxt_gen
    # --crf-rnn): crfasrnn's rate and momentum.
    **{stage + "_crfrnn": Schedule(crfrnn.BASE_LR, crfrnn.MAX_ITER, momentum=crfrnn.MOMENTUM)
       for stage in crfrnn.STAGES},
}

# Learning rates that differ from the paper's in the authors' train.py defaults
# (docs/design.md, Schedules): only the front end (1e-4); context 1e-3 and joint 1e-5 agree.
LR_PRESETS = {"paper": {}, "authors-code": {"frontend": 1e-4}}

WEIGHT_DECAY = 5e-4
TEST_ITER, TEST_INTERVAL, DISPLAY, SNAPSHOT = 50, 100, 5, 2000


def schedule(name, preset="paper", max_iter=None):
    """The named schedule under a learning-rate preset, optionally cut short."""
    s = SCHEDULES[name]
    s = replace(s, base_lr=LR_PRESETS[preset].get(name, s.base_lr))
    return replace(s, max_iter=max_iter) if max_iter else s


def solver(schedule, train_net, test_net, snapshot_prefix, iter_size=1, cpu=False,
           test_iter=TEST_ITER):
    """`test_net` None: no testing at all (the authors' advice for Cityscapes
    joint training at 1396, where a test net does not fit beside the train net)."""
    s = pb.SolverParameter(
        train_net=train_net, base_lr=schedule.base_lr,
        display=min(DISPLAY, max(1, schedule.max_iter // 3)),  # a short trial logs 3+ losses
        max_iter=schedule.max_iter, momentum=schedule.momentum, weight_decay=WEIGHT_DECAY,
        snapshot=min(SNAPSHOT, schedule.max_iter), snapshot_prefix=snapshot_prefix,
        solver_mode=pb.SolverParameter.CPU if cpu else pb.SolverParameter.GPU)
    if test_net:
        s.test_net.append(test_net)
        s.test_iter.append(test_iter)
        s.test_interval = min(TEST_INTERVAL, schedule.max_iter)
    if iter_size != 1:
        s.iter_size = iter_size
    if schedule.drops:
        s.lr_policy, s.gamma = "multistep", 0.1
        s.stepvalue.extend(schedule.drops)
    else:
        s.lr_policy = "fixed"
    return s
