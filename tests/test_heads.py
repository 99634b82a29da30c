"""The fused heads compute what C separate dense heads compute."""

import keras
import numpy as np
import pytest

from keras_rlr.heads import FeaturePooling, RandomLabelHeads

D, C, R = 6, 5, 3


def test_fused_heads_equal_separate_dense_heads():
    heads = RandomLabelHeads(C, R)
    features = np.random.default_rng(0).normal(size=(4, D)).astype(np.float32)
    fused = np.asarray(heads(features))
    assert fused.shape == (4, C, R)
    kernel = heads.kernel.numpy().reshape(D, C, R)
    bias = heads.bias.numpy().reshape(C, R)
    for c in range(C):
        dense = keras.layers.Dense(R)
        dense.build((None, D))
        dense.set_weights([kernel[:, c], bias[c]])
        np.testing.assert_allclose(fused[:, c], dense(features), rtol=1e-5, atol=1e-6)


def test_one_weight_matrix_for_all_heads():
    heads = RandomLabelHeads(C, R)
    heads.build((None, D))
    assert [tuple(w.shape) for w in heads.weights] == [(D, C * R), (C * R,)]


def test_initial_scale_is_per_head_fan_in():
    # LeCun normal with fan-in D: std 1/sqrt(D) (truncated normal, so a bit less).
    heads = RandomLabelHeads(100, 10)
    heads.build((None, 256))
    std = float(np.std(heads.kernel.numpy()))
    assert 0.8 / 16 < std < 1.05 / 16


def test_serialization_round_trip():
    heads = RandomLabelHeads(C, R, name="h")
    restored = RandomLabelHeads.from_config(heads.get_config())
    assert restored.get_config() == heads.get_config()
    model = keras.Sequential([keras.Input((D,)), heads])
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    x = np.ones((2, D), np.float32)
    np.testing.assert_allclose(clone(x), model(x))


def test_masked_mean_pooling_against_numpy():
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(3, 5, D)).astype(np.float32)
    mask = np.array(
        [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=bool
    )  # the last example has no valid position: zeros
    pooled = np.asarray(FeaturePooling("mean")(tokens, mask=mask))
    expected = np.stack(
        [tokens[0, :2].mean(0), tokens[1].mean(0), np.zeros(D, np.float32)]
    )
    np.testing.assert_allclose(pooled, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        FeaturePooling("mean")(tokens), tokens.mean(axis=1), rtol=1e-6
    )
    spatial = rng.normal(size=(2, 3, 4, D)).astype(np.float32)
    np.testing.assert_allclose(
        FeaturePooling("mean")(spatial), spatial.mean(axis=(1, 2)), rtol=1e-5
    )
    np.testing.assert_array_equal(FeaturePooling("class_token")(tokens), tokens[:, 0])
    flat = tokens[:, 0]
    np.testing.assert_array_equal(FeaturePooling("class_token")(flat), flat)


def test_pooling_reads_the_mask_keras_propagates():
    tokens = keras.Input((4,), dtype="int32")
    embedded = keras.layers.Embedding(7, D, mask_zero=True)(tokens)
    model = keras.Model(tokens, FeaturePooling("mean")(embedded))
    ids = np.array([[3, 5, 0, 0]])
    table = model.layers[1].embeddings.numpy()
    np.testing.assert_allclose(model(ids)[0], table[[3, 5]].mean(0), rtol=1e-6)


def test_pooling_refusals_and_round_trip():
    with pytest.raises(ValueError, match=r"one of \('mean', 'class_token'\).*mode=max"):
        FeaturePooling("max")
    with pytest.raises(ValueError, match="Received: features.shape"):
        FeaturePooling("class_token")(np.zeros((1, 2, 2, D), np.float32))
    pool = FeaturePooling("class_token", name="p")
    assert FeaturePooling.from_config(pool.get_config()).get_config() == (
        pool.get_config()
    )
