"""`RandomLabelModel`: a classifier with random-label prediction heads."""

import keras
import tensorflow as tf

from keras_rlr import losses
from keras_rlr.heads import RandomLabelHeads


@keras.saving.register_keras_serializable(package="keras_rlr")
class RandomLabelModel(keras.Model):
    """A classifier that also learns, per class, to predict random labels.

    The network is split into a feature extractor `f` (weights `theta`), a dense
    class head `g` (`phi`, `C` logits) and `C` random-label heads `h` (`psi`, `R`
    logits each, fused into one `RandomLabelHeads` layer). Every training example
    carries a random label `rho`, fixed for the whole run
    (`keras_rlr.data.with_random_labels`). How well the heads predict `rho` on
    the training set measures how much the network memorizes single examples;
    pushing them back to chance through `f` (`reg_lambda > 0`) regularizes it.

    One training step runs the heads once and routes the gradients of each loss
    to its own variables (see `docs/method.md`):

    - `theta` <- grad of `L_class + reg_lambda * L_reg` (+ weight penalties),
    - `phi`   <- grad of `L_class` (+ its weight penalty),
    - `psi`   <- grad of `L_rand`, with the features held constant.

    With `reg_lambda=0` the heads are observers: the classifier trains exactly as
    it would without them.

    `model(x)` returns the class logits. `model.random_label_logits(x)` returns
    the heads' logits, `(batch, C, R)`. The data is `(image, {"label": y,
    "random_label": rho})`. Logged metrics: `loss` (the sum of every applied
    objective, `L_class + reg_lambda * L_reg + L_rand` plus weight penalties),
    `class_loss`, `random_label_loss`, `reg_loss`, `accuracy` (class) and
    `random_label_accuracy`.

    Args:
        feature_extractor: a Keras model or layer mapping images to flat features
            `(batch, D)`.
        num_classes: `C`.
        num_random_labels: `R` (at least 2); chance accuracy is `1 / R`.
        reg_lambda: weight of `L_reg` in the extractor's objective (>= 0).
        label_smoothing: label smoothing of the class loss only, in `[0, 1)`.
        weight_decay: L2 coefficient on the class head's kernel, so that its
            gradient is `weight_decay * kernel` (as `torch.optim.SGD`'s
            `weight_decay`). The random heads are never decayed: they are the
            measuring instrument.
        **kwargs: base `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    fe = keras_rlr.backbones.wide_resnet(depth=16, width=4, input_shape=(32, 32, 3))
    model = keras_rlr.RandomLabelModel(
        feature_extractor=fe, num_classes=100, num_random_labels=10
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    train = keras_rlr.data.with_random_labels(ds, num_random_labels=10, seed=0)
    model.fit(train.shuffle(10_000).batch(256), epochs=10)
    ```
    """

    def __init__(
        self,
        feature_extractor,
        num_classes,
        num_random_labels=10,
        reg_lambda=0.0,
        label_smoothing=0.0,
        weight_decay=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_arg("num_classes", num_classes, num_classes >= 2, ">= 2")
        _check_arg(
            "num_random_labels",
            num_random_labels,
            num_random_labels >= 2,
            ">= 2 (with one random label there is nothing to memorize)",
        )
        _check_arg("reg_lambda", reg_lambda, reg_lambda >= 0, ">= 0")
        _check_arg(
            "label_smoothing", label_smoothing, 0 <= label_smoothing < 1, "in [0, 1)"
        )
        _check_arg("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
        self.feature_extractor = feature_extractor
        self.num_classes = int(num_classes)
        self.num_random_labels = int(num_random_labels)
        self.reg_lambda = float(reg_lambda)
        self.label_smoothing = float(label_smoothing)
        self.weight_decay = float(weight_decay)
        # The last layers and every softmax stay in float32 under mixed precision.
        self.class_head = keras.layers.Dense(
            num_classes,
            kernel_regularizer=(
                keras.regularizers.L2(weight_decay / 2) if weight_decay else None
            ),
            dtype="float32",
            name="class_head",
        )
        self.random_heads = RandomLabelHeads(
            num_classes, num_random_labels, dtype="float32", name="random_heads"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.class_loss_tracker = keras.metrics.Mean(name="class_loss")
        self.random_label_loss_tracker = keras.metrics.Mean(name="random_label_loss")
        self.reg_loss_tracker = keras.metrics.Mean(name="reg_loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.random_label_accuracy_tracker = keras.metrics.Mean(
            name="random_label_accuracy"
        )
        # A functional extractor knows its input: build now, so that weights,
        # `summary()` and saving are complete before the first batch.
        input_shape = getattr(feature_extractor, "input_shape", None)
        if isinstance(input_shape, tuple) and feature_extractor.built:
            self.build(input_shape)

    # -- Structure -------------------------------------------------------------

    def build(self, input_shape):
        # Build every part here, not lazily in `call`: the heads never run in
        # `call`, and the optimizer and `.keras` loading only see built weights.
        if not self.feature_extractor.built:
            self.feature_extractor.build(input_shape)
        feature_shape = self.feature_extractor.compute_output_shape(input_shape)
        if len(feature_shape) != 2:
            raise ValueError(
                "The feature extractor must return flat features (batch, D); add a "
                "pooling or Flatten layer at its end. "
                f"Received: feature shape={feature_shape}"
            )
        for head in (self.class_head, self.random_heads):
            if not head.built:
                head.build(feature_shape)

    def call(self, inputs, training=None):
        return self.class_head(self.feature_extractor(inputs, training=training))

    def random_label_logits(self, inputs, training=False):
        """The random-label heads' logits `(batch, C, R)` for `inputs`."""
        return self.random_heads(self.feature_extractor(inputs, training=training))

    def _forward(self, inputs, training):
        features = self.feature_extractor(inputs, training=training)
        return self.class_head(features), self.random_heads(features)

    # -- Training --------------------------------------------------------------

    @property
    def metrics(self):
        return [
            self.loss_tracker,
            self.class_loss_tracker,
            self.random_label_loss_tracker,
            self.reg_loss_tracker,
            self.accuracy_tracker,
            self.random_label_accuracy_tracker,
        ]

    def train_step(self, data):
        x, labels, random_labels = self._unpack(data)
        with tf.GradientTape(persistent=True) as tape:
            class_logits, head_logits = self._forward(x, training=True)
            per_example = self._per_example_losses(
                labels, random_labels, class_logits, head_logits
            )
            penalty = self._weight_penalty()
            # Average over the *global* batch: optimizer.apply sums replicas.
            class_path_loss = tf.nn.compute_average_loss(
                per_example["class_loss"] + self.reg_lambda * per_example["reg_loss"]
            ) + tf.nn.scale_regularization_loss(penalty)
            heads_loss = tf.nn.compute_average_loss(per_example["random_label_loss"])
            # Loss scaling (mixed_float16): a no-op for other optimizers.
            class_path_loss = self.optimizer.scale_loss(class_path_loss)
            heads_loss = self.optimizer.scale_loss(heads_loss)

        # Two vector-Jacobian products through the one forward pass: each loss
        # reaches only its own variables, never a summed cotangent on the logits.
        class_path_vars = (
            self.feature_extractor.trainable_variables
            + self.class_head.trainable_variables
        )
        head_vars = self.random_heads.trainable_variables
        gradients = tape.gradient(class_path_loss, class_path_vars)
        gradients += tape.gradient(heads_loss, head_vars)
        del tape
        self.optimizer.apply(gradients, class_path_vars + head_vars)

        self._update_metrics(
            labels, random_labels, class_logits, head_logits, per_example, penalty
        )
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, labels, random_labels = self._unpack(data)
        class_logits, head_logits = self._forward(x, training=False)
        per_example = self._per_example_losses(
            labels, random_labels, class_logits, head_logits
        )
        self._update_metrics(
            labels,
            random_labels,
            class_logits,
            head_logits,
            per_example,
            self._weight_penalty(),
        )
        return {m.name: m.result() for m in self.metrics}

    def _unpack(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(
                "RandomLabelModel does not support sample weights. Pass data as "
                "(image, {'label': y, 'random_label': rho})."
            )
        if not isinstance(y, dict) or {"label", "random_label"} - set(y):
            raise ValueError(
                "RandomLabelModel expects targets {'label': y, 'random_label': rho}; "
                "wrap the dataset with keras_rlr.data.with_random_labels. "
                f"Received: y={y}"
            )
        labels = tf.reshape(tf.cast(y["label"], tf.int32), [-1])
        random_labels = tf.reshape(tf.cast(y["random_label"], tf.int32), [-1])
        # One-hot and gather would silently zero an out-of-range label.
        checks = [
            tf.debugging.assert_non_negative(
                labels, message="a class label in the data is negative"
            ),
            tf.debugging.assert_less(
                labels,
                self.num_classes,
                message=f"a class label in the data is >= num_classes="
                f"{self.num_classes}: labels must lie in [0, num_classes)",
            ),
            tf.debugging.assert_non_negative(
                random_labels, message="a random label in the data is negative"
            ),
            tf.debugging.assert_less(
                random_labels,
                self.num_random_labels,
                message=f"a random label in the data is >= num_random_labels="
                f"{self.num_random_labels}",
            ),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(x), tf.identity(labels), tf.identity(random_labels)

    def _per_example_losses(self, labels, random_labels, class_logits, head_logits):
        return {
            "class_loss": losses.class_loss(labels, class_logits, self.label_smoothing),
            "random_label_loss": losses.random_label_loss(
                labels, random_labels, head_logits
            ),
            "reg_loss": losses.reg_loss(labels, head_logits),
        }

    def _weight_penalty(self):
        # Kernel regularizers of the extractor and the class head; the heads
        # have none (see `weight_decay`).
        penalties = self.feature_extractor.losses + self.class_head.losses
        return tf.add_n(penalties) if penalties else tf.constant(0.0)

    def _update_metrics(
        self, labels, random_labels, class_logits, head_logits, per_example, penalty
    ):
        batch = tf.shape(labels)[0]
        total = (
            per_example["class_loss"]
            + self.reg_lambda * per_example["reg_loss"]
            + per_example["random_label_loss"]
        )
        self.loss_tracker.update_state(tf.reduce_mean(total) + penalty, batch)
        for name, tracker in (
            ("class_loss", self.class_loss_tracker),
            ("random_label_loss", self.random_label_loss_tracker),
            ("reg_loss", self.reg_loss_tracker),
        ):
            tracker.update_state(per_example[name])
        self.accuracy_tracker.update_state(labels, class_logits)
        self.random_label_accuracy_tracker.update_state(
            losses.random_label_accuracy(labels, random_labels, head_logits)
        )

    # -- Serialization ---------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "feature_extractor": keras.saving.serialize_keras_object(
                self.feature_extractor
            ),
            "num_classes": self.num_classes,
            "num_random_labels": self.num_random_labels,
            "reg_lambda": self.reg_lambda,
            "label_smoothing": self.label_smoothing,
            "weight_decay": self.weight_decay,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["feature_extractor"] = keras.saving.deserialize_keras_object(
            config["feature_extractor"]
        )
        return cls(**config)


def _check_arg(name, value, ok, expected):
    if not ok:
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value}")
