"""A small CNN for small images (the offline digits quickstart, tests)."""

import keras
from keras import layers

from keras_rlr._arguments import check_arg, check_dropout, weight_decay_regularizer


def small_cnn(
    input_shape=(8, 8, 1),
    width=32,
    feature_dim=256,
    dropout=0.0,
    weight_decay=0.0,
    sync_batch_norm=False,
    name="small_cnn",
):
    """Two conv-BN-ReLU stages, a max-pool, then a dense feature layer.

    conv(`width`) -> conv(`2 * width`) -> max-pool -> flatten -> dropout ->
    dense(`feature_dim`) -> ReLU. The features are the dense layer's output:
    the heads attach where a classifier's last dense layer would.

    Args:
        input_shape: `(H, W, channels)`.
        width: channels of the first convolution.
        feature_dim: size of the feature vector.
        dropout: dropout rate before the feature layer.
        weight_decay: L2 coefficient on every kernel (gradient
            `weight_decay * kernel`).
        sync_batch_norm: batch-norm statistics over the global batch under a
            distribution strategy (see `wide_resnet`).
        name: model name.

    Returns:
        A functional `keras.Model` with output `(batch, feature_dim)`.

    Example:

    >>> small_cnn(input_shape=(8, 8, 1)).output_shape
    (None, 256)
    """
    check_arg("width", width, width >= 1, ">= 1")
    check_arg("feature_dim", feature_dim, feature_dim >= 1, ">= 1")
    check_dropout(dropout)
    regularizer = weight_decay_regularizer(weight_decay)

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, channels in enumerate((width, 2 * width)):
        x = layers.Conv2D(
            channels,
            3,
            padding="same",
            use_bias=False,
            kernel_regularizer=regularizer,
            name=f"conv{i + 1}",
        )(x)
        x = layers.BatchNormalization(
            momentum=0.9, synchronized=sync_batch_norm, name=f"conv{i + 1}_bn"
        )(x)
        x = layers.ReLU(name=f"conv{i + 1}_relu")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    return keras.Model(
        inputs, dense_features(x, feature_dim, dropout, regularizer), name=name
    )


def dense_features(x, feature_dim, dropout, regularizer):
    """The small CNNs' feature layer: flatten -> dropout -> dense(ReLU)."""
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(
        feature_dim, activation="relu", kernel_regularizer=regularizer, name="features"
    )(x)
