# NVIDIA's Caffe 0.17 image (Python 3.6 inside) plus the Python packages that
# our predict / features / evaluate tools import, at the last releases with
# Python 3.6 wheels (this set imports and runs our tools on 3.6).  Training
# needs none of this: it runs the image's own `caffe train`.
#   docker build -t dilation-caffe:nvcaffe-20.03 -f docker/nvcaffe.Dockerfile docker
# docker/nvidia_caffe.sh does this on first use.
FROM nvcr.io/nvidia/caffe:20.03-py3
# pip 21 (the last for Python 3.6) knows the manylinux2014 / abi3 wheels these come as.
RUN python3 -m pip install --no-cache-dir --upgrade "pip<22" \
 && python3 -m pip install --no-cache-dir dataclasses "Pillow<9" "jinja2<3.1" "tqdm<4.65" \
        "opencv-python-headless<4.7"
