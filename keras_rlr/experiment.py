"""One training run, from a `Config` to a run directory.

`train_and_evaluate(config, output_dir)` is everything `train.py` does after
parsing flags, importable and testable. It writes to `output_dir`:

- `config.json`: the resolved configuration (`flags.txt` from `train.py`);
- `history.csv`: one row per epoch, `epoch` and every logged metric;
- `summary.json`: the final epoch's metrics, `num_random_labels`, `chance`;
- `tensorboard/`: TensorBoard logs;
- `model.keras`: the trained model with its optimizer state;
- `curves.png`: class and random-label accuracy per epoch, chance marked.
"""

import csv
import dataclasses
import json
import math
import os
import shutil
import time

import keras
import tensorflow as tf
from absl import logging

from keras_rlr import backbones, data, datasets, distribute, export, plotting
from keras_rlr.callbacks import BackupAndRestore, TrainSetEvaluation
from keras_rlr.model import RandomLabelModel
from keras_rlr.run_directory import RunDirectory, RunDirectoryError

MODELS = ("wide_resnet", "small_cnn", "vgg16")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
JIT_MODES = ("off", "on", "auto")


class RunError(Exception):
    """A run cannot start: bad settings, data that cannot be read, a finished run.

    The message names the problem and the fix; `train.py` prints it without a
    traceback.
    """


@dataclasses.dataclass
class Config:
    """A run's settings; the defaults are the paper's (docs/method.md)."""

    # Data.
    dataset: str = "cifar100"
    data_dir: str | None = None
    max_train_examples: int = 0  # 0: all
    augment: bool = True
    # Model.
    model: str = "wide_resnet"
    wrn_depth: int = 16
    wrn_width: int = 4
    cnn_width: int = 32
    cnn_feature_dim: int = 256
    vgg_width: float = 1.0
    # Optimization: SGD with momentum, cosine schedule, no regularization.
    epochs: int = 200
    batch_size: int = 256
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    dropout: float = 0.0
    label_smoothing: float = 0.0
    # Random-label heads.
    num_random_labels: int = 10
    reg_lambda: float = 0.0
    copy_depth: int = 1  # 1: dense heads on the features; > 1: VGG16 only
    copy_width_multiplier: float = 1.0
    single_output: bool = False
    # Scale and precision.
    sync_batch_norm: bool = False
    mixed_precision: str = "float32"
    jit_compile: str = "off"
    # Run.
    seed: int = 0
    deterministic: bool = False
    eval_batch_size: int = 512
    train_eval_examples: int = 0  # 0: the whole training set
    export_dir: str | None = None
    verbose: int = 1


def build_model(config, image_shape, num_classes):
    """The `RandomLabelModel` that `config` describes, not yet compiled."""
    network = dict(
        input_shape=image_shape,
        dropout=config.dropout,
        weight_decay=config.weight_decay,
        sync_batch_norm=config.sync_batch_norm,
    )
    if config.model == "wide_resnet":
        extractor = backbones.wide_resnet(
            depth=config.wrn_depth, width=config.wrn_width, **network
        )
    elif config.model == "small_cnn":
        extractor = backbones.small_cnn(
            width=config.cnn_width, feature_dim=config.cnn_feature_dim, **network
        )
    elif config.model == "vgg16":
        # The heads are copies of the last copy_depth layers; weight decay sits
        # in the network's own kernels (extractor and class head), never in
        # the copies.
        classifier = backbones.vgg16(
            num_classes=num_classes, width=config.vgg_width, **network
        )
        return RandomLabelModel.from_classifier(
            classifier,
            split_layer=backbones.vgg16_split_layer(config.copy_depth),
            num_random_labels=config.num_random_labels,
            width_multiplier=config.copy_width_multiplier,
            single_output=config.single_output,
            reg_lambda=config.reg_lambda,
            label_smoothing=config.label_smoothing,
        )
    else:
        raise ValueError(
            f"Unknown model: expected one of {MODELS}. Received: model={config.model!r}"
        )
    if config.copy_depth != 1:
        raise ValueError(
            "copy_depth > 1 needs --model=vgg16 (other models put dense heads on "
            f"their features, copy depth 1). Received: copy_depth={config.copy_depth}"
        )
    return RandomLabelModel(
        extractor,
        num_classes=num_classes,
        num_random_labels=config.num_random_labels,
        reg_lambda=config.reg_lambda,
        label_smoothing=config.label_smoothing,
        weight_decay=0.0 if config.single_output else config.weight_decay,
        single_output=config.single_output,
    )


