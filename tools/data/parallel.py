"""Per-sample work over all cores, in input order.

Threads, not processes: the heavy work (JPEG/PNG codecs, padding) runs in
OpenCV and Pillow, which release the GIL, while records of several MB would
otherwise be pickled from process to process (measured: half the rate).
"""
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor


def ordered_map(fn, items, workers=None):
    """Yields (item, future of fn(item)) in input order, with at most 4 x workers
    results held in memory however slow the consumer is."""
    workers = workers or os.cpu_count()
    with ThreadPoolExecutor(workers) as pool:
        pending = deque()
        try:
            for item in items:
                pending.append((item, pool.submit(fn, item)))
                if len(pending) >= 4 * workers:
                    yield pending.popleft()
            while pending:
                yield pending.popleft()
        finally:  # a consumer that stops (error, Ctrl-C) does not wait for work it will not use
            for _, future in pending:
                future.cancel()
