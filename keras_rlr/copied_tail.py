"""`CopiedTail`: `C` fresh copies of any Keras sub-network, run as one layer."""

import copy

import keras
import tensorflow as tf
from keras import ops

from keras_rlr._arguments import check_arg

IMPLEMENTATIONS = ("auto", "loop", "vectorized")

# What implementation="auto" runs, from benchmarks/copied_tail.py on this
# project's CPU (docs/heads_at_any_depth.md, three runs): for tails with
# convolutions (MobileNetV2, ResNet50 and EfficientNetB0 blocks) the loop took
# 0.99x to 1.11x the time of C separate Keras clones and tf.vectorized_map
# 1.3x to 7.4x (it turns convolutions whose filters differ per copy into a
# while loop); for a transformer block the vectorized copies took 0.59x to
# 0.85x, the loop 0.91x to 1.22x. Recurrent layers (a while loop per copy)
# stay in the loop too.
_LOOPED = ("Conv", "RNN", "LSTM", "GRU")


def choose(implementation, template):
    """The implementation `implementation="auto"` runs for `template`."""
    if implementation != "auto":
        return implementation
    names = [type(layer).__name__ for layer in template._flatten_layers()]
    if any(part in name for name in names for part in _LOOPED):
        return "loop"
    return "vectorized"