def train_and_evaluate(config, output_dir, strategy=None, flagfile=None):
    """Train `config` into `output_dir`, resuming it if it was interrupted.

    Args:
        config: the run's `Config`.
        output_dir: the run directory (see the module docstring).
        strategy: a `tf.distribute.Strategy`; everything is created in its
            scope. Default: the current one (one device).
        flagfile: the command line's resolved flags, written to `flags.txt`.

    Returns:
        The summary dict written to `summary.json`.
    """
    strategy = strategy or tf.distribute.get_strategy()
    run = RunDirectory(distribute.worker_output_dir(output_dir))
    initial_epoch = _prepare(run, config, strategy)
    if flagfile is not None:
        with open(run.file("flags.txt"), "w") as f:
            f.write(flagfile)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.mixed_precision)
    try:
        return _train(run, config, strategy, initial_epoch)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _prepare(run, config, strategy):
    """Check the settings and the directory; returns the epoch to start at."""
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise RunError(
            f"--batch_size is the global batch and must split evenly over the "
            f"{replicas} replicas. Received: batch_size={config.batch_size}"
        )
    if config.mixed_precision not in PRECISIONS:
        raise RunError(
            f"--mixed_precision must be one of {PRECISIONS}. "
            f"Received: mixed_precision={config.mixed_precision!r}"
        )
    if config.jit_compile not in JIT_MODES:
        raise RunError(
            f"--jit_compile must be one of {JIT_MODES}. "
            f"Received: jit_compile={config.jit_compile!r}"
        )
    if run.is_finished():
        raise RunError(
            f"{run.path!r} already holds a finished run (summary.json). Choose "
            "another --output_dir or delete that directory."
        )
    try:
        run.check_config(dataclasses.asdict(config))
        initial_epoch = run.resume_epoch()
    except RunDirectoryError as error:
        raise RunError(str(error)) from error
    os.makedirs(run.path, exist_ok=True)
    with open(run.file("config.json"), "w") as f:
        json.dump(dataclasses.asdict(config), f, indent=2)
    if initial_epoch:
        print(
            f"Resuming {run.path} at epoch {initial_epoch + 1}/{config.epochs} "
            "from its backup."
        )
    run.truncate_history(initial_epoch)
    return initial_epoch


