r"""Train a classifier with random-label prediction heads: the command line.

    python train.py --flagfile=configs/quickstart.cfg
    keras-rlr-train --flagfile=configs/cifar100_wrn16_4.cfg --data_dir=~/tfds
    python -m keras_rlr.train --flagfile=...

Wiring only: flags come from the run schema (`keras_rlr.train.config`); `main`
checks them, builds the strategy and calls
`keras_rlr.train.experiment.train_and_evaluate`, where all the logic lives.
Everything that can be checked without TensorFlow (the flags, the output
directory, a finished run or one another process is training) is checked
before it is imported, in a fraction of a second. Flagfiles include each other
by paths relative to the working directory; later flags override earlier ones,
so `--flagfile=configs/x.cfg --epochs=3` shortens any config.

Paper: "Learned Random Label Predictions as a Neural Network Complexity
Metric"; the defaults are its setting (docs/method.md).
"""

import dataclasses
import os
import sys

from absl import flags

from keras_rlr.train import config as schema
from keras_rlr.train import console
from keras_rlr.train import flags as train_flags
from keras_rlr.train.run_directory import RunDirectory, RunDirectoryError

FLAGS = flags.FLAGS
train_flags.define(FLAGS)
flags.mark_flag_as_required("output_dir")

USAGE = """\
Train a classifier with random-label prediction heads into a run directory.

  {program} --flagfile=configs/quickstart.cfg          (offline, ~1 min on a CPU)
  {program} --flagfile=configs/quickstart.cfg --epochs=3 --output_dir=runs/x
  {program} --dataset=digits --model=small_cnn --epochs=20 --output_dir=runs/d

--output_dir is required (a config file may set it). Started again, a run
resumes from its last epoch backup; a finished run is never overwritten.
Flags below; a flag given later overrides one from a --flagfile before it.
Flagfiles name other flagfiles relative to the working directory.
"""


def main(argv):
    console.reject_arguments(argv)
    try:
        train_flags.check_deferred(FLAGS)
    except flags.Error as error:
        console.fail(f"{error} (see {console.program()} -h)")
    config, launch = train_flags.values(FLAGS)
    if config.verbose == 1 and not sys.stdout.isatty():
        # A progress bar redrawn into a log file or pipe: one line per epoch.
        config = dataclasses.replace(config, verbose=2)
    if _refused_or_done(config, launch):
        return
    console.import_tensorflow()  # quietly: its libraries' start-up lines hidden
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
        console.fail(error)


def _refused_or_done(config, launch):
    """What needs no TensorFlow: exits with one line if the output directory
    cannot be a run directory, another process trains in it, or it holds a
    finished run of other settings. True for this run already finished (the
    line `experiment` prints then); creates nothing."""
    output_dir = launch.output_dir
    existing = os.path.abspath(output_dir)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        console.fail(
            f"cannot write {output_dir} ({existing} is not a writable directory). "
            "Choose a writable --output_dir (or fix its permissions)."
        )
    data_dir = config.data_dir
    if data_dir and "://" not in data_dir:
        if not os.path.isdir(os.path.expanduser(data_dir)):
            console.fail(
                "--data_dir must be a directory that holds the prepared dataset "
                f"(`tfds build {config.dataset} --data_dir DIR` where the machine "
                f"can download). Received: data_dir={data_dir!r}"
            )
    if launch.strategy == "multi_worker":
        return False  # each worker writes its own directory: experiment checks
    run = RunDirectory(output_dir)
    try:
        state = run.state()
        if state == "running":
            run.lock().close()  # raises, naming the holder
        if state == "corrupt":
            run.verify_finished()  # raises, naming the file and the fix
        if state != "finished":
            return False
        changed = run.changed_settings(schema.to_dict(config))
    except RunDirectoryError as error:
        console.fail(error)
    if changed:
        from keras_rlr.train.run_directory import describe_changes

        console.fail(
            f"{output_dir!r} already holds a finished run with other settings "
            f"({describe_changes(changed)}). Choose another --output_dir or "
            "delete that directory."
        )
    print(f"{output_dir} already holds this run, finished: nothing to do.")
    return True


def _interrupted(interrupted, config, output_dir):
    """Prints where a signal stopped the run; returns the exit status."""
    try:  # The backup holds the epochs that completed.
        completed = RunDirectory(output_dir).resume_epoch()
    except RunDirectoryError:
        completed = 0
    if sys.stdout.isatty():  # end the progress bar's line
        print(flush=True)
    print(
        f"{console.program()}: interrupted at epoch "
        f"{min(completed + 1, config.epochs)}; run the same command to resume",
        file=sys.stderr,
    )
    return interrupted.exit_code


def run():
    """The console entry point (`keras-rlr-train`)."""
    console.run_app(main, USAGE, train_flags.names())