@keras.saving.register_keras_serializable(package="keras_rlr")
class CopiedTail(keras.layers.Layer):
    """`C` fresh copies of a functional sub-network, each ending in `R` outputs.

    The copy-depth heads of the paper (docs/method.md, "Split point") for a
    tail that branches, merges or holds any Keras layer (depthwise and 1-D
    convolutions, layer normalization, attention, recurrent layers, nested
    models, ...): the `template` is one copy, a functional model from the
    features to `R` logits. Each copy has its own variables (`copy<c>_...`,
    see `copy_weights`), whatever the implementation; the copies run the
    template with `template.stateless_call` on their own weights, one after
    another (`implementation="loop"`: the cost of `C` separate Keras models)
    or vectorized over the copies with `tf.vectorized_map` over their weights
    stacked per call (`"vectorized"`); `"auto"` runs the fastest measured
    (`benchmarks/copied_tail.py`, `choose`): the loop for tails with
    convolutions or recurrent layers, else vectorized. A tail that is a chain
    of `Dense`, `Conv2D` and a few more layers is faster as `CopiedHeads`
    (fused).

    Each copy is initialized as a fresh layer would be, with its own draw (a
    fixed initializer seed is offset by the copy's index). The copies carry no
    weight penalty: they are the measuring instrument. Non-trainable state
    (batch-norm moving statistics, dropout seeds) is per copy and updated in
    training.

    Args:
        template: a functional `keras.Model` (or its
            `keras.saving.serialize_keras_object` dict) from the features to
            `(batch, R)` logits; only its configuration is used, never its
            weights.
        num_copies: `C`, the number of copies (one per class).
        implementation: one of `IMPLEMENTATIONS`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Example:

    >>> inputs = keras.Input((4, 8))
    >>> x = keras.layers.LayerNormalization()(inputs)
    >>> x = keras.layers.GlobalAveragePooling1D()(x)
    >>> template = keras.Model(inputs, keras.layers.Dense(5)(x))
    >>> heads = CopiedTail(template, num_copies=3)
    >>> heads(keras.ops.ones((2, 4, 8))).shape
    (2, 3, 5)
    """

    def __init__(self, template, num_copies, implementation="auto", **kwargs):
        super().__init__(**kwargs)
        check_arg("num_copies", num_copies, num_copies >= 1, ">= 1")
        check_arg(
            "implementation",
            implementation,
            implementation in IMPLEMENTATIONS,
            f"one of {IMPLEMENTATIONS}",
        )
        if isinstance(template, keras.Model):
            template = keras.saving.serialize_keras_object(template)
        self.template = copy.deepcopy(template)
        self.num_copies = int(num_copies)
        self.implementation = implementation
        model = keras.saving.deserialize_keras_object(copy.deepcopy(template))
        if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
            raise ValueError(
                "The template of CopiedTail must return one (batch, R) tensor. "
                f"Received: outputs={model.outputs}"
            )
        self.num_outputs = int(model.outputs[0].shape[-1])
        # The template is untracked: its own weights are never used.
        object.__setattr__(self, "_template", model)

    def build(self, input_shape):
        template = self._template
        # Each copy's own variables, copy-major: copy c's are
        # `copy_trainable[c * J:(c + 1) * J]` in the order of the template's
        # trainable variables (and likewise the non-trainable ones).
        self.copy_trainable, self.copy_non_trainable = [], []
        for c in range(self.num_copies):
            draw = self._fresh(c)  # a fresh model: its own initial draw
            for kind, variables in (
                ("trainable", template.trainable_variables),
                ("non_trainable", template.non_trainable_variables),
            ):
                for variable, value in zip(variables, draw[kind], strict=True):
                    getattr(self, f"copy_{kind}").append(
                        self.add_weight(
                            name=f"copy{c}_" + variable.path.replace("/", "_"),
                            shape=tuple(variable.shape),
                            dtype=variable.dtype,
                            initializer=_constant(value),
                            trainable=kind == "trainable",
                        )
                    )

    def _fresh(self, c):
        config = _offset_seeds(copy.deepcopy(self.template), c)
        model = keras.saving.deserialize_keras_object(config)
        return {
            "trainable": [v.numpy() for v in model.trainable_variables],
            "non_trainable": [v.numpy() for v in model.non_trainable_variables],
        }

    def copy_weights(self, c):
        """`(trainable, non_trainable)`: copy `c`'s variables, in the order of
        the template's `trainable_variables` and `non_trainable_variables`."""
        j = len(self.copy_trainable) // self.num_copies
        k = len(self.copy_non_trainable) // self.num_copies
        return (
            self.copy_trainable[c * j : (c + 1) * j],
            self.copy_non_trainable[c * k : (c + 1) * k],
        )

    def call(self, inputs, training=None):
        weights = [
            ([v.value for v in t], [v.value for v in n])
            for t, n in map(self.copy_weights, range(self.num_copies))
        ]
        # A deserialized functional model takes its one input in a list.
        x = [inputs] if isinstance(self._template.input, list) else inputs

        def one(copy_weights):
            return self._template.stateless_call(*copy_weights, x, training=training)

        if choose(self.implementation, self._template) == "vectorized":
            # Each variable stacked over the copies, (C, ...), per call.
            stacked = tuple(
                [ops.stack([w[i][j] for w in weights]) for j in range(len(group))]
                for i, group in enumerate(weights[0])
            )
            outputs, stacked_states = tf.vectorized_map(one, stacked)
            states = [[s[c] for s in stacked_states] for c in range(len(weights))]
        else:
            each = [one(w) for w in weights]
            outputs = ops.stack([e[0] for e in each])
            states = [e[1] for e in each]
        if training:
            for c, values in enumerate(states):
                for variable, value in zip(
                    self.copy_weights(c)[1], values, strict=True
                ):
                    variable.assign(value)
        return ops.transpose(outputs, (1, 0, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_copies, self.num_outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "template": copy.deepcopy(self.template),
            "num_copies": self.num_copies,
            "implementation": self.implementation,
        }


def _constant(values):
    def initialize(shape, dtype=None):
        return ops.cast(values, dtype) if dtype is not None else values

    return initialize


def _offset_seeds(config, c):
    """`config` with every integer initializer seed offset by `c`: a fixed seed
    would make the copies equal."""
    if isinstance(config, dict):
        inner = config.get("config")
        if (
            config.get("module") == "keras.initializers"
            and isinstance(inner, dict)
            and isinstance(inner.get("seed"), int)
        ):
            inner["seed"] += c
        for value in config.values():
            _offset_seeds(value, c)
    elif isinstance(config, list):
        for value in config:
            _offset_seeds(value, c)
    return config
