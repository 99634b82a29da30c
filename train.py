r"""Train a classifier with random-label prediction heads.

    python train.py --flagfile=configs/quickstart.cfg
    python train.py --flagfile=configs/cifar100_wrn16_4.cfg --data_dir=~/tfds

Kept short on purpose: it parses and checks flags, writes them to the run
directory, and calls `keras_rlr.experiment.train_and_evaluate`, where all the
logic lives (importable and tested). Run it from the repository root: flagfiles
include each other by paths relative to it. Later flags override earlier ones,
so `--flagfile=configs/x.cfg --epochs=3` shortens any config.

Paper: "Learned Random Label Predictions as a Neural Network Complexity
Metric"; the defaults below are its setting (README, "The method").
"""

import dataclasses
import os
import sys

from absl import app, flags

# TF's C++ start-up chatter (oneDNN, CUDA probing) hides the progress bar.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS

# -- Data ------------------------------------------------------------------------
flags.DEFINE_string(
    "dataset",
    "cifar100",
    "A TFDS image dataset with train/test splits (cifar100, cifar10, mnist, ...), "
    "'digits' (8x8 digits shipped with scikit-learn, no download) or 'synthetic' "
    "(CIFAR-shaped images with linearly learnable labels).",
)
flags.DEFINE_string(
    "data_dir", None, "TFDS data directory holding the prepared dataset."
)
flags.DEFINE_integer(
    "max_train_examples",
    0,
    "Keep only the first N training examples (0: all). For quick runs.",
    lower_bound=0,
)
flags.DEFINE_bool(
    "augment",
    True,
    "Pad by 1/8 of the image size and crop back at random, and flip "
    "horizontally where the dataset allows it (not for digits or mnist).",
)

# -- Model -----------------------------------------------------------------------
flags.DEFINE_enum(
    "model",
    "wide_resnet",
    ["wide_resnet", "small_cnn", "vgg16"],
    "Feature extractor: a WideResNet (--wrn_depth, --wrn_width), the small CNN "
    "(--cnn_width, --cnn_feature_dim), or the CIFAR VGG16 classifier split "
    "--copy_depth layers before its output (--vgg_width).",
)
flags.DEFINE_integer("wrn_depth", 16, "WideResNet depth, 6n + 4.", lower_bound=10)
flags.DEFINE_integer("wrn_width", 4, "WideResNet widening factor.", lower_bound=1)
flags.DEFINE_integer(
    "cnn_width", 32, "Channels of the small CNN's first conv.", lower_bound=1
)
flags.DEFINE_integer(
    "cnn_feature_dim", 256, "Feature size of the small CNN.", lower_bound=1
)
flags.DEFINE_float(
    "vgg_width",
    1.0,
    "Multiplies VGG16's hidden widths (64...512 channels, 512 dense units); "
    "below 1 for slim CPU versions with the same 16 layers.",
    lower_bound=1e-6,
)

# -- Optimization ----------------------------------------------------------------
flags.DEFINE_integer("epochs", 200, "Training epochs.", lower_bound=1)
flags.DEFINE_integer(
    "batch_size", 256, "Global batch size (over all replicas).", lower_bound=1
)
flags.DEFINE_float(
    "learning_rate",
    0.1,
    "Base learning rate of SGD, decayed to 0 by a cosine schedule.",
    lower_bound=0.0,
)
flags.DEFINE_float("momentum", 0.9, "SGD momentum.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float(
    "weight_decay",
    0.0,
    "L2 weight decay on the kernels of the extractor and class head (gradient "
    "gains weight_decay * w, as torch's SGD). Never on the random heads.",
    lower_bound=0.0,
)
flags.DEFINE_float(
    "dropout",
    0.0,
    "Dropout rate inside the backbone: between the two convs of every WRN block; "
    "before the feature layer of the small CNN.",
    lower_bound=0.0,
    upper_bound=0.99,
)
flags.DEFINE_float(
    "label_smoothing",
    0.0,
    "Label smoothing of the class loss only.",
    lower_bound=0.0,
    upper_bound=0.99,
)

