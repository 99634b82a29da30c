"""`RandomLabelModel`: a classifier with random-label prediction heads.

One class, long (about 990 lines, half of them docstrings that spell out the
gradient routing) because its train step holds three routed objectives and the
observer probes, which must share its one forward pass and its one
`optimizer.apply`, and because it builds from the first batch any extractor
Keras can train; splitting an existing classifier for `from_classifier` lives
in `keras_rlr.classifier_split`, the losses in `keras_rlr.losses`, the checks
of the data in `keras_rlr._data_checks`.
"""

import re
import weakref

import keras
import tensorflow as tf
from absl import logging

from keras_rlr import _data_checks as data_checks
from keras_rlr import classifier_split, losses
from keras_rlr._arguments import (
    check_arg,
    check_num_random_labels,
    weight_decay_regularizer,
)
from keras_rlr.heads import POOLING_MODES, FeaturePooling, RandomLabelHeads


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
    the heads' logits, `(batch, C, R)`. `model.classifier()` returns the
    trained classifier alone (extractor and class head) as one Keras model.

    Under mixed precision (`mixed_float16`, `mixed_bfloat16`) the heads
    compute in float32, given or default, `from_classifier`'s copies and probes
    included: their logits, and every softmax over them, are float32.

    The heads can sit at any depth (docs/method.md, "Split point"): pass the
    network's own last layers as `class_head` and `C` fused fresh copies of them
    (`keras_rlr.CopiedHeads`) as `random_heads`, or let `from_classifier` split
    an existing Keras classifier. The routing above is the same at every depth.

    With `single_output=True` (paper A.5) there is no class head: the class
    prediction is `p(c|x) = sum_r q[c, r]`, the extractor learns from `L_reg`
    alone and the heads from `L_rand`. `model(x)` then returns the class
    log-probabilities `log p(c|x)`: logits whose softmax is `p(c|x)`, so code
    written for logits works on both variants. `accuracy` and `class_loss`
    (logged, not trained) use this summed prediction. The data is `(image, {"label": y,
    "random_label": rho})`. Logged metrics: `loss` (the sum of every applied
    objective, `L_class + reg_lambda * L_reg + L_rand` plus weight penalties),
    `class_loss`, `random_label_loss`, `reg_loss`, `accuracy` (class) and
    `random_label_accuracy`, then `random_label_loss_<probe>` and
    `random_label_accuracy_<probe>` for each probe (see `probes`; they are not
    in `loss`, which stays comparable with and without probes).

    Args:
        feature_extractor: any Keras model or layer mapping inputs to features:
            functional, `Sequential` (with or without an `Input`), subclassed or
            lazily built (built from the first batch `fit` sees, or from
            `model.build(input_shape)`). Features may be flat `(batch, D)`,
            tokens `(batch, T, D)` or a map `(batch, H, W, D)`; see
            `feature_pooling`.
        num_classes: `C`.
        num_random_labels: `R` (at least 2); chance accuracy is `1 / R`.
        reg_lambda: weight of `L_reg` in the extractor's objective (>= 0).
        label_smoothing: label smoothing of the class loss only, in `[0, 1)`.
        weight_decay: L2 coefficient on the default class head's kernel, so
            that its gradient is `weight_decay * kernel` (as `torch.optim.SGD`'s
            `weight_decay`). A given `class_head` brings its own regularizers.
            The random heads are never decayed: they are the measuring
            instrument.
        class_head: a layer or model from features to `C` class logits
            (default: `Dense(C)`).
        random_heads: a layer from features to `(batch, C, R)` logits
            (default: `RandomLabelHeads(C, R)`).
        single_output: no class head; classes are predicted by the summed
            joint probabilities of the heads (paper A.5).
        probe_extractor: with `probes`, a functional model from images to
            `[features, probe_1 features, ...]`, whose first output is what
            `feature_extractor` returns, computed by the same layers (pass
            `feature_extractor=None` to derive it from this first output).
            Usually made by `from_classifier(..., probe_layers=...)`.
        probe_class_head: for probes shallower than the main split, a
            functional model from features to `[class logits, probe
            features, ...]` over the class head's layers (pass
            `class_head=None` to derive the class head from its first output).
        probes: observer heads at further split points, `{name: layer}` in the
            order of `probe_extractor`'s further outputs, then
            `probe_class_head`'s; each maps its
            features to `(batch, C, R)` logits. A probe trains on its own
            `L_rand` only, with its features held constant: nothing flows from
            it into the network, which trains exactly as without it. Each logs
            `random_label_loss_<name>` and `random_label_accuracy_<name>`
            (not part of `loss`).
        feature_pooling: how features of rank > 2 become the flat features the
            default heads read (`keras_rlr.heads.FeaturePooling`): `"mean"`
            (default; over all positions, or the valid ones under a Keras
            mask), `"class_token"` (`features[:, 0]` of `(batch, T, D)`), or
            `None` (the default heads then refuse features of rank > 2).
            Given heads (`class_head`, `random_heads`, `from_classifier`'s
            copies) read the extractor's output as it is. Flat features are
            never touched.
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
        class_head=None,
        random_heads=None,
        single_output=False,
        probe_extractor=None,
        probes=None,
        probe_class_head=None,
        feature_pooling="mean",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if class_head is None and probe_class_head is not None:
            # Shares the probe class head's layers: one set of weights.
            class_head = keras.Model(
                probe_class_head.inputs, probe_class_head.outputs[0], name="class_head"
            )
        if feature_extractor is None and probe_extractor is not None:
            # Shares the probe extractor's layers: one set of weights.
            feature_extractor = keras.Model(
                probe_extractor.inputs,
                probe_extractor.outputs[0],
                name=f"{probe_extractor.name}_features",
            )
        check_arg(
            "probes",
            probes,
            len(probes or {})
            == sum(
                len(m.outputs) - 1 for m in (probe_extractor, probe_class_head) if m
            ),
            "given with a probe_extractor and/or probe_class_head that have one "
            "output per probe after the features (the logits)",
        )
        check_arg("num_classes", num_classes, num_classes >= 2, ">= 2")
        check_num_random_labels(num_random_labels)
        check_arg("reg_lambda", reg_lambda, reg_lambda >= 0, ">= 0")
        check_arg(
            "label_smoothing", label_smoothing, 0 <= label_smoothing < 1, "in [0, 1)"
        )
        check_arg("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
        check_arg(
            "feature_pooling",
            feature_pooling,
            feature_pooling is None or feature_pooling in POOLING_MODES,
            f"one of {POOLING_MODES} or None",
        )
        if single_output:
            for name, value in (
                ("class_head", class_head),
                ("reg_lambda", reg_lambda or None),
                ("label_smoothing", label_smoothing or None),
            ):
                check_arg(
                    name,
                    value,
                    value is None,
                    "unset with single_output=True (no class head; the extractor "
                    "learns from L_reg alone)",
                )
        elif class_head is not None:
            check_arg(
                "weight_decay",
                weight_decay,
                not weight_decay,
                "0 with a given class_head (give its layers their own "
                "kernel_regularizer)",
            )
        self.feature_extractor = feature_extractor
        self.num_classes = int(num_classes)
        self.num_random_labels = int(num_random_labels)
        self.reg_lambda = float(reg_lambda)
        self.label_smoothing = float(label_smoothing)
        self.weight_decay = float(weight_decay)
        self.single_output = bool(single_output)
        self.feature_pooling = feature_pooling
        # The last layers and every softmax stay in float32 under mixed precision.
        # Defaults are rebuilt from the arguments on loading, not serialized.
        self._given_heads = (class_head is not None, random_heads is not None)
        if class_head is None and not single_output:
            class_head = keras.layers.Dense(
                num_classes,
                kernel_regularizer=weight_decay_regularizer(weight_decay),
                dtype="float32",
                name="class_head",
            )
        self.class_head = class_head
        if random_heads is None:
            random_heads = RandomLabelHeads(
                num_classes, num_random_labels, dtype="float32", name="random_heads"
            )
        self.random_heads = random_heads
        self.probe_extractor = probe_extractor
        self.probe_class_head = probe_class_head
        self.probe_names = tuple(probes or {})
        self.probes = list((probes or {}).values())
        for head in (class_head, random_heads, probe_class_head, *self.probes):
            _compute_in_float32(head)
        # What the default heads read from features of rank > 2.
        self.pooling = FeaturePooling(
            feature_pooling or "mean", dtype="float32", name="feature_pooling"
        )
        # The dtype of the inputs (int32 tokens, float32 images), known from
        # a functional extractor, the first batch, or the saved build config.
        self._input_dtype = None
        self.probe_loss_trackers = [
            keras.metrics.Mean(name=f"random_label_loss_{n}") for n in self.probe_names
        ]
        self.probe_accuracy_trackers = [
            keras.metrics.Mean(name=f"random_label_accuracy_{n}")
            for n in self.probe_names
        ]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.class_loss_tracker = keras.metrics.Mean(name="class_loss")
        self.random_label_loss_tracker = keras.metrics.Mean(name="random_label_loss")
        self.reg_loss_tracker = keras.metrics.Mean(name="reg_loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.random_label_accuracy_tracker = keras.metrics.Mean(
            name="random_label_accuracy"
        )
        # A functional extractor knows its input: build now, so that weights,
        # `summary()` and saving are complete before the first batch. Any
        # other extractor is built from the first batch (`fit`, `evaluate`,
        # `train_on_batch`, a call) or by `model.build(input_shape)`.
        input_shape = getattr(feature_extractor, "input_shape", None)
        if isinstance(input_shape, tuple) and feature_extractor.built:
            self.build(input_shape)

    @classmethod
    def from_classifier(
        cls,
        classifier,
        split_layer=None,
        num_random_labels=10,
        width_multiplier=1.0,
        conv_implementation="auto",
        single_output=False,
        probe_layers=None,
        *,
        split_after=None,
        probes_after=None,
        probe_kind="copies",
        **kwargs,
    ):
        """Splits a functional Keras classifier and puts copies of its tail on top.

        The paper's copy-depth heads on any network. A cut is one tensor that
        every path from the input to the output passes through; the layers
        after it form the tail. The feature extractor is the classifier up to
        the cut (it shares the classifier's layers); the class head is the
        tail itself (fresh layers holding the tail's current weights); the
        random heads are `C` fresh copies of the tail, each ending in `R`
        outputs: fused into one `CopiedHeads` layer when the tail is a chain
        of the layers it supports, else one `CopiedTail` (any layers, branches
        and merges). A final softmax (an activation of the last `Dense`, or a
        `Softmax` / `Activation("softmax")` layer) is removed: the class head
        returns logits. Cutting at the input copies the whole network: the
        extractor is then the identity, with no weights.

        A layer inside a nested model is named by its path: `"outer/inner"`
        (a Sequential wrapping a MobileNetV2: `"mobilenetv2_1.00_32/block_5_add"`;
        a KerasHub ViT: `"vit_backbone/vit_encoder/transformer_block_1"`). A
        point that a skip connection (or a mask) jumps over is not a cut: it
        is refused, naming the layer that jumps and the nearest cuts.

        Args:
            classifier: a functional (or built `Sequential`) `keras.Model`
                with one input and one output, `(batch, C)`, ending in a
                `Dense` (then an optional softmax).
            split_layer: name of the first layer of the tail: the cut is its
                input, which it alone reads (default: the input of the last
                `Dense` layer). The way to name cuts in a chain (VGG16's copy
                depths, `keras_rlr.backbones.vgg16_split_layer`).
            num_random_labels: `R`.
            width_multiplier: widens the hidden layers of the copies (fused
                chains only).
            conv_implementation: how the fused copies' convolutions run (see
                `CopiedHeads`).
            single_output: no class head (paper A.5).
            probe_layers: names of further first-layers-of-a-tail (as
                `split_layer`): a probe (`C` fresh copies of the tail from that
                cut, see `probes` in the class docstring) observes there. A
                probe is named `d<k>` after its copy depth `k` (the `Dense` and
                `Conv2D` layers of its tail), so its metrics are
                `random_label_accuracy_d<k>`, ...; two probes (or a probe and
                the heads) of one depth are refused: use `probes_after`.
            split_after: name (or path) of the layer whose output is the cut,
                e.g. `"block_12_add"`; instead of `split_layer`.
            probes_after: names (or paths) of layers whose outputs are further
                cuts, before or after the main one. Such a probe is named by
                its path with `/` written as `.`: its metrics are
                `random_label_accuracy_block_5_add`, ...
            probe_kind: what every probe is: `"copies"` (`C` fresh copies of
                the tail from its cut, the paper's copy-depth heads) or
                `"pooled"` (the cut's features averaged over all positions into
                `C` fresh `Dense(R)` heads: a cheaper, different instrument;
                its name, so its metrics, start with `pooled_`:
                `random_label_accuracy_pooled_block_5_add`,
                `random_label_accuracy_pooled_d3`).
            **kwargs: further `RandomLabelModel` arguments (`reg_lambda`,
                `label_smoothing`, `name`, ...). Weight decay comes from the
                classifier's own kernel regularizers.

        Returns:
            A built `RandomLabelModel`.

        Example:

        ```python
        vgg = keras_rlr.backbones.vgg16(num_classes=100, width=0.25)
        model = keras_rlr.RandomLabelModel.from_classifier(
            vgg, split_layer=keras_rlr.backbones.vgg16_split_layer(7)
        )
        mobilenet = keras.applications.MobileNetV2(
            weights=None, input_shape=(32, 32, 3), classes=10, alpha=0.35
        )
        model = keras_rlr.RandomLabelModel.from_classifier(
            mobilenet, split_after="block_12_add", probes_after=["block_5_add"]
        )
        ```
        """
        parts = classifier_split.split_classifier(
            classifier,
            split_layer=split_layer,
            num_random_labels=num_random_labels,
            width_multiplier=width_multiplier,
            conv_implementation=conv_implementation,
            single_output=single_output,
            probe_layers=tuple(probe_layers or ()),
            split_after=split_after,
            probes_after=tuple(probes_after or ()),
            probe_kind=probe_kind,
        )
        return cls(
            parts.feature_extractor,
            num_classes=parts.num_classes,
            num_random_labels=num_random_labels,
            class_head=parts.class_head,
            random_heads=parts.random_heads,
            single_output=single_output,
            probe_extractor=parts.probe_extractor,
            probes=parts.probes,
            probe_class_head=parts.probe_class_head,
            **kwargs,
        )

    # -- Structure -------------------------------------------------------------

    def build(self, input_shape):
        # Build every part here, not lazily in `call`: the heads never run in
        # `call`, and the optimizer and `.keras` loading only see built weights.
        # The extractor runs once on a symbolic batch: that builds any
        # extractor Keras can call (lazily built, Sequential without `Input`,
        # subclassed without `compute_output_shape`) and gives its features.
        inputs = keras.KerasTensor(tuple(input_shape), dtype=self.input_dtype)
        try:
            features = self.feature_extractor(inputs, training=False)
        except Exception as error:
            raise ValueError(
                f"The feature extractor ({type(self.feature_extractor).__name__} "
                f"{self.feature_extractor.name!r}) cannot run on inputs of shape "
                f"{tuple(input_shape)} and dtype {self.input_dtype}, which is how "
                "the model builds it: check the input shape and dtype, or that "
                "its call() runs on a symbolic batch (as keras.Model.fit "
                f"needs). Received: {type(error).__name__}: {_cause(error)}"
            ) from None
        feature_shape = tuple(features.shape)
        pooled_shape = self._check_feature_shape(feature_shape)
        for head, given in zip(
            (self.class_head, self.random_heads), self._given_heads, strict=True
        ):
            if head is not None and not head.built:
                head.build(feature_shape if given else pooled_shape)
                _compute_in_float32(head)  # layers it made in `build`, too
        for probe, tensor in zip(self.probes, self._probe_inputs(), strict=True):
            if not probe.built:
                probe.build((None, *tensor.shape[1:]))
        if not self.feature_extractor.trainable_weights:
            logging.warning(
                "The feature extractor of %s has no trainable weights (the heads "
                "copy the whole network): L_reg has nothing to train, and "
                "reg_lambda has no effect.",
                self.name,
            )

    @property
    def input_dtype(self):
        """The dtype of the model's inputs: what the first batch or a
        functional extractor's `Input` says, else float32."""
        if self._input_dtype is not None:
            return self._input_dtype
        inputs = getattr(self.feature_extractor, "inputs", None)
        if inputs and len(inputs) == 1:
            return keras.backend.standardize_dtype(inputs[0].dtype)
        return "float32"

    def _check_feature_shape(self, feature_shape):
        """The shape the default heads read, after refusing what they cannot."""
        if len(feature_shape) == 2:
            return feature_shape
        for head, given, name in (
            (self.class_head, self._given_heads[0], "class_head"),
            (self.random_heads, self._given_heads[1], "random_heads"),
        ):
            if given and isinstance(head, (keras.layers.Dense, RandomLabelHeads)):
                raise ValueError(
                    f"The given {name} ({type(head).__name__}) reads flat features "
                    "(batch, D), but the feature extractor returns "
                    f"{feature_shape}; feature_pooling pools for the default "
                    "heads only. End the extractor with a pooling layer (e.g. "
                    "keras.layers.GlobalAveragePooling1D/2D), or leave "
                    f"{name} to the default. Received: feature shape="
                    f"{feature_shape}"
                )
        if self._pools() and self.feature_pooling is None:
            raise ValueError(
                "The default heads read flat features (batch, D), but the "
                f"feature extractor returns {feature_shape}. Pass "
                "feature_pooling='mean' (or 'class_token' for (batch, tokens, "
                "D)), or end the extractor with a pooling layer. Received: "
                "feature_pooling=None"
            )
        if (
            self._pools()
            and self.feature_pooling == "class_token"
            and len(feature_shape) != 3
        ):
            raise ValueError(
                "feature_pooling='class_token' takes the first token of "
                "(batch, tokens, D) features, but the feature extractor returns "
                f"{feature_shape}. Pass feature_pooling='mean'. Received: "
                "feature_pooling='class_token'"
            )
        return (feature_shape[0], feature_shape[-1])

    def _pools(self):
        """Whether a default head reads pooled features of rank > 2 (a
        single-output model has no class head)."""
        return not self._given_heads[1] or not (
            self._given_heads[0] or self.single_output
        )

    def _head_inputs(self, features):
        """`(class head input, random heads input)`: the extractor's features,
        pooled by `feature_pooling` for a default head when of rank > 2."""
        if len(features.shape) == 2 or not self._pools():
            return features, features
        pooled = self.pooling(features)
        return tuple(features if given else pooled for given in self._given_heads)

    def call(self, inputs, training=None):
        if self._input_dtype is None and hasattr(inputs, "dtype"):
            self._input_dtype = keras.backend.standardize_dtype(inputs.dtype)
        class_input, heads_input = self._head_inputs(
            self.feature_extractor(inputs, training=training)
        )
        if self.single_output:
            return losses.summed_class_log_probs(
                self.random_heads(heads_input, training=training)
            )
        return self.class_head(class_input, training=training)

    def random_label_logits(self, inputs, training=False):
        """The random-label heads' logits `(batch, C, R)` for `inputs`."""
        _, heads_input = self._head_inputs(
            self.feature_extractor(inputs, training=training)
        )
        return self.random_heads(heads_input, training=training)

    def classifier(self, name=None):
        """The trained classifier alone: the extractor and the class head as
        one functional Keras model, `inputs -> (batch, C)` class logits.

        It shares this model's layers (the weights are not copied): it
        predicts as `model(x)` does, saves (`.keras`) and exports
        (`classifier.export(path)`) as any Keras model, without the random
        heads or probes. After `from_classifier`, this, not the `classifier`
        object passed there, is the trained classifier: that object shares
        the trained extractor but keeps its own untrained tail (the class
        head is a copy of it).

        Args:
            name: the model's name (default: `<this model's name>_classifier`).

        Returns:
            A `keras.Model`.
        """
        if self.single_output:
            raise ValueError(
                "A single_output=True model has no class head: it predicts "
                "classes from its random-label heads. Use the model itself "
                "(model.predict, keras_rlr.export.export_saved_model). "
                "Received: single_output=True"
            )
        input_shape = (self.get_build_config() or {}).get("input_shape")
        if not self.built or not input_shape:
            raise ValueError(
                "The model is not built, so its input is unknown: fit it or call "
                "model.build(input_shape) first. Received: model.built=False"
            )
        inputs = keras.Input(
            batch_shape=(None, *tuple(input_shape)[1:]), dtype=self.input_dtype
        )
        class_input, _ = self._head_inputs(self.feature_extractor(inputs))
        return keras.Model(
            inputs,
            self.class_head(class_input),
            name=name or f"{self.name}_classifier",
        )

    def _probe_inputs(self):
        # The symbolic tensors the probes read, in their order.
        return [
            tensor
            for model in (self.probe_extractor, self.probe_class_head)
            if model is not None
            for tensor in model.outputs[1:]
        ]

    def _forward_with_probes(self, inputs, training):
        # One pass of the extractor's layers gives the main and probe features.
        if self.probe_extractor is not None:
            features, *probe_features = self.probe_extractor(inputs, training=training)
        else:
            features, probe_features = (
                self.feature_extractor(inputs, training=training),
                [],
            )
        class_input, heads_input = self._head_inputs(features)
        head_logits = self.random_heads(heads_input, training=training)
        if self.single_output:
            return (
                losses.summed_class_log_probs(head_logits),
                head_logits,
                probe_features,
            )
        if self.probe_class_head is not None:  # probes inside the class head
            class_logits, *inner = self.probe_class_head(class_input, training=training)
            return class_logits, head_logits, [*probe_features, *inner]
        return (
            self.class_head(class_input, training=training),
            head_logits,
            probe_features,
        )

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
            *self.probe_loss_trackers,
            *self.probe_accuracy_trackers,
        ]

    def train_step(self, data):
        x, labels, random_labels = self._unpack(data)
        global_batch = tf.cast(
            tf.shape(labels)[0] * tf.distribute.get_strategy().num_replicas_in_sync,
            tf.float32,
        )
        with tf.GradientTape(persistent=True) as tape:
            class_logits, head_logits, probe_features = self._forward_with_probes(
                x, training=True
            )
            per_example = self._per_example_losses(
                labels, random_labels, class_logits, head_logits
            )
            penalty = self._weight_penalty()
            # Average over the *global* batch: optimizer.apply sums replicas.
            class_path_loss = _global_average(
                self._class_path_objective(per_example), global_batch
            ) + tf.nn.scale_regularization_loss(penalty)
            heads_loss = _global_average(per_example["random_label_loss"], global_batch)
            # Loss scaling (mixed_float16): a no-op for other optimizers.
            class_path_loss = self.optimizer.scale_loss(class_path_loss)
            heads_loss = self.optimizer.scale_loss(heads_loss)

        # Two vector-Jacobian products through the one forward pass: each loss
        # reaches only its own variables, never a summed cotangent on the logits.
        class_path_vars, head_vars, _ = self._trained_variables()
        gradients = tape.gradient(class_path_loss, class_path_vars)
        gradients += tape.gradient(heads_loss, head_vars)
        del tape
        probe_gradients, probe_vars = self._probe_gradients(
            labels, random_labels, probe_features, global_batch
        )
        self.optimizer.apply(
            gradients + probe_gradients, class_path_vars + head_vars + probe_vars
        )

        self._update_metrics(
            labels, random_labels, class_logits, head_logits, per_example, penalty
        )
        return {m.name: m.result() for m in self.metrics}

    def _trained_variables(self):
        """`(class path, heads, probes)`: the variables of the class-path loss,
        of the heads' loss and of the probes' losses, in the order
        `train_step` hands their gradients to the optimizer."""
        class_path = self.feature_extractor.trainable_variables + (
            self.class_head.trainable_variables if self.class_head is not None else []
        )
        probes = [v for probe in self.probes for v in probe.trainable_variables]
        return class_path, self.random_heads.trainable_variables, probes

    def make_train_function(self, force=False):
        # The optimizer's variables are built here, before the step is traced,
        # in the order `train_step` applies gradients (the order of backups
        # and saved optimizer states). Keras builds them inside the first
        # trace when no strategy is set, and `tf.function` then traces a
        # function that created variables a second time: the whole training
        # step twice, 0.5 s or more at the start of every CPU-scale run.
        if self.built and self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(sum(self._trained_variables(), []))
        return super().make_train_function(force)

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        **kwargs,
    ):
        # The model computes its own losses and metrics (see the class
        # docstring): a loss or metric given here would never be used.
        for name, value in (
            ("loss", loss),
            ("loss_weights", loss_weights),
            ("metrics", metrics),
            ("weighted_metrics", weighted_metrics),
        ):
            if value is not None and not (
                isinstance(value, list | tuple | dict) and not value
            ):
                raise ValueError(
                    f"RandomLabelModel computes its own losses and metrics, so "
                    f"compile() takes no `{name}`: it trains on L_class + "
                    "reg_lambda * L_reg (extractor and class head) and L_rand "
                    "(heads), and logs loss, class_loss, random_label_loss, "
                    "reg_loss, accuracy and random_label_accuracy. Pass only the "
                    f"optimizer (and Keras options such as jit_compile). "
                    f"Received: {name}={value!r}"
                )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # What Keras does on loading, which it skips for a model whose
        # `compile` is its own: compile, then build the optimizer's state so
        # that the saved state can be loaded into it.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(sum(self._trained_variables(), []))

    # One line for bad data found in the graph (an out-of-range label, a NaN
    # input), not TensorFlow's "Graph execution error" and trace.
    def fit(self, *args, **kwargs):
        with data_checks.errors_in_one_line():
            return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        with data_checks.errors_in_one_line():
            return super().evaluate(*args, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        with data_checks.errors_in_one_line():
            return super().train_on_batch(*args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        with data_checks.errors_in_one_line():
            return super().test_on_batch(*args, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Called by `fit`, `evaluate`, `train_on_batch` and `test_on_batch`
        # with the data, before the optimizer is built. Keras builds a model
        # here only under a strategy, and otherwise inside the first trace of
        # the step, after `make_train_function` built the optimizer for the
        # variables that existed then: an unbuilt extractor is built from the
        # first batch here, always.
        if not self.built and self._distribute_strategy is None:
            if iterator is not None:
                for _, _, batches in iterator:
                    data_batch = next(batches)  # `fit` resets the iterator
                    break
            x = keras.utils.unpack_x_y_sample_weight(data_batch)[0]
            if hasattr(x, "shape") and hasattr(x, "dtype"):
                self._input_dtype = keras.backend.standardize_dtype(x.dtype)
                self.build((None, *x.shape[1:]))
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def reset_metrics(self):
        # Keras resets metric variables one eager assign at a time, ~70 us each
        # on a CPU core, and this model has twelve or more: most of what a
        # small model's `train_on_batch` cost beyond its step. One traced call
        # runs every metric's own `reset_state`.
        reset = _METRIC_RESETS.get(self)
        if reset is None:
            metrics = tuple(self.metrics)  # the function holds these, not self

            def reset_each():
                for metric in metrics:
                    metric.reset_state()

            # A concrete function: called without tf.function's dispatch.
            reset = tf.function(reset_each).get_concrete_function()
            _METRIC_RESETS[self] = reset
        reset()

    def test_step(self, data):
        x, labels, random_labels = self._unpack(data)
        class_logits, head_logits, probe_features = self._forward_with_probes(
            x, training=False
        )
        for probe, features, loss_tracker, accuracy_tracker in self._each_probe(
            probe_features
        ):
            logits = probe(features, training=False)
            self._update_probe_metrics(
                labels,
                random_labels,
                logits,
                losses.random_label_loss(labels, random_labels, logits),
                loss_tracker,
                accuracy_tracker,
            )
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

    def _each_probe(self, probe_features):
        """`(probe, its features, loss tracker, accuracy tracker)` per probe."""
        return zip(
            self.probes,
            probe_features,
            self.probe_loss_trackers,
            self.probe_accuracy_trackers,
            strict=True,
        )

    def _probe_gradients(self, labels, random_labels, probe_features, global_batch):
        """Each probe's `L_rand` gradients, on its features held constant.

        A tape of its own, over the probes only: nothing reaches the network.
        Returns `(gradients, variables)` to append to the one `optimizer.apply`.
        """
        gradients, variables = [], []
        for probe, features, loss_tracker, accuracy_tracker in self._each_probe(
            probe_features
        ):
            features = tf.stop_gradient(features)
            with tf.GradientTape() as tape:
                logits = probe(features, training=True)
                per_example = losses.random_label_loss(labels, random_labels, logits)
                # Global-batch average and loss scaling, as the heads' loss.
                loss = self.optimizer.scale_loss(
                    _global_average(per_example, global_batch)
                )
            gradients += tape.gradient(loss, probe.trainable_variables)
            variables += probe.trainable_variables
            self._update_probe_metrics(
                labels,
                random_labels,
                logits,
                per_example,  # the loss just differentiated, not a second one
                loss_tracker,
                accuracy_tracker,
            )
        return gradients, variables

    def _update_probe_metrics(
        self,
        labels,
        random_labels,
        logits,
        per_example_loss,
        loss_tracker,
        accuracy_tracker,
    ):
        batch = tf.cast(tf.shape(labels)[0], tf.float32)
        hits = losses.random_label_accuracy(labels, random_labels, logits)
        _accumulate(loss_tracker, tf.reduce_sum(per_example_loss), batch)
        _accumulate(accuracy_tracker, tf.reduce_sum(hits), batch)

    def _unpack(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(
                "RandomLabelModel does not support sample weights (a third "
                "element of each batch, or fit(sample_weight=...)). Pass data as "
                "(image, {'label': y, 'random_label': rho}), as "
                "keras_rlr.data.with_random_labels makes it. Received: "
                f"sample_weight={data_checks.describe(sample_weight)}"
            )
        if not isinstance(y, dict) or {"label", "random_label"} - set(y):
            raise ValueError(
                "RandomLabelModel expects targets {'label': y, 'random_label': rho}; "
                "wrap the dataset with keras_rlr.data.with_random_labels. "
                f"Received: y={data_checks.describe(y)}"
            )
        for key in ("label", "random_label"):
            data_checks.check_label_spec(key, y[key])
        labels = tf.reshape(tf.cast(y["label"], tf.int32), [-1])
        random_labels = tf.reshape(tf.cast(y["random_label"], tf.int32), [-1])
        # One-hot and gather would silently zero an out-of-range label.
        checks = [
            data_checks.range_check(
                labels, self.num_classes, "class label", "num_classes"
            ),
            data_checks.range_check(
                random_labels,
                self.num_random_labels,
                "random label",
                "num_random_labels",
            ),
        ]
        if isinstance(x, tf.Tensor) and x.dtype.is_floating:
            # One pass over the input batch: a NaN or Inf pixel would poison
            # every weight without a word.
            checks.append(data_checks.finite_check(x))
        with tf.control_dependencies(checks):
            return tf.identity(x), tf.identity(labels), tf.identity(random_labels)

    def _per_example_losses(self, labels, random_labels, class_logits, head_logits):
        # The head losses and the metric share one logsumexp and one gather.
        random_label_loss, reg_loss, hits = losses.head_losses(
            labels, random_labels, head_logits
        )
        return {
            "class_loss": losses.class_loss(labels, class_logits, self.label_smoothing),
            "random_label_loss": random_label_loss,
            "reg_loss": reg_loss,
            "random_label_hits": hits,
        }

    def _class_path_objective(self, per_example):
        # What the extractor (and the class head) minimize, per example.
        if self.single_output:
            return per_example["reg_loss"]
        if not self.reg_lambda:
            # Not `+ 0 * L_reg`: that would push a zero cotangent back through
            # the heads into the extractor, the cost of a second backward pass.
            return per_example["class_loss"]
        return per_example["class_loss"] + self.reg_lambda * per_example["reg_loss"]

    def _weight_penalty(self):
        # Kernel regularizers of the extractor and the class head; the heads
        # have none (see `weight_decay`).
        penalties = self.feature_extractor.losses + (
            self.class_head.losses if self.class_head is not None else []
        )
        return tf.add_n(penalties) if penalties else tf.constant(0.0)

    def _update_metrics(
        self, labels, random_labels, class_logits, head_logits, per_example, penalty
    ):
        batch = tf.cast(tf.shape(labels)[0], tf.float32)
        total = (
            self._class_path_objective(per_example) + per_example["random_label_loss"]
        )
        # `update_state(mean + penalty, sample_weight=batch)`'s sums.
        _accumulate(self.loss_tracker, (tf.reduce_mean(total) + penalty) * batch, batch)
        for tracker, per_example_values in (
            (self.class_loss_tracker, per_example["class_loss"]),
            (self.random_label_loss_tracker, per_example["random_label_loss"]),
            (self.reg_loss_tracker, per_example["reg_loss"]),
            (self.accuracy_tracker, losses.class_hits(labels, class_logits)),
            (self.random_label_accuracy_tracker, per_example["random_label_hits"]),
        ):
            _accumulate(tracker, tf.reduce_sum(per_example_values), batch)

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
            "class_head": keras.saving.serialize_keras_object(self.class_head)
            if self._given_heads[0]
            else None,
            "random_heads": keras.saving.serialize_keras_object(self.random_heads)
            if self._given_heads[1]
            else None,
            "single_output": self.single_output,
            "feature_pooling": self.feature_pooling,
            **self._probes_config(),
        }

    def get_build_config(self):
        config = super().get_build_config()
        if config and "input_shape" in config:
            config = {**config, "input_dtype": self.input_dtype}
        return config

    def build_from_config(self, config):
        config = dict(config or {})
        self._input_dtype = config.pop("input_dtype", None)
        super().build_from_config(config)

    def _probes_config(self):
        if not self.probes:
            return {}
        # The main extractor (class head) is rebuilt from the probe extractor's
        # (probe class head's) first output on loading, so that the two share
        # their layers again.
        config = {
            "probe_extractor": keras.saving.serialize_keras_object(
                self.probe_extractor
            ),
            "probe_class_head": keras.saving.serialize_keras_object(
                self.probe_class_head
            ),
            "probes": {
                name: keras.saving.serialize_keras_object(probe)
                for name, probe in zip(self.probe_names, self.probes, strict=True)
            },
        }
        if self.probe_extractor is not None:
            config["feature_extractor"] = None
        if self.probe_class_head is not None:
            config["class_head"] = None
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in (
            "feature_extractor",
            "class_head",
            "random_heads",
            "probe_extractor",
            "probe_class_head",
        ):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        if config.get("probes") is not None:
            config["probes"] = {
                name: keras.saving.deserialize_keras_object(probe)
                for name, probe in config["probes"].items()
            }
        return cls(**config)


# Starts the message of every in-graph check of the data (`train.py` turns
# such a failure into one line); defined with the checks.
BAD_DATA = data_checks.BAD_DATA

# model -> its traced `reset_metrics`; kept off the model, where a tf.function
# attribute would be tracked (and exported) as part of it.
_METRIC_RESETS = weakref.WeakKeyDictionary()


def _cause(error):
    """The first line of `error` that says what went wrong: Keras wraps a
    layer's error in "Exception encountered when calling ..." and ANSI bold."""
    lines = [
        re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()
    ]
    lines = [line for line in lines if line]
    told = [line for line in lines if not line.startswith("Exception encountered")]
    return (told or lines or [""])[0]


def _compute_in_float32(head):
    """Makes a head compute in float32 under a mixed precision policy.

    A head given to the model (or copied by `from_classifier`) was made under
    the global policy: under `mixed_float16` its layers compute, and return
    logits, in float16. Each of its layers with a mixed policy (float32
    variables, lower-precision compute) gets the float32 policy, so that it
    casts its inputs to float32; its variables are float32 already.
    """
    if head is None:
        return
    for layer in head._flatten_layers(include_self=True):
        policy = layer.dtype_policy
        if (
            policy.quantization_mode is None
            and policy.variable_dtype == "float32"
            and policy.compute_dtype in ("float16", "bfloat16")
        ):
            layer.dtype_policy = "float32"


def _global_average(per_example, global_batch):
    """`tf.nn.compute_average_loss(per_example)`, the sum over this replica's
    examples divided by the global batch, without its run-time checks of the
    batch size (an `Assert` and four more ops per loss, on every step)."""
    return tf.math.divide_no_nan(tf.reduce_sum(per_example), global_batch)


def _accumulate(mean, total, count):
    """What `mean.update_state(values)` adds, given `total = sum(values)` and
    `count = len(values)`, for a `keras.metrics.Mean` (or a `MeanMetricWrapper`
    such as `SparseCategoricalAccuracy`): the same two sums, without the
    casts, reshapes and sample-weight handling `update_state` traces for each
    metric (a small model's step spends more on those ops than on its heads).
    Each sum is one `AssignAddVariableOp` on the backend variable (`.value`):
    a Keras variable's `assign_add` reads, adds and assigns, three ops.
    """
    mean.total.value.assign_add(total)
    mean.count.value.assign_add(count)
