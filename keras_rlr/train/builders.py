"""What a `Config` describes, built: the model, the optimizer, the data.

Small factories that `keras_rlr.train.experiment` wires together; each is
usable on its own (tests build a run's model without training it).
"""

import dataclasses

import keras
import tensorflow as tf
from absl import logging

from keras_rlr import backbones, data, datasets, label_noise
from keras_rlr.model import RandomLabelModel
from keras_rlr.train import config as schema


def build_model(config, image_shape, num_classes):
    """The `RandomLabelModel` that `config` describes, not yet compiled.

    The backbone comes from the registry (`keras_rlr.backbones.get`) by
    `config.model`; the schema fields tagged with that backbone feed its
    builder's arguments. An `extractor` gets dense heads on its features; a
    `classifier` is split `config.copy_depth` layers before its output.
    """
    backbone = backbones.get(config.model)
    arguments = dict(
        input_shape=image_shape,
        dropout=config.dropout,
        weight_decay=config.weight_decay,
        sync_batch_norm=config.sync_batch_norm,
        **backbone_arguments(config),
    )
    if backbone.kind == "classifier":
        arguments["num_classes"] = num_classes
    network = backbone.build(**arguments)
    probe_depths = schema.probe_depths(config)
    if probe_depths and backbone.kind != "classifier":
        raise ValueError(
            f"--probe_depths needs a model that is split at a copy depth "
            f"(--model=vgg16); --model={config.model} puts dense heads on its "
            f"features. Drop --probe_depths. Received: probe_depths="
            f"{config.probe_depths!r}"
        )
    if backbone.kind == "classifier":
        # The heads are copies of the last copy_depth layers; weight decay sits
        # in the network's own kernels (extractor and class head), never in
        # the copies.
        return RandomLabelModel.from_classifier(
            network,
            split_layer=backbone.split_layer_name(config.copy_depth),
            probe_layers=_probe_layers(backbone, config, probe_depths),
            num_random_labels=config.num_random_labels,
            width_multiplier=config.copy_width_multiplier,
            single_output=config.single_output,
            reg_lambda=config.reg_lambda,
            label_smoothing=config.label_smoothing,
        )
    if config.copy_depth != 1:
        classifiers = [
            n for n in backbones.NAMES if backbones.get(n).kind != "extractor"
        ]
        raise ValueError(
            f"copy_depth > 1 needs --model={' or '.join(classifiers)} (other models "
            "put dense heads on their features, copy depth 1). "
            f"Received: copy_depth={config.copy_depth}"
        )
    return RandomLabelModel(
        network,
        num_classes=num_classes,
        num_random_labels=config.num_random_labels,
        reg_lambda=config.reg_lambda,
        label_smoothing=config.label_smoothing,
        weight_decay=0.0 if config.single_output else config.weight_decay,
        single_output=config.single_output,
    )


def _probe_layers(backbone, config, depths):
    """The split layers of `--probe_depths`, each checked against the network."""
    layers = []
    for depth in depths:
        try:
            layers.append(backbone.split_layer_name(depth))
        except ValueError as error:
            raise ValueError(
                f"--probe_depths: {error}. Received: probe_depths="
                f"{config.probe_depths!r}"
            ) from error
        if depth == config.copy_depth:
            raise ValueError(
                f"--probe_depths must differ from --copy_depth={config.copy_depth} "
                "(a probe at the heads' depth repeats them). "
                f"Received: probe_depths={config.probe_depths!r}"
            )
    return layers


def backbone_arguments(config):
    """The backbone builder's own arguments: the schema fields tagged with
    `config.model` (e.g. `--wrn_depth` -> `depth` for `wide_resnet`)."""
    return {
        field.backbone[1]: getattr(config, field.name)
        for field in schema.fields(schema.Config)
        if field.backbone and field.backbone[0] == config.model
    }


def build_optimizer(config, steps_per_epoch):
    """SGD with momentum and a cosine schedule decaying to 0 over the run."""
    learning_rate = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=steps_per_epoch * config.epochs
    )
    return keras.optimizers.SGD(learning_rate, momentum=config.momentum)


