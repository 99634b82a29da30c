"""The fused heads compute what C separate dense heads compute."""

import keras
import numpy as np

from keras_rlr.heads import RandomLabelHeads

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