def _train(run, config, strategy, initial_epoch):
    try:  # Everything that depends on the user's settings fails here, early.
        splits = datasets.load(
            config.dataset,
            config.data_dir,
            max_train_examples=config.max_train_examples,
        )
        steps = data.steps_per_epoch(splits.train, config.batch_size)
        if initial_epoch < config.epochs:
            train = data.training_dataset(
                splits.train,
                batch_size=config.batch_size,
                num_random_labels=config.num_random_labels,
                seed=config.seed,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                augment=config.augment,
                horizontal_flip=splits.horizontal_flip,
            )
        with strategy.scope():
            model = distribute.fit_on_workers(
                build_model(config, splits.image_shape, splits.num_classes), strategy
            )
            schedule = keras.optimizers.schedules.CosineDecay(
                config.learning_rate, decay_steps=steps * config.epochs
            )
            model.compile(
                optimizer=keras.optimizers.SGD(schedule, momentum=config.momentum),
                jit_compile=_jit_compile(config.jit_compile, strategy),
            )
    except (ValueError, RuntimeError) as error:
        raise RunError(str(error)) from error

    def evaluation(split, stream):
        return data.evaluation_dataset(
            split,
            batch_size=config.eval_batch_size,
            num_random_labels=config.num_random_labels,
            seed=config.seed,
            stream=stream,
        )

    callbacks = [
        # First: it adds train_* metrics to the logs that the others record.
        TrainSetEvaluation(
            evaluation(
                splits.train.take(config.train_eval_examples or -1),
                data.TRAIN_STREAM,
            )
        ),
        keras.callbacks.CSVLogger(run.file("history.csv"), append=initial_epoch > 0),
        keras.callbacks.TensorBoard(run.file("tensorboard")),
        # After the logs are written: a backup means its epoch is complete.
        BackupAndRestore(
            run.backup_dir, double_checkpoint=True, delete_checkpoint=False
        ),
        keras.callbacks.TerminateOnNaN(),
    ]
    start = time.time()
    if initial_epoch < config.epochs:
        with distribute.stop_when_a_worker_is_lost(strategy, RunError):
            model.fit(
                train,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps,
                validation_data=evaluation(splits.test, data.TEST_STREAM),
                callbacks=callbacks,
                shuffle=False,  # the training stream is shuffled per epoch by seed
                verbose=config.verbose,
            )
    else:  # crashed after the last epoch's backup: only the final files remain
        model.optimizer.build(model.trainable_variables)
        model.load_weights(run.backup_weights)
    elapsed = time.time() - start
    model.save(run.file("model.keras"))
    if config.export_dir:
        export.export_saved_model(model, config.export_dir)

    history = read_history(run.file("history.csv"))
    chance = 1.0 / config.num_random_labels
    summary = {name: values[-1] for name, values in history.items() if values}
    summary.update(
        num_random_labels=config.num_random_labels,
        chance=chance,
        num_train_examples=steps * config.batch_size,
        num_test_examples=data.num_examples(splits.test),
        train_seconds=round(elapsed, 1),
    )
    plotting.plot_curves(
        history,
        chance,
        run.file("curves.png"),
        title=f"{config.model} on {config.dataset}, R={config.num_random_labels}, "
        f"lambda={config.reg_lambda:g}",
    )
    # Written last: its presence marks the run finished.
    with open(run.file("summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    shutil.rmtree(run.backup_dir, ignore_errors=True)
    print(format_summary(summary, run.path))
    return summary


def _jit_compile(mode, strategy):
    """`compile(jit_compile=...)` for `--jit_compile`; XLA off under distribution.

    Forced XLA with MirroredStrategy failed on CPU; "auto" turns it off under any
    strategy and on CPU-only machines anyway.
    """
    if mode == "on" and strategy.num_replicas_in_sync > 1:
        logging.warning(
            "--jit_compile=on is not supported with %d replicas: off.",
            strategy.num_replicas_in_sync,
        )
        return False
    return {"off": False, "on": True, "auto": "auto"}[mode]


def read_history(path):
    """`history.csv` as metric -> list of floats (the `epoch` column included)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        name: [float(row[name]) for row in rows if row[name] != ""]
        for name in (rows[0] if rows else {})
    }


def format_summary(summary, output_dir):
    """The few lines printed at the end of a run."""
    chance = summary["chance"]
    train_rla = summary["train_random_label_accuracy"]
    test_rla = summary["val_random_label_accuracy"]
    # Test-set random labels are unlearnable: their accuracy is Binomial/n.
    band = 2 * math.sqrt(chance * (1 - chance) / summary["num_test_examples"])
    at_chance = "yes" if abs(test_rla - chance) <= band else "NO: check for a leak"
    return "\n".join(
        [
            f"Run finished in {summary['train_seconds']:.0f} s; results in "
            f"{output_dir}/",
            f"  class accuracy, test set               {summary['val_accuracy']:.3f}",
            f"  random-label accuracy, training set    {train_rla:.3f}"
            f"  ({train_rla / chance:.1f}x chance 1/R = {chance:.3f})",
            f"  random-label accuracy, test set        {test_rla:.3f}"
            f"  (at chance, within 2 std = {band:.3f}: {at_chance})",
        ]
    )
