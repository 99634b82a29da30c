"""The fused random-label heads (one dense head per class, one matrix
product) and the pooling that brings token or spatial features to them."""

import keras
from keras import ops

from keras_rlr._arguments import check_arg

# `FeaturePooling` modes; `None` (no pooling) is the model's own setting.
POOLING_MODES = ("mean", "class_token")


@keras.saving.register_keras_serializable(package="keras_rlr")
class RandomLabelHeads(keras.layers.Layer):
    """`C` dense heads with `R` outputs each, computed as one matrix product.

    Head `c` maps features `f` of size `D` to `f @ W[:, c, :] + b[c]`. All heads
    share the input, so their kernels are stored side by side in one `(D, C*R)`
    matrix and evaluated with a single matmul; the result is reshaped to
    `(batch, C, R)`. This is exactly what `C` separate `Dense(R)` layers compute,
    at the cost of one layer call.

    The default initializer scales by the fan-in `D` of each head, which is what
    a separate `Dense(R)` head would see (a Glorot initializer on the fused kernel
    would count `C*R` outputs and start the heads `sqrt(C)` times too small).

    Args:
        num_classes: `C`, the number of heads.
        num_random_labels: `R`, the outputs of each head.
        kernel_initializer: initializer of the `(D, C*R)` kernel.
        bias_initializer: initializer of the `(C*R,)` bias.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Example:

    >>> heads = RandomLabelHeads(num_classes=100, num_random_labels=10)
    >>> heads(keras.ops.ones((8, 256))).shape
    (8, 100, 10)
    """

    def __init__(
        self,
        num_classes,
        num_random_labels,
        kernel_initializer="lecun_normal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.num_random_labels = int(num_random_labels)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        units = self.num_classes * self.num_random_labels
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], units),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(
            name="bias", shape=(units,), initializer=self.bias_initializer
        )

    def call(self, features):
        if len(features.shape) != 2:
            raise ValueError(
                "RandomLabelHeads expects flat features of shape (batch, D). "
                f"Received: features.shape={features.shape}"
            )
        logits = ops.matmul(features, self.kernel) + self.bias
        return ops.reshape(logits, (-1, self.num_classes, self.num_random_labels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes, self.num_random_labels)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "num_random_labels": self.num_random_labels,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="keras_rlr")
class FeaturePooling(keras.layers.Layer):
    """Pools token or spatial features to one vector per example.

    Dense heads read flat features `(batch, D)`. A transformer returns tokens
    `(batch, T, D)`, a convolutional network a map `(batch, H, W, D)`; this
    layer states the rule that flattens them:

    - `"mean"`: the mean over every position (all axes between the batch and
      the last). With a Keras mask (e.g. from `Embedding(mask_zero=True)`,
      carried through an LSTM or attention), the mean over the valid
      positions only; an example with none gives zeros.
    - `"class_token"`: the first token, `features[:, 0]` (ViT, BERT), for
      `(batch, T, D)` features only.

    Flat features `(batch, D)` pass through unchanged.

    Args:
        mode: `"mean"` or `"class_token"`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Example:

    >>> pool = FeaturePooling("mean")
    >>> pool(keras.ops.ones((2, 5, 8))).shape
    (2, 8)
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        check_arg("mode", mode, mode in POOLING_MODES, f"one of {POOLING_MODES}")
        self.mode = mode
        self.supports_masking = True  # reads the mask; its output has none
        self.built = True  # no weights

    def call(self, features, mask=None):
        rank = len(features.shape)
        if rank == 2:
            return features
        if self.mode == "class_token":
            if rank != 3:
                raise ValueError(
                    'FeaturePooling("class_token") takes the first token of '
                    "(batch, tokens, D) features; for a spatial map use "
                    f'"mean". Received: features.shape={features.shape}'
                )
            return features[:, 0]
        axes = tuple(range(1, rank - 1))
        if mask is None:
            return ops.mean(features, axis=axes)
        weights = ops.cast(mask, features.dtype)
        if len(weights.shape) == rank - 1:
            weights = ops.expand_dims(weights, -1)
        total = ops.sum(features * weights, axis=axes)
        count = ops.sum(weights, axis=axes)
        return total / ops.maximum(count, ops.ones_like(count))

    def compute_mask(self, features, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
