"""CRF-RNN (Zheng et al., ICCV 2015) as the generators train it: the facts
of crfasrnn's recipe (github:torrvision/crfasrnn) that the nets and solvers
need.  The layer's own defaults (the kernel widths, the Potts start and the
iterations by phase: 5 in TRAIN, 10 in TEST) live in tools/crfrnn/meanfield.py,
which runs inside Caffe's Python and imports nothing from here; the generated
nets leave param_str empty, so those defaults apply.
"""

MODULE, LAYER = "tools.crfrnn.layer", "MultiStageMeanfield"
NAME = "crf_rnn"            # the layer's name in our nets (ours)
# lr_mult of the spatial and bilateral kernel weights and the compatibility
# matrix, as crfasrnn's training nets give them
LR_MULTS = (10000, 10000, 1000)
# crfasrnn's solver: base_lr 1e-13, "fixed", momentum 0.99, weight decay 5e-4;
# batch 1 and a loss summed over the pixels (SoftmaxWithLoss normalize: false)
BASE_LR, MOMENTUM = 1e-13, 0.99
MAX_ITER = 20000            # ours: neither the paper nor crfasrnn fixes it for these nets
STAGES = ("frontend", "joint")  # the stages whose nets see the image
