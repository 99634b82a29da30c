"""One training run, from a `Config` to a run directory.

`train_and_evaluate(config, output_dir)` is everything `train.py` does after
parsing flags, importable and testable. What it writes is listed in
`keras_rlr.train.run_directory`.
"""

import contextlib
import errno
import os
import time

import keras
import tensorflow as tf

from keras_rlr import data, export
from keras_rlr.callbacks import (
    LATEST,
    BackupAndRestore,
    DivergedError,
    IncompleteEpochError,
    RequireFullEpochs,
    StopOnNonFiniteLoss,
    TrainSetEvaluation,
    backup_variables,
)
from keras_rlr.memorization import class_only_accuracy
from keras_rlr.model import BAD_DATA
from keras_rlr.train import (
    builders,
    distribute,
    hparams,
    interrupt,
    leak_control,
    memorization_report,
    plots,
)
from keras_rlr.train import config as schema
from keras_rlr.train.run_directory import (
    CURVES,
    DIVERGED,
    DIVERGED_STATE,
    HISTORY,
    MEMORIZATION,
    MEMORIZED_EXAMPLES,
    MODEL,
    TENSORBOARD,
    RunDirectory,
    RunDirectoryError,
    check_history,
    describe_changes,
    run_identity,
)
from keras_rlr.train.tensorboard import TensorBoard


class RunError(Exception):
    """A run cannot start: bad settings, data that cannot be read, a finished run.

    The message names the problem and the fix; `train.py` prints it without a
    traceback.
    """


def train_and_evaluate(config, output_dir, strategy=None, flagfile=None):
    """Train `config` into `output_dir`, resuming it if it was interrupted.

    Nothing is written before the data is loaded and the model built: a run
    that cannot start (a dataset that cannot be had, a missing `--data_dir`,
    bad settings) leaves no run directory behind.

    Args:
        config: the run's `Config`.
        output_dir: the run directory (see `keras_rlr.train.run_directory`).
        strategy: a `tf.distribute.Strategy`; everything is created in its
            scope. Default: the current one (one device).
        flagfile: the command line's resolved flags, written to `flags.txt`
            without `--output_dir` (a copied run directory trains where it is
            told, never back into the original).

    Returns:
        The summary dict written to `summary.json`.
    """
    strategy = strategy or tf.distribute.get_strategy()
    run = RunDirectory(distribute.worker_output_dir(output_dir))
    _check_settings(config, strategy)
    try:
        if run.is_locked():  # before loading anything: refused at once
            run.lock().close()
        state = run.state()
        if state == "finished":
            return _finished_run(run, config)
        if state == "corrupt":
            run.verify_finished()  # raises, naming the file
        if state == DIVERGED_STATE:
            raise RunError(
                f"{run.path!r} holds a run that diverged "
                f"({run.read_diverged().get('message', '')}); see {DIVERGED}. "
                "Choose another --output_dir or delete that directory."
            )
    except RunDirectoryError as error:
        raise RunError(str(error)) from error
    except OSError as error:  # e.g. an --output_dir under a file
        raise RunError(_os_error_text(error, run)) from error
    previous_policy = keras.mixed_precision.global_policy()
    try:
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.mixed_precision.set_global_policy(config.mixed_precision)
        inputs, model = _build(config, strategy)
        try:
            # One writer per directory, for the whole run: a second process
            # stops here.
            lock = run.lock()
        except RunDirectoryError as error:
            raise RunError(str(error)) from error
        try:
            backup = _prepare(run, config, model)
            if flagfile is not None:
                run.write_flags(_without_output_dir(flagfile))
            initial_epoch = backup.epoch if backup else 0
            inputs = inputs.with_training_stream(config, initial_epoch)
            return _train(run, config, strategy, inputs, model, backup)
        finally:
            lock.close()
    except OSError as error:  # a full disk, a lost mount, permissions
        raise RunError(_os_error_text(error, run)) from error
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _without_output_dir(flagfile):
    """`flags.txt`'s text: the flags that define the run, not where it lives."""
    return "".join(
        line
        for line in flagfile.splitlines(keepends=True)
        if not line.startswith("--output_dir=")
    )


def _os_error_text(error, run):
    """One line for an OS error on a write: the path, the cause, what to do."""
    where = error.filename or run.path
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = (
            "Free space on that disk and run the same command again: it resumes "
            "from the last complete backup."
        )
    else:  # not a directory, permissions, a read-only file system
        fix = "Choose a writable --output_dir (or fix its permissions)."
    return f"cannot write {where} ({error.strerror or error}). {fix}"


def _check_settings(config, strategy):
    """Refuses settings that cannot run (before anything is loaded or written)."""
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise RunError(
            f"--batch_size is the global batch and must split evenly over the "
            f"{replicas} replicas. Received: batch_size={config.batch_size}"
        )
    for field in schema.fields(schema.Config):
        value = getattr(config, field.name)
        if field.choices and value not in field.choices:
            raise RunError(
                f"--{field.name} must be one of {field.choices}. "
                f"Received: {field.name}={value!r}"
            )


