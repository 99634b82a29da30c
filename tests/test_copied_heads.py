"""The fused copies compute what C separate copies with the same weights compute."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_rlr import reference
from keras_rlr.copied_heads import CopiedHeads

L = keras.layers
C, R = 3, 4


def dense_tail():
    return [
        L.Dense(5, activation="relu", name="fc1"),
        L.Dropout(0.5, name="fc1_dropout"),
        L.Dense(6, name="fc2"),
        L.BatchNormalization(name="fc2_bn"),
        L.Activation("tanh", name="fc2_act"),
        L.Dense(7, name="logits"),
    ]


def conv_tail():
    return [
        L.Conv2D(4, 3, padding="same", use_bias=False, name="conv1"),
        L.BatchNormalization(name="conv1_bn"),
        L.ReLU(name="conv1_relu"),
        L.MaxPooling2D(2, padding="same", name="pool1"),
        L.Conv2D(3, 3, padding="same", name="conv2"),
        L.ReLU(name="conv2_relu"),
        L.Conv2D(5, 3, strides=2, padding="valid", name="conv3"),
        L.Flatten(name="flatten"),
        L.Dense(6, activation="relu", name="fc"),
        L.Dense(7, name="logits"),
    ]


def tiny_map_tail():
    return [
        L.Conv2D(4, 3, padding="same", use_bias=False, name="conv1"),
        L.BatchNormalization(name="conv1_bn"),
        L.ReLU(name="conv1_relu"),
        L.MaxPooling2D(2, padding="same", name="pool1"),
        L.Conv2D(3, 3, padding="same", name="conv2"),
        L.BatchNormalization(name="conv2_bn"),
        L.ReLU(name="conv2_relu"),
        L.Conv2D(5, 2, strides=2, padding="valid", name="conv3"),
        L.ReLU(name="conv3_relu"),
        L.Conv2D(2, 3, padding="same", name="conv4"),
        L.Flatten(name="flatten"),
        L.Dense(7, name="logits"),
    ]


def separate_outputs(models, x, training):
    return tf.stack([m(x, training=training) for m in models], axis=1)


CASES = [
    ("dense", dense_tail, (5, 8), "auto"),
    ("conv", conv_tail, (5, 9, 9, 2), "grouped"),
    ("conv", conv_tail, (5, 9, 9, 2), "loop"),
    ("conv", conv_tail, (5, 9, 9, 2), "patches"),
    ("conv", conv_tail, (5, 9, 9, 2), "dense"),
    # Maps of 2x2 and 1x1 pixels, where "auto" runs "dense" on CPU.
    ("conv", tiny_map_tail, (5, 4, 4, 2), "auto"),
    ("conv", tiny_map_tail, (5, 4, 4, 2), "dense"),
]


@pytest.mark.parametrize("kind, tail, shape, implementation", CASES)
def test_forward_and_gradients_equal_separate_copies(kind, tail, shape, implementation):
    keras.utils.set_random_seed(0)
    heads = CopiedHeads(
        tail(), C, R, width_multiplier=1.5, conv_implementation=implementation
    )
    x = tf.constant(np.random.default_rng(0).normal(size=shape), tf.float32)
    heads.build(x.shape)
    # Non-trivial batch-norm parameters and statistics, different per copy.
    rng = np.random.default_rng(1)
    for layer in heads.copy_layers:
        for w in layer.weights:
            w.assign(rng.uniform(0.5, 1.5, size=w.shape).astype(np.float32))
    models = reference.separate_copies(heads, x.shape)
    # The separate copies hold the fused weights, slice by slice.
    for c, model in enumerate(models):
        weighted = [
            layer
            for layer in model.layers
            if layer.weights and hasattr(layer, "kernel")
        ]
        kernels = [v for v in heads.weights if v.path.endswith("_kernel")]
        for layer, kernel in zip(weighted, kernels, strict=True):
            np.testing.assert_array_equal(layer.kernel.numpy(), kernel.numpy()[c])

    cotangent = tf.constant(rng.normal(size=(shape[0], C, R)), tf.float32)
    # Training mode too (batch statistics per copy), where no dropout is drawn.
    for training in (False, True) if kind == "conv" else (False,):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            fused = heads(x, training=training)
            separate = separate_outputs(models, x, training)
            fused_loss = tf.reduce_sum(fused * cotangent)
            separate_loss = tf.reduce_sum(separate * cotangent)
        np.testing.assert_allclose(fused, separate, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            tape.gradient(fused_loss, x),
            tape.gradient(separate_loss, x),
            rtol=1e-4,
            atol=1e-5,
        )
        # Every fused weight's gradient is the stack of the copies' own.
        fused_grads = tape.gradient(fused_loss, heads.trainable_variables)
        copy_grads = {
            id(v): g
            for m in models
            for v, g in zip(
                m.trainable_variables,
                tape.gradient(separate_loss, m.trainable_variables),
                strict=True,
            )
        }
        del tape
        for variable, grad in zip(heads.trainable_variables, fused_grads, strict=True):
            per_copy = [
                copy_grads[id(v)].numpy()
                for m in models
                for v in m.trainable_variables
                if v.path.split("/")[-2:] == _copy_path(m.name, variable)
            ]
            assert len(per_copy) == C, variable.path
            np.testing.assert_allclose(
                grad.numpy().reshape(C, -1),
                np.stack(per_copy).reshape(C, -1),
                rtol=1e-4,
                atol=1e-5,
                err_msg=variable.path,
            )


def _copy_path(copy_name, fused_variable):
    """The `[layer, weight]` path ending of a fused variable's per-copy twin."""
    parts = fused_variable.path.split("/")
    if parts[-1].endswith("_kernel") or parts[-1].endswith("_bias"):
        layer, weight = parts[-1].rsplit("_", 1)
        return [f"{copy_name}_{layer}", weight]
    return [f"{copy_name}_{parts[-2]}", parts[-1]]


