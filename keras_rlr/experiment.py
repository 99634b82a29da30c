"""One training run, from a `Config` to a run directory.

`train_and_evaluate(config, output_dir)` is everything `train.py` does after
parsing flags, importable and testable. It writes to `output_dir`:

- `config.json`: the resolved configuration;
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
import time

import keras

from keras_rlr import backbones, data, datasets, plotting
from keras_rlr.callbacks import TrainSetEvaluation
from keras_rlr.model import RandomLabelModel

MODELS = ("wide_resnet", "small_cnn")


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
    # Run.
    seed: int = 0
    eval_batch_size: int = 512
    verbose: int = 1


def build_model(config, image_shape, num_classes):
    """The `RandomLabelModel` that `config` describes, not yet compiled."""
    if config.model == "wide_resnet":
        extractor = backbones.wide_resnet(
            depth=config.wrn_depth,
            width=config.wrn_width,
            input_shape=image_shape,
            dropout=config.dropout,
            weight_decay=config.weight_decay,
        )
    elif config.model == "small_cnn":
        extractor = backbones.small_cnn(
            input_shape=image_shape,
            width=config.cnn_width,
            feature_dim=config.cnn_feature_dim,
            dropout=config.dropout,
            weight_decay=config.weight_decay,
        )
    else:
        raise ValueError(
            f"Unknown model: expected one of {MODELS}. Received: model={config.model!r}"
        )
    return RandomLabelModel(
        extractor,
        num_classes=num_classes,
        num_random_labels=config.num_random_labels,
        reg_lambda=config.reg_lambda,
        label_smoothing=config.label_smoothing,
        weight_decay=config.weight_decay,
    )


def train_and_evaluate(config, output_dir):
    """Train `config` and write the run directory; returns the summary dict."""
    if os.path.exists(os.path.join(output_dir, "summary.json")):
        raise RunError(
            f"{output_dir!r} already holds a finished run (summary.json). Choose "
            "another --output_dir or delete that directory."
        )
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(config), f, indent=2)

    keras.utils.set_random_seed(config.seed)
    try:  # Everything that depends on the user's settings fails here, early.
        splits = datasets.load(
            config.dataset,
            config.data_dir,
            max_train_examples=config.max_train_examples,
        )
        steps = data.steps_per_epoch(splits.train, config.batch_size)
        train = data.training_dataset(
            splits.train,
            batch_size=config.batch_size,
            num_random_labels=config.num_random_labels,
            seed=config.seed,
            epochs=config.epochs,
            augment=config.augment,
            horizontal_flip=splits.horizontal_flip,
        )
        model = build_model(config, splits.image_shape, splits.num_classes)
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

    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=steps * config.epochs
    )
    # XLA measured slower than graph mode on CPU for a WRN: off by default.
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=config.momentum),
        jit_compile=False,
    )
    callbacks = [
        # First: it adds train_* metrics to the logs that the others record.
        TrainSetEvaluation(evaluation(splits.train, data.TRAIN_STREAM)),
        keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv")),
        keras.callbacks.TensorBoard(os.path.join(output_dir, "tensorboard")),
        keras.callbacks.TerminateOnNaN(),
    ]
    start = time.time()
    model.fit(
        train,
        epochs=config.epochs,
        steps_per_epoch=steps,
        validation_data=evaluation(splits.test, data.TEST_STREAM),
        callbacks=callbacks,
        shuffle=False,  # the training stream is shuffled per epoch by seed
        verbose=config.verbose,
    )
    elapsed = time.time() - start
    model.save(os.path.join(output_dir, "model.keras"))

    history = read_history(os.path.join(output_dir, "history.csv"))
    chance = 1.0 / config.num_random_labels
    summary = {name: values[-1] for name, values in history.items() if values}
    summary.update(
        num_random_labels=config.num_random_labels,
        chance=chance,
        num_train_examples=steps * config.batch_size,
        num_test_examples=data.num_examples(splits.test),
        train_seconds=round(elapsed, 1),
    )
    with open(os.path.join(output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    plotting.plot_curves(
        history,
        chance,
        os.path.join(output_dir, "curves.png"),
        title=f"{config.model} on {config.dataset}, R={config.num_random_labels}, "
        f"lambda={config.reg_lambda:g}",
    )
    print(format_summary(summary, output_dir))
    return summary


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
