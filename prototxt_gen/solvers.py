"""Solvers for the paper's schedules (section 5; design.md section 6).

Every solver uses only fields Caffe 1.0 knows: initial weights are given to
`caffe train --weights`, never as `weights:` in the file.
"""
from dataclasses import dataclass

from .schema import pb


@dataclass(frozen=True)
class Schedule:
    base_lr: float
    max_iter: int
    drops: tuple = ()  # iterations at which the rate falls by 10x


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
}

MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
TEST_ITER, TEST_INTERVAL, DISPLAY, SNAPSHOT = 50, 100, 5, 2000


def solver(schedule, train_net, test_net, snapshot_prefix, iter_size=1, cpu=False):
    s = pb.SolverParameter(
        train_net=train_net, test_net=[test_net], test_iter=[TEST_ITER],
        test_interval=TEST_INTERVAL, base_lr=schedule.base_lr, display=DISPLAY,
        max_iter=schedule.max_iter, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
        snapshot=SNAPSHOT, snapshot_prefix=snapshot_prefix,
        solver_mode=pb.SolverParameter.CPU if cpu else pb.SolverParameter.GPU)
    if iter_size != 1:
        s.iter_size = iter_size
    if schedule.drops:
        s.lr_policy, s.gamma = "multistep", 0.1
        s.stepvalue.extend(schedule.drops)
    else:
        s.lr_policy = "fixed"
    return s
