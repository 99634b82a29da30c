"""A small 1-D CNN for sequences stored as `(length, 1, channels)` images
(MNIST-1D, `keras_rlr.datasets`)."""

import keras
from keras import layers

from keras_rlr._arguments import check_arg, check_dropout, weight_decay_regularizer
from keras_rlr.backbones.cnn import dense_features


def small_cnn1d(
    input_shape=(40, 1, 1),
    width=32,
    feature_dim=256,
    dropout=0.0,
    weight_decay=0.0,
    sync_batch_norm=False,
    name="small_cnn1d",
):
    """Three strided conv-BN-ReLU stages over the length, then a dense layer.

    The CNN of the MNIST-1D paper (Greydanus & Kobak, 2020: three 1-D
    convolutions, kernel 5, stride 2) with batch norm and a dense feature layer
    where the heads attach: conv(`width`) x 3 -> flatten -> dropout ->
    dense(`feature_dim`) -> ReLU. A sequence is an image of width 1, so that
    the data pipeline and the random labels treat it as any other image.

    Args:
        input_shape: `(length, 1, channels)`.
        width: channels of every convolution.
        feature_dim: size of the feature vector.
        dropout: dropout rate before the feature layer.
        weight_decay: L2 coefficient on every kernel.
        sync_batch_norm: batch-norm statistics over the global batch.
        name: model name.

    Returns:
        A functional `keras.Model` with output `(batch, feature_dim)`.

    Example:

    >>> small_cnn1d(input_shape=(40, 1, 1)).output_shape
    (None, 256)
    """
    check_arg("width", width, width >= 1, ">= 1")
    check_arg("feature_dim", feature_dim, feature_dim >= 1, ">= 1")
    check_arg(
        "input_shape",
        input_shape,
        len(input_shape) == 3 and input_shape[1] == 1,
        "(length, 1, channels)",
    )
    check_dropout(dropout)
    regularizer = weight_decay_regularizer(weight_decay)

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Reshape((input_shape[0], input_shape[2]), name="sequence")(inputs)
    for i in range(3):
        x = layers.Conv1D(
            width,
            5,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_regularizer=regularizer,
            name=f"conv{i + 1}",
        )(x)
        x = layers.BatchNormalization(
            momentum=0.9, synchronized=sync_batch_norm, name=f"conv{i + 1}_bn"
        )(x)
        x = layers.ReLU(name=f"conv{i + 1}_relu")(x)
    return keras.Model(
        inputs, dense_features(x, feature_dim, dropout, regularizer), name=name
    )
