"""VGG16: 13 conv + 3 dense layers, counted from the output, split at every depth."""

import keras
import numpy as np
import pytest

import keras_rlr
from keras_rlr import backbones

C, R, WIDTH = 3, 4, 1 / 16  # 4...32 channels, 32 dense units


def weighted(layers):
    return [
        layer.name
        for layer in layers
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
    ]


def test_thirteen_convs_three_dense_in_order():
    model = backbones.vgg16(num_classes=C, input_shape=(32, 32, 3), width=WIDTH)
    names = weighted(model.layers)
    assert names == list(backbones.VGG16_LAYERS)
    assert names[:13] == [f"conv{i}" for i in range(1, 14)]
    kinds = [type(model.get_layer(n)).__name__ for n in names]
    assert kinds == ["Conv2D"] * 13 + ["Dense"] * 3
    # Batch norm after every conv, max-pooling after each of the 5 blocks.
    assert all(model.get_layer(f"conv{i}_bn") for i in range(1, 14))
    pools = [layer for layer in model.layers if "pool" in layer.name]
    assert len(pools) == 5
    assert model.get_layer("pool5").output.shape[1:3] == (1, 1)  # 32 / 2**5
    assert model.output_shape == (None, C)
    full = backbones.vgg16(num_classes=100)
    assert [full.get_layer(f"conv{i}").filters for i in (1, 3, 5, 8, 11, 13)] == [
        64,
        128,
        256,
        512,
        512,
        512,
    ]
    assert full.get_layer("fc2").units == 512


def test_depth_counts_from_the_output():
    assert backbones.vgg16_split_layer(1) == "fc3"
    assert backbones.vgg16_split_layer(3) == "fc1"
    assert backbones.vgg16_split_layer(4) == "conv13"
    assert backbones.vgg16_split_layer(16) == "conv1"
    for bad in (0, 17):
        with pytest.raises(ValueError, match=f"copy_depth={bad}"):
            backbones.vgg16_split_layer(bad)


def test_small_inputs_keep_all_sixteen_layers():
    model = backbones.vgg16(num_classes=C, input_shape=(8, 8, 1), width=WIDTH)
    assert weighted(model.layers) == list(backbones.VGG16_LAYERS)
    assert model.get_layer("flatten").output.shape == (None, 32)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype(np.float32)
    assert model(x).shape == (2, C)


def one_copy_parameter_count(class_head, multiplier):
    """Parameters of one copy of the tail, built here from plain Keras layers."""
    layers = [layer for layer in class_head.layers[1:]]  # skip the Input
    last = [layer for layer in layers if isinstance(layer, keras.layers.Dense)][-1]
    rebuilt = []
    for layer in layers:
        config = layer.get_config()
        config.pop("name")
        if layer is last:
            config["units"] = R
        elif isinstance(layer, keras.layers.Dense):
            config["units"] = round(config["units"] * multiplier)
        elif isinstance(layer, keras.layers.Conv2D):
            config["filters"] = round(config["filters"] * multiplier)
        rebuilt.append(type(layer).from_config(config))
    copy = keras.Sequential([keras.Input(class_head.input_shape[1:])] + rebuilt)
    return copy.count_params()


@pytest.mark.parametrize(
    "multiplier, depths", [(1.0, range(1, 17)), (2.0, (2, 5, 14, 16))]
)
def test_split_at_every_depth(multiplier, depths):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 8, 8, 1)).astype(np.float32)
    for depth in depths:
        keras.utils.set_random_seed(depth)
        vgg = backbones.vgg16(num_classes=C, input_shape=(8, 8, 1), width=WIDTH)
        expected = vgg(x, training=False).numpy()
        model = keras_rlr.RandomLabelModel.from_classifier(
            vgg,
            split_layer=backbones.vgg16_split_layer(depth),
            num_random_labels=R,
            width_multiplier=multiplier,
        )
        # The extractor keeps 16 - d weighted layers; the class head the last d.
        assert len(weighted(model.feature_extractor.layers)) == 16 - depth
        assert weighted(model.class_head.layers) == list(
            backbones.VGG16_LAYERS[16 - depth :]
        )
        if depth == 16:
            assert not model.feature_extractor.weights  # the identity
        # The class path is the network itself.
        np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
        assert model.random_label_logits(x).shape == (2, C, R)
        # The heads: C copies of the tail, R outputs, hidden widths x multiplier.
        assert model.random_heads.count_params() == C * one_copy_parameter_count(
            model.class_head, multiplier
        ), depth
