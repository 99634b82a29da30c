"""Wide residual networks (Zagoruyko & Komodakis, 2016), as feature extractors."""

import functools

import keras
from keras import layers

from keras_rlr._arguments import check_arg, check_dropout, weight_decay_regularizer


def wide_resnet(
    depth=16,
    width=4,
    input_shape=(32, 32, 3),
    dropout=0.0,
    weight_decay=0.0,
    sync_batch_norm=False,
    name=None,
):
    """WRN-`depth`-`width` without its classifier: images -> pooled features.

    The pre-activation network of the paper: a 3x3 stem with 16 channels, then
    three groups of `(depth - 4) / 6` basic blocks with `16k`, `32k`, `64k`
    channels (strides 1, 2, 2), then batch norm, ReLU and global average pooling.
    Each block is BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 plus a shortcut (a 1x1
    convolution where the shape changes): dropout sits between the two
    convolutions, as in the original.

    Args:
        depth: total depth, `6n + 4` (16, 22, 28, 40, ...).
        width: the widening factor `k`.
        input_shape: `(H, W, channels)` of the images.
        dropout: dropout rate inside every block.
        weight_decay: L2 coefficient on every convolution kernel, so that the
            gradient gains `weight_decay * kernel` (torch's SGD `weight_decay`).
        sync_batch_norm: under a distribution strategy, compute batch-norm
            statistics over the global batch (one all-reduce per layer) instead
            of each replica's share.
        name: model name (default `wide_resnet_{depth}_{width}`).

    Returns:
        A functional `keras.Model` with output `(batch, 64 * width)`.

    Example:

    >>> fe = wide_resnet(depth=16, width=4, input_shape=(32, 32, 3))
    >>> fe.output_shape
    (None, 256)
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(
            "depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...). "
            f"Received: depth={depth}"
        )
    check_arg("width", width, width >= 1, ">= 1")
    check_dropout(dropout)
    blocks_per_group = (depth - 4) // 6
    conv = _conv_factory(weight_decay)
    bn_relu = functools.partial(_bn_relu, synchronized=sync_batch_norm)

    inputs = keras.Input(shape=input_shape, name="image")
    x = conv(16, 3, name="stem_conv")(inputs)
    for group, (channels, stride) in enumerate(
        [(16 * width, 1), (32 * width, 2), (64 * width, 2)]
    ):
        for block in range(blocks_per_group):
            x = _block(
                x,
                channels,
                stride if block == 0 else 1,
                dropout,
                conv,
                bn_relu,
                name=f"group{group + 1}_block{block + 1}",
            )
    x = bn_relu(x, name="final")
    features = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, features, name=name or f"wide_resnet_{depth}_{width}")


def _block(x, channels, stride, dropout, conv, bn_relu, name):
    preact = bn_relu(x, name=f"{name}_preact")
    if x.shape[-1] == channels and stride == 1:
        shortcut = x
    else:
        shortcut = conv(channels, 1, strides=stride, name=f"{name}_shortcut")(preact)
    y = conv(channels, 3, strides=stride, name=f"{name}_conv1")(preact)
    y = bn_relu(y, name=f"{name}_mid")
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = conv(channels, 3, name=f"{name}_conv2")(y)
    return layers.Add(name=f"{name}_add")([y, shortcut])


def _bn_relu(x, name, synchronized=False):
    # momentum 0.9 is torch's 0.1: the statistics follow short runs closely.
    x = layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=f"{name}_bn"
    )(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _conv_factory(weight_decay):
    regularizer = weight_decay_regularizer(weight_decay)

    def conv(channels, kernel_size, strides=1, name=None):
        return layers.Conv2D(
            channels,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=regularizer,
            name=name,
        )

    return conv
