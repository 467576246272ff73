"""Runs one solver to the end: resume or start, follow Caffe's log, stop on
divergence, and leave the log, the loss CSV and the loss curve beside the
snapshots (<snapshot dir>/<stage>.log, <stage>_loss.csv, <stage>_loss.png).
A run that logs no loss (Caffe fails at once) leaves an earlier run's CSV
and curve as they were.
"""
import datetime
import math
import os
import re
import signal
import subprocess
import sys
import sysconfig
from collections import deque
from dataclasses import dataclass

from tqdm import tqdm

from prototxt_gen.cli_common import UserError
from prototxt_gen.spec import paths
from tools.backend import gpu_problem

from . import caffe_log
from .command import caffe_args, docker_args, mounts
from .loss_csv import LossRecord
from .plot import plot_losses

DONE, FAILED, DIVERGED, INTERRUPTED = 0, 1, 3, 130
# What Caffe says when a snapshot's weights or history do not fit the net it resumes.
OTHER_NET = ("Cannot copy param", "Incompatible number of blobs", "Incorrect length of history")
GLOG_ERROR = re.compile(r"[EF]\d{4,8} ")  # [EF]mmdd or [EF]yyyymmdd


@dataclass(frozen=True)
class Divergence:
    """Loss is NaN/inf, or above factor x ln(C) once `grace` iterations have passed
    (a healthy start is near ln(C); docs/design.md, Front end)."""
    classes: int = None
    factor: float = 3.0
    grace: int = 20

    @property
    def limit(self):
        return self.factor * math.log(self.classes) if self.classes and self.classes > 1 else None

    def diverged(self, iteration, loss):
        if not math.isfinite(loss):
            return True
        return self.limit is not None and iteration >= self.grace and loss > self.limit


@dataclass(frozen=True)
class Launch:
    """How Caffe is started: a local binary, or `caffe` inside a Docker image."""
    caffe: str = "caffe"
    image: str = None
    gpu: str = None  # caffe's --gpu: N, 0,1,... or all; None: the CPU
    extra_mounts: tuple = ()


def cpu_fix(solvers):
    """How to train without a GPU: solvers in GPU mode must be regenerated too."""
    if any(solver.gpu_mode() for solver in solvers):
        return ("leave out --gpu and regenerate the solvers for the CPU with "
                "python -m prototxt_gen --cpu")
    return "leave out --gpu to train on the CPU"


def python_layer_path(pythonpath=""):
    """PYTHONPATH for the Python that Caffe embeds to run a Python layer
    (CRF-RNN's, tools/crfrnn): it imports the layer by module name and may lack
    NumPy and SciPy, so the repository root and this Python's site-packages come
    first.  The standard library comes before site-packages, as on any sys.path:
    a backport there (the `typing` that cityscapesscripts requires) would
    otherwise shadow the standard module and break NumPy's import."""
    where = sysconfig.get_paths()
    return os.pathsep.join([paths.REPO, where["stdlib"], where["purelib"]]
                           + [p for p in pythonpath.split(os.pathsep) if p])


def caffe_env(solver):
    """`caffe train`'s environment: progress at INFO level, and for a net with
    a Python layer, python_layer_path()."""
    env = dict(os.environ, GLOG_logtostderr="1", GLOG_minloglevel="0")
    if any(layer.type == "Python" for net in solver.nets() for layer in net.layer):
        env["PYTHONPATH"] = python_layer_path(env.get("PYTHONPATH", ""))
    return env


def say(message):
    tqdm.write("[tools.train] %s" % message, file=sys.stderr)


def command(solver, launch, weights, snapshot):
    inner = caffe_args(launch.caffe if not launch.image else "caffe", solver.path,
                       weights, snapshot, launch.gpu)
    if not launch.image:
        return inner
    paths = ([solver.path, os.path.dirname(solver.prefix)] + solver.net_paths()
             + solver.lmdb_sources() + list(weights) + list(launch.extra_mounts))
    return docker_args(launch.image, inner, solver.cwd, mounts(solver.cwd, paths),
                       gpu=launch.gpu is not None)


def set_aside(snapshots, after):
    """Renames snapshots newer than iteration `after` to *.diverged, so that a
    rerun resumes from the last good one.  Returns the renamed paths."""
    moved = []
    for snap in snapshots:
        if snap.iteration > after:
            for path in (snap.state, snap.weights):
                if os.path.exists(path):
                    os.replace(path, path + ".diverged")
                    moved.append(path)
    return moved