def test_dropout_is_per_copy_after_the_first_layer():
    # In training mode the fused dropout draws independent masks per copy,
    # as separate copies would: identical copies then disagree.
    tail = [
        L.Dense(64, name="fc1"),
        L.Dropout(0.5, name="drop"),
        L.Dense(3, name="out"),
    ]
    heads = CopiedHeads(tail, 2, 3)
    heads.build((None, 4))
    for v in heads.trainable_variables:  # both copies equal
        v.assign(np.repeat(v.numpy()[:1], 2, axis=0))
    x = np.ones((1, 4), np.float32)
    out = heads(x, training=True).numpy()
    assert not np.allclose(out[:, 0], out[:, 1])
    out = heads(x, training=False).numpy()
    np.testing.assert_allclose(out[:, 0], out[:, 1])


def test_copies_are_initialized_like_separate_layers_and_differ():
    heads = CopiedHeads([L.Dense(200, name="fc1"), L.Dense(100, name="out")], 4, 100)
    heads.build((None, 300))
    kernel = heads.weights[0].numpy()  # (C, 300, 200)
    assert kernel.shape == (4, 300, 200)
    # Glorot uniform of one (300, 200) layer: std sqrt(2 / (300 + 200)).
    np.testing.assert_allclose(kernel.std(axis=(1, 2)), np.sqrt(2 / 500), rtol=0.03)
    assert not np.allclose(kernel[0], kernel[1])


def test_width_multiplier_widens_hidden_layers_only():
    heads = CopiedHeads(
        [L.Conv2D(4, 3, name="c"), L.Flatten(), L.Dense(6, name="fc"), L.Dense(9)],
        2,
        R,
        width_multiplier=2.0,
    )
    heads.build((None, 5, 5, 3))
    shapes = [tuple(v.shape) for v in heads.trainable_variables]
    assert shapes[0] == (2, 3, 3, 3, 8)  # filters 4 -> 8
    assert shapes[2] == (2, 3 * 3 * 8, 12)  # units 6 -> 12
    assert shapes[4] == (2, 12, R)  # the last layer has R outputs


def test_serialization_round_trip():
    heads = CopiedHeads(conv_tail(), C, R, width_multiplier=1.5, name="h")
    restored = CopiedHeads.from_config(heads.get_config())
    assert restored.get_config() == heads.get_config()
    model = keras.Sequential([keras.Input((7, 7, 2)), heads])
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 2)).astype(np.float32)
    np.testing.assert_allclose(clone(x), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "tail, match",
    [
        ([L.Dense(3), L.LayerNormalization(name="ln"), L.Dense(3)], "'ln'"),
        ([L.Dense(3), L.ReLU(name="last")], "end with a Dense"),
        ([L.Conv2D(3, 3, dilation_rate=2, name="dil"), L.Flatten(), L.Dense(2)], "dil"),
    ],
)
def test_unsupported_tails_name_the_layer(tail, match):
    with pytest.raises(ValueError, match=match):
        CopiedHeads(tail, C, R)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="conv_implementation"):
        CopiedHeads([L.Dense(3)], C, R, conv_implementation="fft")
    with pytest.raises(ValueError, match="width_multiplier"):
        CopiedHeads([L.Dense(3)], C, R, width_multiplier=0)