def _build(config, strategy):
    """The run's data (no training stream yet) and its compiled model."""
    try:  # Everything that depends on the user's settings fails here, early.
        inputs = builders.load_inputs(config)
        with strategy.scope():
            model = distribute.fit_on_workers(
                builders.build_model(
                    config, inputs.splits.image_shape, inputs.splits.num_classes
                ),
                strategy,
            )
            model.compile(
                optimizer=builders.build_optimizer(config, inputs.steps_per_epoch),
                jit_compile=builders.jit_compile(config.jit_compile, strategy),
                steps_per_execution=builders.steps_per_execution(
                    config.steps_per_execution, inputs.steps_per_epoch, strategy
                ),
            )
    except (ValueError, RuntimeError) as error:
        raise RunError(str(error)) from error
    return inputs, model


def _prepare(run, config, model):
    """Chooses the backup to resume from (None: start from the beginning),
    checks the settings against the directory's and rebuilds `history.csv`.

    The one decision: the backup chosen here (`RunDirectory.latest_backup`,
    every file read and checked against `model` and this run's identity) is
    the epoch printed, the history rebuilt, the epoch the training stream
    starts at, and what `BackupAndRestore` restores.
    """
    settings = schema.to_dict(config)
    try:
        # Checked against the model's variables, optimizer state included
        # (built here only when there is a backup to check).
        variables = backup_variables(model) if run.has_backups() else None
        backup, damaged = run.latest_backup(variables, run_identity(settings))
        run.check_config(settings, resuming=backup is not None)
    except RunDirectoryError as error:
        raise RunError(str(error)) from error
    run.write_config(settings)
    if backup is not None:
        line = (
            f"Resuming {run.path} at epoch {backup.epoch + 1}/{config.epochs} "
            "from its backup"
        )
        if damaged:
            line += f" of epoch {backup.epoch} ({backup.path}): " + "; ".join(
                f"{error.path} is damaged ({error.reason})" for error in damaged
            )
        print(line + ".", flush=True)
    # From the backup, never trimmed in place: a crash may have left anything.
    run.rebuild_history(backup)
    return backup


def _finished_run(run, config):
    """A finished run asked for again: its summary if the settings match
    (a "rerun until it succeeds" loop ends), else a `RunError` naming them."""
    try:
        changed = run.changed_settings(schema.to_dict(config))
    except RunDirectoryError as error:
        raise RunError(str(error)) from error
    if changed:
        raise RunError(
            f"{run.path!r} already holds a finished run with other settings "
            f"({describe_changes(changed)}). Choose another --output_dir or "
            "delete that directory."
        )
    print(f"{run.path} already holds this run, finished: nothing to do.")
    return run.read_summary()


def run_callbacks(run, inputs, config, initial_epoch=0, backup=LATEST):
    """The callbacks of a run's `fit`, in the order they must see the logs
    (also timed by `benchmarks/epoch_cost.py`). `backup`: what
    `BackupAndRestore` restores (the backup `_prepare` chose)."""
    return [
        # A NaN or infinite loss stops the run at that batch, as a failure.
        StopOnNonFiniteLoss(),
        # An epoch short of its steps is a failure, before it is logged.
        RequireFullEpochs(inputs.steps_per_epoch),
        # Before the loggers: it adds train_* metrics to the logs they record.
        TrainSetEvaluation(inputs.train_evaluation(config)),
        keras.callbacks.CSVLogger(run.file(HISTORY), append=initial_epoch > 0),
        TensorBoard(run.file(TENSORBOARD)),
        # After the logs are written: a backup means its epoch is complete,
        # and it keeps the history rows so far.
        BackupAndRestore(
            run.backup_dir,
            history_file=run.file(HISTORY),
            run=run_identity(schema.to_dict(config)),
            restore=backup,
        ),
        interrupt.StopAtSafePoints(),  # last: after the backup
    ]


