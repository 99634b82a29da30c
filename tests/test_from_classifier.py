"""`RandomLabelModel.from_classifier`: split any functional classifier."""

import keras
import numpy as np
import pytest

import keras_rlr

L = keras.layers
C, R = 4, 3


def small_classifier():
    inputs = keras.Input((6, 6, 2), name="image")
    x = L.Conv2D(3, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = L.Conv2D(5, 3, padding="same", name="conv2")(x)
    x = L.ReLU(name="relu")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(8, activation="relu", name="fc1")(x)
    outputs = L.Dense(C, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def images(n=5, shape=(6, 6, 2)):
    return np.random.default_rng(0).normal(size=(n,) + shape).astype(np.float32)


@pytest.mark.parametrize(
    "split_layer, tail",
    [
        (None, ["predictions"]),  # default: the input of the last dense layer
        ("fc1", ["fc1", "predictions"]),
        ("conv2", ["conv2", "relu", "flatten", "fc1", "predictions"]),
        ("conv1", ["conv1", "conv2", "relu", "flatten", "fc1", "predictions"]),
    ],
)
def test_split_small_functional_model(split_layer, tail):
    classifier = small_classifier()
    x = images()
    model = keras_rlr.RandomLabelModel.from_classifier(
        classifier, split_layer=split_layer, num_random_labels=R
    )
    assert [layer.name for layer in model.class_head.layers[1:]] == tail
    assert [t["config"]["name"] for t in model.random_heads.tail] == tail
    # The class head keeps the classifier's weights and returns logits.
    probs = keras.ops.softmax(model(x)).numpy()
    np.testing.assert_allclose(probs, classifier(x), rtol=1e-5, atol=1e-6)
    assert model.random_label_logits(x).shape == (5, C, R)
    if split_layer == "conv1":
        assert not model.feature_extractor.weights
    # It trains.
    model.compile(optimizer="sgd")
    y = {"label": np.arange(5) % C, "random_label": np.arange(5) % R}
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])


def test_bad_splits_name_the_layer():
    classifier = small_classifier()
    with pytest.raises(ValueError, match="no layer named 'fc9'"):
        keras_rlr.RandomLabelModel.from_classifier(classifier, split_layer="fc9")

    inputs = keras.Input((8,))
    h = L.Dense(8, name="h")(inputs)
    side = L.Dense(8, name="side")(inputs)
    merged = L.Add(name="add")([h, side])
    residual = keras.Model(inputs, L.Dense(C, name="out")(merged))
    with pytest.raises(ValueError, match="'add'"):
        keras_rlr.RandomLabelModel.from_classifier(residual, split_layer="h")
    # After the merge the tail is a chain again.
    model = keras_rlr.RandomLabelModel.from_classifier(residual, split_layer="out")
    assert model.random_label_logits(np.ones((2, 8), np.float32)).shape == (2, C, 10)

    with pytest.raises(ValueError, match="functional"):
        keras_rlr.RandomLabelModel.from_classifier(L.Dense(3))


def test_sequential_is_split_like_the_functional_model():
    functional = small_classifier()
    sequential = keras.Sequential(
        [keras.Input((6, 6, 2)), *functional.layers[1:]], name="seq"
    )
    x = images()
    model = keras_rlr.RandomLabelModel.from_classifier(
        sequential, split_layer="fc1", num_random_labels=R
    )
    assert [layer.name for layer in model.class_head.layers[1:]] == [
        "fc1",
        "predictions",
    ]
    np.testing.assert_allclose(
        keras.ops.softmax(model(x)).numpy(), functional(x), rtol=1e-5, atol=1e-6
    )
    assert model.random_label_logits(x).shape == (5, C, R)

    unbuilt = keras.Sequential([L.Dense(8), L.Dense(C)], name="unbuilt")
    with pytest.raises(ValueError, match="'unbuilt' has no input shape yet"):
        keras_rlr.RandomLabelModel.from_classifier(unbuilt)


def test_subclassed_model_is_told_what_to_do():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(C)

        def call(self, x):
            return self.dense(x)

    classifier = Subclassed()
    classifier(np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match=r"keras.Model\(inputs, outputs\)"):
        keras_rlr.RandomLabelModel.from_classifier(classifier)


def test_keras_applications_model():
    classifier = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), classes=C, alpha=0.35
    )
    x = images(2, (32, 32, 3))
    model = keras_rlr.RandomLabelModel.from_classifier(classifier, num_random_labels=R)
    assert [layer.name for layer in model.class_head.layers[1:]] == ["predictions"]
    probs = keras.ops.softmax(model(x)).numpy()
    np.testing.assert_allclose(probs, classifier(x), rtol=1e-4, atol=1e-6)
    assert model.random_label_logits(x).shape == (2, C, R)
    # Global pooling and the classifier copied: pooling runs once, shared.
    # Keras names the pooling layer itself ("global_average_pooling2d", with a
    # suffix once another exists in the process): find it by its class.
    (pooling,) = [
        layer.name
        for layer in classifier.layers
        if isinstance(layer, keras.layers.GlobalAveragePooling2D)
    ]
    pooled = keras_rlr.RandomLabelModel.from_classifier(
        classifier, split_layer=pooling, num_random_labels=R
    )
    assert pooled.feature_extractor.output_shape[1:3] == (1, 1)
    np.testing.assert_allclose(
        keras.ops.softmax(pooled(x)), classifier(x), rtol=1e-4, atol=1e-6
    )
    # Inside a residual block the tail branches: the error names the merge.
    with pytest.raises(ValueError, match="block_15_add"):
        keras_rlr.RandomLabelModel.from_classifier(
            classifier, split_layer="block_15_project"
        )