# -- Random-label heads ----------------------------------------------------------
flags.DEFINE_integer(
    "num_random_labels",
    10,
    "R, the random labels per example; chance accuracy is 1/R.",
    lower_bound=2,
)
flags.DEFINE_float(
    "reg_lambda",
    0.0,
    "Weight of the random-label regularizer L_reg in the extractor's loss "
    "(0: the heads only measure).",
    lower_bound=0.0,
)
flags.DEFINE_integer(
    "copy_depth",
    1,
    "Split the network this many layers before its output: the class path keeps "
    "its last copy_depth layers, each random-label head is a fresh copy of them "
    "with R outputs. 1: dense heads on the features; 2...16 need --model=vgg16 "
    "(16 copies the whole network, and L_reg has nothing to train).",
    lower_bound=1,
    upper_bound=16,
)
flags.DEFINE_float(
    "copy_width_multiplier",
    1.0,
    "Widens the hidden layers of the copied heads (capacity control).",
    lower_bound=1e-6,
)
flags.DEFINE_bool(
    "single_output",
    False,
    "No class head: classes are predicted by sum_r q[c, r]; the extractor "
    "learns from L_reg alone (paper A.5; needs --reg_lambda=0 and "
    "--label_smoothing=0).",
)

# -- Scale and precision ---------------------------------------------------------
flags.DEFINE_enum(
    "strategy",
    "default",
    ["default", "mirrored", "multi_worker", "tpu"],
    "tf.distribute strategy: one device; every local GPU (MirroredStrategy); the "
    "cluster in TF_CONFIG (MultiWorkerMirroredStrategy; only the chief writes "
    "--output_dir); a TPU (--tpu). --batch_size is the global batch.",
)
flags.DEFINE_string("tpu", None, "TPU name or address for --strategy=tpu.")
flags.DEFINE_bool(
    "sync_batch_norm",
    False,
    "Batch-norm statistics over the global batch (an all-reduce per layer) "
    "instead of each replica's share. Off: per-replica statistics, as on one GPU "
    "with the per-replica batch.",
)
flags.DEFINE_enum(
    "mixed_precision",
    "float32",
    ["float32", "mixed_float16", "mixed_bfloat16"],
    "Keras dtype policy. Heads, logits and softmax stay float32; under "
    "mixed_float16 both applied losses are loss-scaled.",
)
flags.DEFINE_enum(
    "jit_compile",
    "off",
    ["off", "on", "auto"],
    "XLA for the train step. Off by default: slower than graph mode on CPU; "
    "turned off with a warning under multi-replica strategies.",
)

# -- Run -------------------------------------------------------------------------
flags.DEFINE_integer(
    "seed", 0, "Seed of initialization, random labels, shuffling, augmentation."
)
flags.DEFINE_bool(
    "deterministic",
    False,
    "Enable TF op determinism: a rerun, or a run resumed after a crash, gives "
    "bit-identical weights (slower).",
)
flags.DEFINE_integer(
    "train_eval_examples",
    0,
    "Measure train_accuracy and train_random_label_accuracy at each epoch end on "
    "the first N training examples (0: all; an evaluation pass costs about a "
    "third of a training epoch).",
    lower_bound=0,
)
flags.DEFINE_string(
    "output_dir",
    None,
    "Run directory. Started again after a crash, a run resumes from its last "
    "epoch backup there; a finished run is never overwritten.",
)
flags.DEFINE_string(
    "export_dir",
    None,
    "Also export the trained model as a TF SavedModel here (endpoints serve and "
    "random_label_logits).",
)
flags.DEFINE_integer(
    "verbose", 1, "0: silent, 1: progress bar, 2: one line per epoch.", lower_bound=0
)
flags.mark_flag_as_required("output_dir")


@flags.validator("dataset", message="unknown --dataset (see --help for the names)")
def _known_dataset(name):
    from keras_rlr import datasets

    return datasets.available(name)


@flags.validator("wrn_depth", message="--wrn_depth must be 6n + 4 (10, 16, 22, ...)")
def _wrn_depth(depth):
    return (depth - 4) % 6 == 0


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from keras_rlr import distribute, experiment

    config = experiment.Config(
        **{
            field.name: FLAGS[field.name].value
            for field in dataclasses.fields(experiment.Config)
            if field.name in FLAGS
        }
    )
    try:
        strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.tpu)
        experiment.train_and_evaluate(
            config, FLAGS.output_dir, strategy=strategy, flagfile=_flagfile_text()
        )
    except experiment.RunError as error:
        sys.exit(f"train.py: error: {error}")


def _flagfile_text():
    """This script's flags, resolved, as a flagfile that reproduces the run."""
    own = FLAGS.flags_by_module_dict()[sys.argv[0]]
    return "".join(f"{flag.serialize()}\n" for flag in own if flag.value is not None)


if __name__ == "__main__":
    app.run(main)
