"""Command line: `python -m prototxt_gen [options]` writes the nets and solvers;
`python -m prototxt_gen report NET.prototxt` prints sizes and receptive fields.

Bad values end in one line naming the fix and exit code 2, never a traceback.
"""
import argparse
import sys

from .batches import note
from .cli_common import (Parser, UserError, crop_size, dataset, main as run_main, positive, stage,
                         stage_iterations, tile_size)
from .generate import Options, all_files, write
from .report import report
from .solvers import LR_PRESETS, TEST_ITER
from .spec.datasets import DATASETS
from .spec import paths

DESCRIPTION = """\
Writes the Caffe nets (train / test / deploy) and solvers of Yu & Koltun,
"Multi-Scale Context Aggregation by Dilated Convolutions", for vanilla BVLC
Caffe: the front end, the context module and the joint net of each data set,
into OUT/<data set>/.  Deploy nets carry the released models' file and layer
names (e.g. dilation8_pascal_voc_deploy.prototxt), so their .caffemodel loads.

Paths inside solvers and nets are relative to the directory `caffe train`
runs in (the repository root unless you move things).

Also: `python -m prototxt_gen report NET.prototxt` prints every layer's output
size and receptive field (and Table 1's row for a context module).
"""

EPILOG = """\
examples:
  python -m prototxt_gen
  python -m prototxt_gen --dataset pascal_voc --stage frontend --crop 388 --batch 2 --iter-size 7
  python -m prototxt_gen --gpus 2 --out caffe_models_2gpu
  python -m prototxt_gen --dataset pascal_voc --crf-rnn --out caffe_models_crfrnn
  python -m prototxt_gen report caffe_models/pascal_voc/dilation8_pascal_voc_deploy.prototxt
"""


