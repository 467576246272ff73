"""Builds nets in real Caffe and reports the blob shapes it allocates.

Caffe aborts the whole process on a net it rejects, so each net is built in
a forked child of one process that imported Caffe once: a child that dies is
a rejected net, and the next net starts at once.

Usage: python caffe_geometry_jobs.py NETS.json  -> one JSON list: for each net
either {"blob": [N, C, H, W], ...} or null (rejected).
"""
import json
import os
import sys
import tempfile

os.environ.setdefault("GLOG_minloglevel", "3")
import caffe  # noqa: E402

caffe.set_mode_cpu()


def build(text):
    """Blob shapes of the net, or None when Caffe rejects it."""
    with tempfile.NamedTemporaryFile("w", suffix=".prototxt") as f:
        f.write(text)
        f.flush()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: build, report, and leave without cleanup
            os.close(read)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            net = caffe.Net(f.name, caffe.TEST)
            shapes = {name: list(blob.data.shape) for name, blob in net.blobs.items()}
            os.write(write, json.dumps(shapes).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
    return json.loads(data.decode()) if status == 0 and data else None


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        nets = json.load(f)
    print(json.dumps([build(text) for text in nets]))
