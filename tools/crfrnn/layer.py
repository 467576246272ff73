"""crfasrnn's MultiStageMeanfield layer as a stock Caffe Python layer.

    layer { name: "crf" type: "Python" bottom: "unary" bottom: "data" top: "pred"
      param { lr_mult: ... } param { lr_mult: ... } param { lr_mult: ... }
      python_param { module: "tools.crfrnn.layer" layer: "MultiStageMeanfield"
                     param_str: '{"iterations": 5}' } }

Bottoms: the unaries (scores, N x C x H x W) and the image at the same size
(N x 3 x H x W, as the data layers give it: BGR, mean subtracted).  Top: the
scores after the last mean-field iteration, before the softmax.  Blobs, each
1 x 1 x C x C as crfasrnn's (so its caffemodels' blobs fit by layer name): spatial
and bilateral kernel weights and the compatibility matrix.  param_str is a
JSON object with any of meanfield.Params' fields; iterations default to 5 in
TRAIN and 10 in TEST.  The image gets no gradient (zero where Caffe asks).

Caffe imports this module by name, in the Python it embeds (the one it was
built against, not a virtual environment's): that Python must find this
module, NumPy and SciPy, so PYTHONPATH names the repository root (and the
site-packages of an environment that holds NumPy and SciPy).
"""
import caffe

from tools.crfrnn import meanfield


class MultiStageMeanfield(caffe.Layer):

    def setup(self, bottom, top):
        if len(bottom) != 2 or len(top) != 1:
            raise ValueError("MultiStageMeanfield takes two bottoms (unaries, image) and "
                             "gives one top, not %d and %d" % (len(bottom), len(top)))
        self.params = meanfield.parse_params(self.param_str, self.phase == caffe.TRAIN)
        if not len(self.blobs):  # a caffemodel's blobs are copied in after setup
            classes = bottom[0].data.shape[1]
            for init in meanfield.initial_blobs(classes, self.params):
                self.blobs.add_blob(1, 1, classes, classes)
                self.blobs[len(self.blobs) - 1].data[0, 0] = init
        self.spatial = None
        self.fields = []

    def reshape(self, bottom, top):
        shape = bottom[0].data.shape
        if len(shape) != 4 or bottom[1].data.shape != (shape[0], 3) + shape[2:]:
            raise ValueError("MultiStageMeanfield: the image must be N x 3 x H x W beside "
                             "unaries N x C x H x W, not %s beside %s"
                             % (bottom[1].data.shape, shape))
        if self.spatial is None or self.spatial[0] != shape[2:]:
            self.spatial = shape[2:], meanfield.spatial_kernel(shape[2], shape[3], self.params)
        top[0].reshape(*shape)

    def forward(self, bottom, top):
        weights = [blob.data[0, 0] for blob in self.blobs]
        self.fields = []
        for n in range(bottom[0].data.shape[0]):
            field = meanfield.MeanField(self.spatial[1],
                                        meanfield.bilateral_kernel(bottom[1].data[n], self.params))
            top[0].data[n] = field.forward(bottom[0].data[n], weights, self.params.iterations)
            self.fields.append(field)

    def backward(self, top, propagate_down, bottom):
        for n, field in enumerate(self.fields):
            unary, grads = field.backward(top[0].diff[n])
            if propagate_down[0]:
                bottom[0].diff[n] = unary
            for blob, grad in zip(self.blobs, grads):
                blob.diff[0, 0] += grad  # Caffe accumulates parameter gradients
        if propagate_down[1]:
            bottom[1].diff[...] = 0