def _train(run, config, strategy, inputs, model, backup):
    initial_epoch = backup.epoch if backup else 0
    callbacks = run_callbacks(run, inputs, config, initial_epoch, backup=backup)
    (epoch_backups,) = [c for c in callbacks if isinstance(c, BackupAndRestore)]
    start = time.time()
    if inputs.train is not None:
        # Keras trains on a shorter stream than it is asked for, with a warning.
        inputs.check_stream(initial_epoch, config.epochs)
        try:
            with (
                distribute.stop_when_a_worker_is_lost(strategy, RunError),
                _last_backup_written(epoch_backups),
            ):
                model.fit(
                    inputs.train,
                    epochs=config.epochs,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=inputs.steps_per_epoch,
                    validation_data=inputs.test(config),
                    callbacks=callbacks,
                    shuffle=False,  # the training stream is shuffled per epoch
                    verbose=config.verbose,
                )
        except DivergedError as error:
            run.write_diverged(error.epoch, error.batch, error.loss, str(error))
            raise RunError(
                f"{error} The run in {run.path} is marked {DIVERGED_STATE} "
                f"({DIVERGED}), with no summary.json."
            ) from error
        except IncompleteEpochError as error:
            raise RunError(
                f"{error}; the run in {run.path} stops unfinished, with no "
                "summary.json (its last complete epoch is backed up). This is a "
                "bug: please report it with the command."
            ) from error
        except tf.errors.InvalidArgumentError as error:
            refused = [line for line in error.message.splitlines() if BAD_DATA in line]
            if not refused:
                raise
            raise RunError(
                f"{refused[0].strip()} (dataset {config.dataset!r})."
            ) from None
    else:  # crashed after the last epoch's backup: only the final files remain
        backup.restore(model)
    elapsed = time.time() - start
    history = _check_complete(run, config, model, inputs)
    model.save(run.file(MODEL))
    if config.export_dir:
        export.export_saved_model(model, config.export_dir)

    chance = 1.0 / config.num_random_labels
    summary = {name: values[-1] for name, values in history.items() if values}
    summary.update(
        num_random_labels=config.num_random_labels,
        chance=chance,
        # The training set; each epoch trains on whole batches of it, a fresh
        # shuffle's remainder left out (`keras_rlr.data.training_dataset`).
        num_train_examples=data.num_examples(inputs.splits.train),
        train_examples_per_epoch=inputs.steps_per_epoch * config.batch_size,
        num_test_examples=data.num_examples(inputs.splits.test),
        train_seconds=round(elapsed, 1),
    )
    scores = memorization_report.write(
        run, model, inputs, config, MEMORIZATION, MEMORIZED_EXAMPLES
    )
    # What the heads reach from the class alone: only accuracy above it is
    # evidence of memorizing single examples.
    summary[CLASS_ONLY] = class_only_accuracy(scores.label, scores.random_label)
    plots.plot_curves(
        history,
        chance,
        run.file(CURVES),
        title=f"{config.model} on {config.dataset}, R={config.num_random_labels}, "
        f"lambda={config.reg_lambda:g}",
        class_only=summary[CLASS_ONLY],
    )
    hparams.write(run.file(TENSORBOARD), config, summary, name=_trial_name(run))
    run.write_summary(summary)  # last: it marks the run finished
    run.remove_backup()
    with contextlib.suppress(FileNotFoundError):  # of an earlier, failed attempt
        os.remove(run.failed_marker)
    print(format_summary(summary, run.path))
    return summary


@contextlib.contextmanager
def _last_backup_written(backups):
    """However `fit` ends (an interrupt, a failure), the epoch backup being
    written in the background is on disk (or its error raised) before the run
    reports how it ended."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            backups.wait()
        raise
    backups.wait()


def _check_complete(run, config, model, inputs):
    """The run's history, checked before the run may be called finished: one
    row per epoch, every value finite, and (where the optimizer counts every
    step: not a loss-scaling one, which skips overflowing steps) every epoch
    trained on its full number of steps. `RunError` otherwise."""
    try:
        history = run.read_history()
        check_history(history, config.epochs, run.file(HISTORY))
    except RunDirectoryError as error:
        raise RunError(f"the run did not finish cleanly: {error}") from error
    optimizer = model.optimizer
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        # (Under a strategy the variable is a distributed one: read its value.)
        steps = int(tf.convert_to_tensor(optimizer.iterations.value))
        expected = config.epochs * inputs.steps_per_epoch
        if steps != expected:
            raise RunError(
                f"the run did not finish cleanly: it trained {steps} steps, "
                f"expected {config.epochs} epochs x {inputs.steps_per_epoch}. "
                f"Delete {run.path} to train it again."
            )
    return history


def _trial_name(run):
    """`<point>/seed_<S>` for a sweep's run: its directory's last two parts."""
    path = os.path.normpath(os.path.abspath(run.path))
    return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))


def format_summary(summary, output_dir):
    """The few lines printed at the end of a run."""
    chance = summary["chance"]
    train_rla = summary["train_random_label_accuracy"]
    test_rla = summary["val_random_label_accuracy"]
    leak = leak_control.check(test_rla, chance, summary["num_test_examples"])
    at_chance = "yes" if leak.at_chance else "NO: check for a leak"
    return "\n".join(
        [
            f"Run finished in {summary['train_seconds']:.0f} s; results in "
            f"{output_dir}/",
            f"  class accuracy, test set               {summary['val_accuracy']:.3f}",
            f"  random-label accuracy, training set    {train_rla:.3f}"
            f"  ({train_rla / chance:.1f}x chance 1/R = {chance:.3f})",
        ]
        + (
            [
                f"    from the class alone (no memorizing) {summary[CLASS_ONLY]:.3f}"
                "  (each class's most common random label)"
            ]
            if CLASS_ONLY in summary
            else []
        )
        + [
            f"  random-label accuracy, test set        {test_rla:.3f}"
            f"  (at chance, within the 95 % band ±{leak.band:.3f}: {at_chance})",
        ]
        + [
            f"  random-label accuracy, training set, probe {name[len(_PROBE) :]}"
            f"{summary[name]:>8.3f}  ({summary[name] / chance:.1f}x chance)"
            for name in summary
            if name.startswith(_PROBE)
        ]
    )


_PROBE = "train_random_label_accuracy_"
CLASS_ONLY = "class_only_random_label_accuracy"
