"""The (iteration, loss, lr) record of a training run as CSV.

Caffe logs the loss of an iteration before its learning rate, so a row is
written when its rate arrives (or without one, e.g. the loss Caffe prints
after the last iteration).  A resumed run keeps the rows before the
iteration it resumes from, so the CSV always covers the whole run.
"""
import csv
import math
import os

HEADER = ("iteration", "loss", "lr")


def read_rows(path):
    """The rows of an earlier run; a row it was killed in the middle of is left out."""
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, newline="", errors="replace") as f:
        for r in csv.DictReader(f):
            try:
                rows.append((int(r["iteration"]), float(r["loss"]),
                             float(r["lr"]) if r["lr"] else None))
            except (KeyError, TypeError, ValueError):
                continue
    return rows


class LossRecord:
    def __init__(self, path, resume_from=None):
        kept = [r for r in read_rows(path) if r[0] < resume_from] if resume_from else []
        self.rows = []
        self._pending = None
        self._file = open(path, "w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(HEADER)
        for row in kept:
            self._emit(row)

    def _emit(self, row):
        self.rows.append(row)
        self._csv.writerow([row[0], repr(row[1]), "" if row[2] is None else repr(row[2])])
        self._file.flush()

    def loss(self, iteration, value):
        self._flush_pending()
        self._pending = (iteration, value)

    def rate(self, iteration, value):
        if self._pending and self._pending[0] == iteration:
            self._emit(self._pending + (value,))
            self._pending = None

    def _flush_pending(self):
        if self._pending:
            self._emit(self._pending + (None,))
            self._pending = None

    def finite_rows(self):
        return [r for r in self.rows if math.isfinite(r[1])]

    def close(self):
        self._flush_pending()
        self._file.close()
