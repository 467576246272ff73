"""The ImageNet VGG-16 the front end starts from (paper section 4): the 16-layer
model of Simonyan & Zisserman (arXiv:1409.1556, configuration D), as the VGG
group at Oxford published it for Caffe in the legacy V1 format.

Sources:
- URL: the Caffe Model Zoo entry, gist ksimonyan/211839e770f7b538e2d8
  (its `caffemodel_url`), linked from the VGG page
  http://www.robots.ox.ac.uk/~vgg/research/very_deep/.  The gist lists no
  checksum.
- SHA256 and SIZE: Intel's Open Model Zoo, models/public/vgg16/model.yml
  (openvinotoolkit/open_model_zoo, the same at commits 36d19055 of 2019 and
  00a4830e of 2023), whose downloader checks the file from this URL against
  them.  The size agrees with `ls -l` listings and protobuf's "total number
  of bytes read was 553432081" in public Caffe logs.
"""
FILE = "VGG_ILSVRC_16_layers.caffemodel"
URL = "http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/VGG_ILSVRC_16_layers.caffemodel"
MODEL_ZOO = "https://gist.github.com/ksimonyan/211839e770f7b538e2d8"
SIZE = 553432081  # bytes (528 MiB)
SHA256 = "a6196bc498e45ea4cb2637114ae8db9410cf1556fd60a55ae93272371beba197"
