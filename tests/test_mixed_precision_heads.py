"""Under mixed precision every head computes in float32, on every path:
default heads, given heads, and `from_classifier`'s copies and probes."""

import keras
import numpy as np
import pytest

import keras_rlr

C, R = 4, 3


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


def extractor():
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(h))


def classifier():
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv2")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(5, activation="relu", name="fc1")(h)
    return keras.Model(inputs, keras.layers.Dense(C, name="fc2")(h))


def default_heads():
    return keras_rlr.RandomLabelModel(extractor(), C, R, reg_lambda=0.5)


def given_heads():
    return keras_rlr.RandomLabelModel(
        extractor(),
        C,
        R,
        reg_lambda=0.5,
        class_head=keras.Sequential([keras.layers.Dense(5), keras.layers.Dense(C)]),
        random_heads=keras_rlr.RandomLabelHeads(C, R),
    )


def from_classifier():
    return keras_rlr.RandomLabelModel.from_classifier(
        classifier(),
        split_layer="fc1",
        probe_layers=["conv2"],
        num_random_labels=R,
        reg_lambda=0.5,
    )


def token_features():
    """Default heads on masked tokens `(B, T, D)`, pooled in float32."""
    tokens = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(7, 4, mask_zero=True)(tokens)
    h = keras.layers.Dense(4, activation="tanh")(h)
    return keras_rlr.RandomLabelModel(keras.Model(tokens, h), C, R, reg_lambda=0.5)


@pytest.mark.parametrize(
    "make", [default_heads, given_heads, from_classifier, token_features]
)
def test_heads_logits_and_softmax_are_float32_and_a_step_trains(policy, make):
    model = make()
    rng = np.random.default_rng(0)
    if make is token_features:
        x = rng.integers(0, 7, size=(8, 5)).astype(np.int32)
    else:
        x = rng.uniform(size=(8, 6, 6, 1)).astype(np.float32)
    y = {"label": rng.integers(0, C, 8), "random_label": rng.integers(0, R, 8)}
    # The extractor runs in the policy's precision: the heads cast it up.
    assert model.feature_extractor(x).dtype.name in ("float16", "bfloat16")
    assert model(x).dtype.name == "float32"
    assert model.random_label_logits(x).dtype.name == "float32"
    heads = [model.class_head, model.random_heads, model.pooling, *model.probes]
    for head in heads:
        for layer in head._flatten_layers(include_self=True):
            assert layer.compute_dtype == "float32", (policy, layer.name)
    if model.probes:
        _, *probe_features = model.probe_extractor(x)
        for probe, features in zip(model.probes, probe_features, strict=True):
            assert probe(features).dtype.name == "float32"
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert all(np.isfinite(value) for value in logs.values()), logs
    moved = [
        not np.array_equal(b, v.numpy())
        for b, v in zip(before, model.trainable_variables, strict=True)
    ]
    assert all(moved), [
        v.path for v, m in zip(model.trainable_variables, moved, strict=True) if not m
    ]
