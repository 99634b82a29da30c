"""The CIFAR VGG16 classifier, with layers addressable by their copy depth."""

import keras
from keras import layers

from keras_rlr._arguments import check_arg, check_dropout, weight_decay_regularizer

# The 16 weighted layers, from the input to the output.
VGG16_LAYERS = tuple(f"conv{i}" for i in range(1, 14)) + ("fc1", "fc2", "fc3")
_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def vgg16(
    num_classes=100,
    input_shape=(32, 32, 3),
    width=1.0,
    dropout=0.0,
    weight_decay=0.0,
    sync_batch_norm=False,
    name="vgg16",
):
    """VGG16 for small images: 13 conv + 3 dense layers, logits out.

    The copy-depth study of the paper (docs/method.md, "Split point") splits
    this network `d` layers before its output, so every layer has a name that
    `vgg16_split_layer(d)` finds. Five blocks of 3x3 convolutions (64, 64 |
    128, 128 | 256 x 3 | 512 x 3 | 512 x 3 channels), each convolution followed
    by batch norm and ReLU, a 2x2 max-pool after each block, then flatten and
    dense layers of 512, 512 and `num_classes` units (ReLU, then dropout, after
    the first two). The last layer returns logits.

    The max-pools use `"same"` padding, so on 32x32 inputs the spatial sizes
    are 16, 8, 4, 2, 1 as usual, and on inputs smaller than 32x32 (8x8 digits)
    a pool over a 1x1 map keeps it 1x1: every input size from 1x1 up gets the
    same 16 layers.

    Layer names: `conv1`...`conv13` (`Conv2D`, followed by `conv{i}_bn`,
    `conv{i}_relu`), `pool1`...`pool5`, `flatten`, `fc1`, `fc2` (with
    `fc{i}_dropout` when `dropout > 0`) and `fc3`. The flatten belongs to the
    last convolution's layer, so a split at `fc1` gets flat features.

    Args:
        num_classes: outputs of the last layer.
        input_shape: `(H, W, channels)` of the images.
        width: multiplies every hidden width (channels and the 512 dense
            units), for slim versions on CPU: `width=1/16` has 4...32 channels.
        dropout: dropout rate after `fc1` and `fc2`.
        weight_decay: L2 coefficient on every kernel, so that the gradient
            gains `weight_decay * kernel` (torch's SGD `weight_decay`).
        sync_batch_norm: batch-norm statistics over the global batch under a
            distribution strategy.
        name: model name.

    Returns:
        A functional `keras.Model` from images to `(batch, num_classes)` logits.

    Example:

    >>> model = vgg16(num_classes=10, input_shape=(32, 32, 3), width=0.25)
    >>> model.output_shape
    (None, 10)
    >>> vgg16_split_layer(3)
    'fc1'
    """
    check_arg("width", width, width > 0, "> 0")
    check_arg("num_classes", num_classes, num_classes >= 1, ">= 1")
    check_dropout(dropout)
    regularizer = weight_decay_regularizer(weight_decay)

    def scaled(units):
        return max(1, round(units * width))

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    index = 0
    for block, channels in enumerate(_BLOCKS):
        for c in channels:
            index += 1
            x = layers.Conv2D(
                scaled(c),
                3,
                padding="same",
                use_bias=False,
                kernel_initializer="he_normal",
                kernel_regularizer=regularizer,
                name=f"conv{index}",
            )(x)
            # momentum 0.9 is torch's 0.1.
            x = layers.BatchNormalization(
                momentum=0.9,
                epsilon=1e-5,
                synchronized=sync_batch_norm,
                name=f"conv{index}_bn",
            )(x)
            x = layers.ReLU(name=f"conv{index}_relu")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{block + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dense(
            scaled(512),
            activation="relu",
            kernel_regularizer=regularizer,
            name=f"fc{i}",
        )(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    logits = layers.Dense(num_classes, kernel_regularizer=regularizer, name="fc3")(x)
    return keras.Model(inputs, logits, name=name)


def vgg16_split_layer(copy_depth):
    """The name of the first layer of the last `copy_depth` layers of `vgg16`.

    Depth counts weighted layers from the output: 1 is `fc3`, 3 is `fc1`, 4 the
    last convolution `conv13`, 16 the first convolution `conv1` (the whole
    network). Pass it as `split_layer` to `RandomLabelModel.from_classifier`.

    Args:
        copy_depth: `d` in `1...16`.

    Returns:
        A layer name of `vgg16`'s model.
    """
    if not 1 <= copy_depth <= len(VGG16_LAYERS):
        raise ValueError(
            f"copy_depth must be in 1...{len(VGG16_LAYERS)} (VGG16 has "
            f"{len(VGG16_LAYERS)} layers). Received: copy_depth={copy_depth}"
        )
    return VGG16_LAYERS[len(VGG16_LAYERS) - copy_depth]
