r"""Train a classifier with random-label prediction heads: the command line.

    python train.py --flagfile=configs/quickstart.cfg
    keras-rlr-train --flagfile=configs/cifar100_wrn16_4.cfg --data_dir=~/tfds
    python -m keras_rlr.train --flagfile=...

Wiring only: flags come from the run schema (`keras_rlr.train.config`); `main`
checks them, builds the strategy and calls
`keras_rlr.train.experiment.train_and_evaluate`, where all the logic lives.
Flagfiles include each other by paths relative to the working directory;
later flags override earlier ones, so `--flagfile=configs/x.cfg --epochs=3`
shortens any config.

Paper: "Learned Random Label Predictions as a Neural Network Complexity
Metric"; the defaults are its setting (docs/method.md).
"""

import os
import sys

from absl import app, flags

from keras_rlr.train import flags as train_flags

FLAGS = flags.FLAGS
train_flags.define(FLAGS)
flags.mark_flag_as_required("output_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from keras_rlr.train import distribute, experiment

    config, launch = train_flags.values(FLAGS)
    try:
        strategy = distribute.make_strategy(launch.strategy, launch.tpu)
        experiment.train_and_evaluate(
            config,
            launch.output_dir,
            strategy=strategy,
            flagfile=train_flags.flagfile_text(FLAGS),
        )
    except experiment.RunError as error:
        sys.exit(f"train.py: error: {error}")


def run():
    """The console entry point (`keras-rlr-train`)."""
    # TF's C++ start-up chatter (oneDNN, CUDA probing) hides the progress bar.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # `--helpshort` lists the flags of the main module: these are its flags.
    for name in train_flags.names():
        FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])
    app.run(main)