class Run:
    """One `caffe train` process and what its log says."""

    def __init__(self, solver, launch, divergence, weights=()):
        self.solver, self.launch, self.divergence = solver, launch, divergence
        self.weights = list(weights)
        base = solver.prefix
        self.log_path, self.csv_path, self.png_path = base + ".log", base + "_loss.csv", base + "_loss.png"
        self.last_good = None  # newest iteration with a healthy loss
        self.bad = None  # the Loss event that stopped the run
        self.resumed = None  # the snapshot this run resumes, if any
        self.status = {}  # shown after the progress bar
        self.tail = deque(maxlen=6)  # Caffe's last words, for a failure message
        self.errors = []  # glog ERROR/FATAL lines (a failed CHECK says why here)

    def start_point(self):
        latest = self.solver.latest(warn=lambda message: say("warning: " + message))
        if latest:
            say("resuming %s from iteration %d (%s)" % (self.solver.name, latest.iteration, latest.state))
            if self.weights:
                say("--weights ignored: a resumed run continues from its own snapshot")
        return latest

    def execute(self):
        os.makedirs(os.path.dirname(self.solver.prefix), exist_ok=True)
        resume = self.resumed = self.start_point()
        start = resume.iteration if resume else 0
        self.last_good = start
        cmd = command(self.solver, self.launch, [] if resume else self.weights,
                      resume.state if resume else None)
        record = LossRecord(self.csv_path, resume_from=start)
        bar = tqdm(total=self.solver.max_iter, initial=start, unit="it", dynamic_ncols=True,
                   desc=self.solver.name, file=sys.stderr)
        env = caffe_env(self.solver)
        interrupts = []
        with open(self.log_path, "a") as log:
            log.write("==== %s  %s\n" % (datetime.datetime.now().isoformat(timespec="seconds"),
                                       " ".join(cmd)))
            try:
                proc = subprocess.Popen(cmd, cwd=self.solver.cwd, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, bufsize=1)
            except OSError as e:
                raise UserError("cannot run %s: %s" % (cmd[0], e.strerror or e))
            # Ctrl-C, or SIGTERM from a scheduler or `kill`, is handed to Caffe as
            # SIGINT, on which it snapshots and stops; we keep reading its log to the
            # end instead of raising KeyboardInterrupt mid-line.
            forward = lambda *_: (interrupts.append(True), proc.send_signal(signal.SIGINT))  # noqa: E731
            previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                for line in proc.stdout:
                    log.write(line)
                    self.tail.append(line.rstrip())
                    if GLOG_ERROR.match(line):
                        self.errors.append(line.rstrip())
                    if self.follow(caffe_log.parse(line), record, bar):
                        proc.terminate()
                        break
                code = proc.wait()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        interrupted = bool(interrupts)
        bar.close()
        record.close()
        if record.added:  # a run that logged no loss leaves the earlier curve as it was
            plot_losses(record.finite_rows(), self.png_path, self.solver.name)
        return self.outcome(code, interrupted)

    def follow(self, event, record, bar):
        """Books one log event; True when training must stop."""
        if isinstance(event, caffe_log.Loss):
            record.loss(event.iteration, event.value)
            bar.update(max(0, event.iteration - bar.n))
            self.status["loss"] = "%.4g" % event.value
            if self.divergence.diverged(event.iteration, event.value):
                self.bad = event
                return True
            self.last_good = event.iteration
        elif isinstance(event, caffe_log.Rate):
            record.rate(event.iteration, event.value)
            self.status["lr"] = "%g" % event.value
        elif isinstance(event, caffe_log.TestOutput):
            self.status["test_" + event.name] = "%.4g" % event.value
        bar.set_postfix(self.status, refresh=False)
        return False

    def outcome(self, code, interrupted):
        latest = self.solver.latest()
        if self.bad:
            moved = set_aside(self.solver.snapshots(), self.last_good)
            good = self.solver.latest()
            limit = self.divergence.limit
            over = (" > %.3g = %g x ln %d" % (limit, self.divergence.factor, self.divergence.classes)
                    if math.isfinite(self.bad.value) else "")
            say("training diverged at iteration %d: loss = %g%s; Caffe was stopped"
                % (self.bad.iteration, self.bad.value, over))
            if moved:
                say("renamed to *.diverged: %s" % ", ".join(moved))
            say(("last good snapshot: %s (iteration %d); rerunning resumes from it"
                 % (good.weights, good.iteration)) if good else
                "no snapshot was taken before it; a rerun starts from the beginning")
            say("lower base_lr in %s or check the data, then rerun" % self.solver.path)
            return DIVERGED
        if interrupted:
            say("interrupted%s; rerun the same command to resume" % (
                "; newest snapshot: iteration %d" % latest.iteration if latest else ""))
            return INTERRUPTED
        if code != 0 and self.launch.gpu is not None:
            # In Docker the GPU cannot be tried before: Caffe's (or Docker's) words say it.
            problem = gpu_problem("\n".join(self.errors + list(self.tail)), self.launch.gpu,
                                  cpu_fix([self.solver]))
            if problem:
                raise UserError("%s (full log: %s)" % (problem, self.log_path))
        other = code != 0 and self.resumed and next(
            (line for line in self.errors if any(said in line for said in OTHER_NET)), None)
        if other:
            raise UserError("%s: the snapshot it resumes, %s, is of another net (Caffe: %s); "
                            "move the solver's snapshots aside, or change its snapshot_prefix, "
                            "to start afresh (full log: %s)" % (
                                os.path.relpath(self.solver.path), self.resumed.state,
                                other.split("] ", 1)[-1], self.log_path))
        if code != 0:
            say("caffe failed (exit code %d); full log: %s; it says:\n  %s" % (
                code, self.log_path, "\n  ".join(self.errors[-3:] or self.tail)))
            return FAILED
        if not self.solver.finished():
            say("caffe ended without error but left no snapshot of iteration %d; see %s"
                % (self.solver.max_iter, self.log_path))
            return FAILED
        say("done: %s (log %s, loss curve %s)" % (latest.weights, self.log_path, self.png_path))
        return DONE
