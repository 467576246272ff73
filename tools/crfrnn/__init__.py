"""CRF-RNN (Zheng et al., ICCV 2015) on stock BVLC Caffe: crfasrnn's
MultiStageMeanfield layer as a Caffe Python layer with the same semantics.

- lattice.py: the permutohedral lattice as sparse matrices;
- meanfield.py: mean-field forward and backward on NumPy arrays (also for
  inference without Caffe);
- layer.py: the Caffe Python layer, `python_param { module: "tools.crfrnn.layer"
  layer: "MultiStageMeanfield" }`; Caffe imports it by that name, so the
  repository root must be on PYTHONPATH where `caffe train` runs;
- trained.py: a caffemodel's trained layer applied at inference (`--crf-rnn`
  of tools.predict and tools.evaluate).

The first three run inside Caffe's own Python (3.6 in NVIDIA's image) and use
NumPy and SciPy only; trained.py also reads caffemodels with our schema.
"""
