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

import dataclasses
import sys

from absl import flags

from keras_rlr.train import console
from keras_rlr.train import flags as train_flags
from keras_rlr.train.run_directory import RunDirectory, RunDirectoryError

FLAGS = flags.FLAGS
train_flags.define(FLAGS)
flags.mark_flag_as_required("output_dir")


def main(argv):
    console.reject_arguments(argv, "train.py")
    config, launch = train_flags.values(FLAGS)
    if config.verbose == 1 and not sys.stdout.isatty():
        # A progress bar redrawn into a log file or pipe: one line per epoch.
        config = dataclasses.replace(config, verbose=2)
    try:
        from keras_rlr.train import distribute, experiment

        strategy = distribute.make_strategy(launch.strategy, launch.tpu)
        experiment.train_and_evaluate(
            config,
            launch.output_dir,
            strategy=strategy,
            flagfile=train_flags.flagfile_text(FLAGS),
        )
    except console.Interrupted as interrupted:
        sys.exit(_interrupted(interrupted, config, launch.output_dir))
    except experiment.RunError as error:
        sys.exit(f"train.py: error: {error}")


def _interrupted(interrupted, config, output_dir):
    """Prints where a signal stopped the run; returns the exit status."""
    try:  # The backup holds the epochs that completed.
        completed = RunDirectory(output_dir).resume_epoch()
    except RunDirectoryError:
        completed = 0
    if sys.stdout.isatty():  # end the progress bar's line
        print(flush=True)
    print(
        f"train.py: interrupted at epoch {min(completed + 1, config.epochs)}; "
        "run the same command to resume",
        file=sys.stderr,
    )
    return interrupted.exit_code


def run():
    """The console entry point (`keras-rlr-train`)."""
    # `--helpshort` lists the flags of the main module: these are its flags.
    for name in train_flags.names():
        FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])
    console.run_app(main, "train.py")