def generate_parser():
    p = Parser(prog="python -m prototxt_gen", description=DESCRIPTION, epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", type=dataset, action="append", metavar="NAME",
                   help="data set to write (repeatable): %s; default: all" % ", ".join(DATASETS))
    p.add_argument("--stage", type=stage, action="append", metavar="STAGE",
                   help="stage to write (repeatable): frontend (incl. the COCO schedule for VOC), "
                        "context, joint (incl. the released deploy net); default: all")
    p.add_argument("--out", default=paths.MODELS, metavar="DIR",
                   help="output directory (default: %(default)s)")
    p.add_argument("--lmdb-root", default=paths.LMDB_ROOT, metavar="DIR",
                   help="LMDBs are read from DIR/<data set>/{train,val,train_coco,context_train,"
                        "context_val}_lmdb (default: %(default)s)")
    p.add_argument("--crop", type=crop_size, metavar="N",
                   help="front-end/joint training crop; (N - 372) %% 8 == 0; "
                        "default per data set (VOC 500)")
    p.add_argument("--batch", type=positive, metavar="N",
                   help="front-end/joint batch per iteration and GPU (default per data set "
                        "and --gpus, VOC 7)")
    p.add_argument("--iter-size", type=positive, metavar="N",
                   help="batches accumulated per update (default: what keeps batch x GPUs x "
                        "iter-size at the recipe's mini-batch, VOC 2 -> 14)")
    p.add_argument("--gpus", type=positive, default=1, metavar="N",
                   help="solvers and train nets for `caffe train --gpu 0,1,...` on N GPUs: "
                        "each GPU runs the train net's batch, so the per-GPU batch and "
                        "iter-size shrink to keep the recipe's effective batch (VOC 14: 7 x 2 "
                        "on 1 GPU, 7 x 1 on 2; no split on 3: choose another N or your own "
                        "--batch and --iter-size); test nets run on the first GPU only "
                        "(default: %(default)s)")
    p.add_argument("--context-crop", type=positive, metavar="N",
                   help="context training crop in front-end output cells (default per data set)")
    p.add_argument("--context-batch", type=positive, metavar="N",
                   help="context training batch per GPU (default per data set and --gpus, "
                        "VOC 60)")
    p.add_argument("--cpu", action="store_true", help="solvers run on the CPU (default: GPU)")
    p.add_argument("--up", action="store_true",
                   help="deploy nets end in a fixed bilinear x8 Deconvolution (zoom in the net)")
    p.add_argument("--context-padding", choices=("same", "buffer"),
                   help="context convolutions of EVERY net (train, test, deploy): same (each 3x3 "
                        "conv pads by its dilation) or buffer (the first pads by the receptive "
                        "field margin, 33 for 8 layers; no other pads); default: the released "
                        "model's (VOC buffer, the others same)")
    p.add_argument("--train-upsampled", action="store_true",
                   help="front-end and joint nets compute the loss after the fixed bilinear x8 "
                        "Deconvolution with labels at stride 1 (the authors' train.py --up), and "
                        "deploy with it; always so for Cityscapes, as its released model")
    p.add_argument("--no-test-net", action="store_true",
                   help="solvers without a test net (the authors' advice for Cityscapes joint "
                        "training at 1396, where the test net does not fit in GPU memory)")
    p.add_argument("--lr-preset", choices=sorted(LR_PRESETS), default="paper",
                   help="paper: front end 1e-3 (section 5); authors-code: front end 1e-4 "
                        "(their train.py); context 1e-3 and joint 1e-5 in both "
                        "(default: %(default)s)")
    p.add_argument("--max-iter", type=stage_iterations, action="append", default=[],
                   metavar="STAGE=N",
                   help="iterations of a stage's solvers (repeatable), e.g. context=60 for a "
                        "short trial; snapshot and test intervals shrink to fit")
    p.add_argument("--test-iter", type=positive, default=TEST_ITER, metavar="N",
                   help="test batches per test pass (default: %(default)s)")
    p.add_argument("--deploy-size", type=tile_size, metavar="N|HxW",
                   help="deploy tile in pixels (default: the released model's, VOC 900)")
    p.add_argument("--context-width", choices=("basic", "large"),
                   help="context module of every net: basic (C channels) or large (Table 1's "
                        "2C ... 32C); default: the released model's (VOC large, the others basic)")
    p.add_argument("--snapshot-root", default=paths.SNAPSHOT_ROOT, metavar="DIR",
                   help="solvers snapshot to DIR/<data set>/<stage> (default: %(default)s)")
    p.add_argument("--crf-rnn", action="store_true",
                   help="also CRF-RNN (Zheng et al. 2015) on top of the front end and the joint "
                        "net: <stage>_crfrnn_{train,test,deploy}.prototxt and its solver; the "
                        "scores upsampled x8, the image cut to their region, the mean-field "
                        "layer (tools/crfrnn; `caffe train` needs the repository root on "
                        "PYTHONPATH, which tools.train sets) and the loss at stride 1")
    return p


def report_parser():
    p = Parser(prog="python -m prototxt_gen report",
               description="Prints each layer's output size and receptive field of a Caffe net; "
                           "for a context module also the paper's Table 1 row.")
    p.add_argument("net", metavar="NET.prototxt")
    return p


def generate(args):
    opts = Options(datasets=tuple(args.dataset or DATASETS),
                   stages=tuple(args.stage or paths.STAGES), out=args.out,
                   lmdb_root=args.lmdb_root, crop=args.crop, batch=args.batch,
                   iter_size=args.iter_size, gpus=args.gpus, context_crop=args.context_crop,
                   context_batch=args.context_batch, cpu=args.cpu, upsample=args.up,
                   context_padding=args.context_padding, train_upsampled=args.train_upsampled,
                   no_test_net=args.no_test_net, lr_preset=args.lr_preset,
                   max_iter=tuple(args.max_iter), test_iter=args.test_iter,
                   deploy_size=args.deploy_size, context_width=args.context_width,
                   snapshot_root=args.snapshot_root, crf_rnn=args.crf_rnn)
    if opts.cpu and opts.gpus > 1:
        raise UserError("--cpu and --gpus %d contradict each other: Caffe trains on several "
                        "GPUs only; drop one of them" % opts.gpus)
    files = all_files(opts)
    line = note(opts)
    if line:
        print(line)
    written = write(files)
    print("wrote %d files under %s/ (%s)" % (len(written), opts.out, ", ".join(opts.datasets)))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        args = report_parser().parse_args(argv[1:])
        return run_main("python -m prototxt_gen report", lambda: print(report(args.net)) or 0)
    return run_main("python -m prototxt_gen", generate, generate_parser().parse_args(argv))
