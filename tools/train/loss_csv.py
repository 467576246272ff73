"""The (iteration, loss, lr) record of a training run as CSV.

Caffe logs the loss of an iteration before its learning rate, so a row is
written when its rate arrives (or without one, e.g. the loss Caffe prints
after the last iteration).  A resumed run keeps the rows before the
iteration it resumes from, so the CSV always covers the whole run.

An earlier run's CSV is replaced only once the new run has a row to add: a
rerun that fails at once (bad weights, Caffe exits) leaves it as it was.
The first row writes the kept rows and itself to a new file that replaces
the old one whole; later rows are appended to it as they come, so the CSV
can be followed while Caffe trains.
"""
import csv
import math
import os

from prototxt_gen.cli_common import atomic_output

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
        self.path = path
        self.rows = [r for r in read_rows(path) if r[0] < resume_from] if resume_from else []
        self.added = 0  # rows of this run
        self._pending = None
        self._file = None  # open once this run has a row

    def _emit(self, row):
        self.rows.append(row)
        self.added += 1
        if self._file is None:
            self._start()
        else:
            self._write(row)

    def _start(self):
        """The kept rows and the first new one, replacing the earlier CSV whole;
        the file stays open (under its final name) for the rows to come."""
        try:
            with atomic_output(self.path) as tmp:
                self._file = open(tmp, "w", newline="")
                self._csv = csv.writer(self._file)
                self._csv.writerow(HEADER)
                for row in self.rows:
                    self._write(row)
        except BaseException:
            if self._file is not None:
                self._file.close()
                self._file = None
            raise

    def _write(self, row):
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
        if self._file is not None:
            self._file.close()
