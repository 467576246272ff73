"""Caffe nets and solvers of Yu & Koltun, "Multi-Scale Context Aggregation by
Dilated Convolutions" (ICLR 2016), for vanilla BVLC Caffe.

`python -m prototxt_gen` writes them all into caffe_models/.
"""
