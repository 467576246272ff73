"""The `caffe train` command line, run locally or inside a Docker image.

In Docker every needed host directory is mounted at its own path, so the
paths in the solver, the nets and on the command line mean the same thing
inside the container; LMDBs behind symlinks are mounted at their real path.
"""
import os
import shutil
import subprocess

# This project's images (docker/README.md) and how to build each.
OUR_IMAGES = {"dilation-caffe:cpu": "docker/build.sh cpu",
              "dilation-caffe:cuda11.8": "docker/build.sh cuda"}


def caffe_args(caffe, solver, weights=(), snapshot=None, gpu=None):
    """Caffe refuses --weights together with --snapshot; a resume wins.  `gpu`
    is caffe's --gpu text: N, 0,1,... or all."""
    args = [caffe, "train", "--solver=%s" % solver]
    if snapshot:
        args.append("--snapshot=%s" % snapshot)
    elif weights:
        args.append("--weights=%s" % ",".join(weights))
    if gpu is not None:
        args.append("--gpu=%s" % gpu)
    return args


def local_caffe():
    """`caffe` on PATH, else the build of $CAFFE_ROOT, else None."""
    found = shutil.which("caffe")
    if found:
        return found
    root = os.environ.get("CAFFE_ROOT")
    candidate = root and os.path.join(root, "build", "tools", "caffe")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def mounts(cwd, paths):
    """Host directories to mount so that `paths` (files or directories, seen
    from `cwd`) resolve inside the container; nested ones are dropped."""
    wanted = [os.path.abspath(cwd)]
    for path in paths:
        real = os.path.realpath(os.path.join(cwd, path))
        wanted.append(real if os.path.isdir(real) else os.path.dirname(real))
    kept = []
    for folder in sorted(set(wanted), key=len):
        if not any(_inside(folder, k) for k in kept):
            kept.append(folder)
    return sorted(kept)


def docker_args(image, command, cwd, volumes, gpu=False, uid=None, gid=None):
    """`docker run` that runs `command` in `cwd` as the calling user, on all GPUs
    only when `gpu` (Docker refuses `--gpus` on a machine without NVIDIA's
    container toolkit, so a CPU run must not ask).  `--init` lets Ctrl-C reach
    Caffe (which snapshots and stops)."""
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    args = (["docker", "run", "--rm", "--init"] + (["--gpus", "all"] if gpu else [])
            + ["--user", "%d:%d" % (uid, gid), "-e", "GLOG_logtostderr=1", "-e", "GLOG_minloglevel=0"])
    for folder in volumes:
        args += ["-v", "%s:%s" % (folder, folder)]
    return args + ["-w", os.path.abspath(cwd), image] + list(command)


def image_problem(image):
    """Why `image` cannot run yet, or None: no Docker, no daemon, or one of our
    images not built (a public one is pulled by `docker run` itself)."""
    try:
        info = subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return "no docker command: install Docker (on Debian: apt-get install docker.io)"
    if info.returncode:
        return ("no Docker Engine answers: start it (dockerd, or systemctl start docker), or add "
                "yourself to the docker group")
    if image in OUR_IMAGES and subprocess.run(["docker", "image", "inspect", image],
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL).returncode:
        return "image %s is not built yet: run %s (once)" % (image, OUR_IMAGES[image])
    return None
