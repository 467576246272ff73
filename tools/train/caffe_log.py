"""Events in the log of `caffe train`.  The patterns accept BVLC Caffe 1.0 and
later (with or without the "(N iter/s, ...)" part) and NVIDIA's fork 0.17
(epochs before the loss; momentum after the learning rate)."""
import re
from collections import namedtuple

Loss = namedtuple("Loss", "iteration value")
Rate = namedtuple("Rate", "iteration value")
TestOutput = namedtuple("TestOutput", "name value")

PATTERNS = (
    (re.compile(r"\bIteration (\d+)(?: \([^)]*\))?,(?: [^,]*ep,)? loss = ([^\s,]+)"),
     lambda m: Loss(int(m.group(1)), float(m.group(2)))),
    (re.compile(r"\bIteration (\d+)(?: \([^)]*\))?, lr = ([^\s,]+)"),
     lambda m: Rate(int(m.group(1)), float(m.group(2)))),
    (re.compile(r"Test net output #\d+: (\S+) = ([^\s,]+)"),
     lambda m: TestOutput(m.group(1), float(m.group(2)))),
)


def parse(line):
    """The event a log line reports, or None."""
    for pattern, event in PATTERNS:
        m = pattern.search(line)
        if m:
            return event(m)
    return None