def steps_per_execution(requested, steps_per_epoch, strategy=None):
    """The largest divisor of `steps_per_epoch` that is at most `requested`;
    1 under a strategy with several replicas.

    An execution that straddles two epochs trains the same steps but logs
    wrong metrics for both (Keras 3.15), so every epoch must end on a call.
    Under MirroredStrategy and MultiWorkerMirroredStrategy, Keras 3.15's
    multi-step loop fails ("You must feed a value for placeholder tensor"):
    one step per call there.
    """
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        if requested > 1:
            logging.info(
                "--steps_per_execution=%d: 1 with %d replicas (Keras's multi-step "
                "loop fails under distribution).",
                requested,
                strategy.num_replicas_in_sync,
            )
        return 1
    return max(
        n
        for n in range(1, min(requested, steps_per_epoch) + 1)
        if steps_per_epoch % n == 0
    )


def jit_compile(mode, strategy):
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


@dataclasses.dataclass
class Inputs:
    """A run's data: the splits, and the pipelines built from them.

    `splits.train` holds the labels trained on (after `--label_noise`);
    `clean_train` the same examples with their original labels.
    """

    splits: datasets.Splits
    steps_per_epoch: int
    train: tf.data.Dataset | None  # None when no epoch is left to train
    clean_train: tf.data.Dataset | None = None  # default: splits.train
    # The epochs `train` holds: `first_epoch` to `epochs` (exclusive).
    first_epoch: int | None = None
    epochs: int | None = None

    def evaluation(self, config, split, stream):
        """Un-augmented, canonical order, with the random labels of `stream`."""
        return data.evaluation_dataset(
            split,
            batch_size=config.eval_batch_size,
            num_random_labels=config.num_random_labels,
            seed=config.seed,
            stream=stream,
        )

    def train_evaluation(self, config):
        """The clean training set (or its first `train_eval_examples`)."""
        return self.evaluation(
            config,
            self.splits.train.take(config.train_eval_examples or -1),
            data.TRAIN_STREAM,
        )

    def test(self, config):
        return self.evaluation(config, self.splits.test, data.TEST_STREAM)

    def with_training_stream(self, config, initial_epoch):
        """These inputs with the training stream of epochs `initial_epoch` to
        `config.epochs` (none when no epoch is left)."""
        train = None
        if initial_epoch < config.epochs:
            train = data.training_dataset(
                self.splits.train,
                batch_size=config.batch_size,
                num_random_labels=config.num_random_labels,
                seed=config.seed,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                augment=config.augment,
                horizontal_flip=self.splits.horizontal_flip,
            )
        return dataclasses.replace(
            self, train=train, first_epoch=initial_epoch, epochs=config.epochs
        )

    def check_stream(self, initial_epoch, epochs):
        """Raises `ValueError` unless the training stream holds exactly the
        epochs `initial_epoch` to `epochs` that `fit` is asked to train: Keras
        would train on a shorter one and only warn."""
        if (self.first_epoch, self.epochs) != (initial_epoch, epochs):
            raise ValueError(
                f"the training stream holds epochs {self.first_epoch} to "
                f"{self.epochs}, fit is asked for {initial_epoch} to {epochs}. "
                f"Received: initial_epoch={initial_epoch}, epochs={epochs}"
            )


def load_inputs(config):
    """Loads `config.dataset` (with `--label_noise` applied), no stream yet."""
    splits = datasets.load(
        config.dataset, config.data_dir, max_train_examples=config.max_train_examples
    )
    clean_train = splits.train
    splits = dataclasses.replace(
        splits,
        train=label_noise.with_label_noise(
            splits.train, config.label_noise, splits.num_classes, config.seed
        ),
    )
    steps = data.steps_per_epoch(splits.train, config.batch_size)
    return Inputs(splits, steps, None, clean_train)


def build_inputs(config, initial_epoch=0):
    """Loads `config.dataset` and builds the training stream from `initial_epoch`."""
    return load_inputs(config).with_training_stream(config, initial_epoch)
