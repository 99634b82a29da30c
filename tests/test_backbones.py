"""Backbones: structure, parameter counts, validation, and that they learn."""

import keras
import numpy as np
import pytest

from keras_rlr import backbones


def wrn_param_count(depth, width, in_channels=3):
    """Trainable parameters of WRN-depth-width, counted from the paper's design."""
    n = (depth - 4) // 6
    count = 9 * in_channels * 16  # stem
    channels_in = 16
    for channels in (16 * width, 32 * width, 64 * width):
        for block in range(n):
            c_in = channels_in if block == 0 else channels
            count += 2 * c_in  # pre-activation batch norm
            count += 9 * c_in * channels + 2 * channels + 9 * channels * channels
            if c_in != channels:
                count += c_in * channels  # 1x1 shortcut
        channels_in = channels
    return count + 2 * channels_in  # final batch norm


@pytest.mark.parametrize("depth, width", [(16, 4), (10, 1), (22, 2)])
def test_wide_resnet_parameter_count(depth, width):
    fe = backbones.wide_resnet(depth=depth, width=width, input_shape=(32, 32, 3))
    trainable = sum(int(np.prod(w.shape)) for w in fe.trainable_weights)
    assert trainable == wrn_param_count(depth, width)
    assert fe.output_shape == (None, 64 * width)


def test_wrn_16_4_with_a_cifar100_classifier_is_the_paper_size():
    # Zagoruyko & Komodakis report 2.7M parameters for WRN-16-4.
    total = wrn_param_count(16, 4) + 256 * 100 + 100
    assert 2.7e6 < total < 2.8e6


def test_dropout_sits_between_the_two_convs_of_every_block():
    fe = backbones.wide_resnet(depth=16, width=1, dropout=0.3)
    names = [layer.name for layer in fe.layers]
    dropouts = [n for n in names if "dropout" in n]
    assert len(dropouts) == 6
    for name in dropouts:
        block = name.removesuffix("_dropout")
        assert names.index(f"{block}_conv1") < names.index(name)
        assert names.index(name) < names.index(f"{block}_conv2")


def test_weight_decay_is_an_l2_penalty_with_gradient_wd_times_w():
    fe = backbones.wide_resnet(depth=10, width=1, weight_decay=5e-4)
    kernels = [w for w in fe.trainable_weights if "kernel" in w.path]
    expected = sum(5e-4 / 2 * float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert len(fe.losses) == len(kernels)
    np.testing.assert_allclose(float(sum(fe.losses)), expected, rtol=1e-5)


@pytest.mark.parametrize("depth", [12, 15, 4])
def test_impossible_depth_is_rejected(depth):
    with pytest.raises(ValueError, match=f"depth={depth}"):
        backbones.wide_resnet(depth=depth)


@pytest.mark.parametrize(
    "build, args, message",
    [
        (backbones.wide_resnet, {"width": 0}, "`width` must be >= 1"),
        (backbones.wide_resnet, {"dropout": 1.0}, r"`dropout` must be in \[0, 1\)"),
        (backbones.small_cnn, {"feature_dim": 0}, "`feature_dim` must be >= 1"),
        (backbones.small_cnn, {"dropout": -0.1}, "Received: dropout=-0.1"),
        (backbones.vgg16, {"width": 0.0}, "`width` must be > 0"),
        (backbones.vgg16, {"num_classes": 0}, "`num_classes` must be >= 1"),
    ],
)
def test_bad_arguments_name_the_argument(build, args, message):
    with pytest.raises(ValueError, match=message):
        build(**args)


def test_small_cnn_learns_a_learnable_task():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(512, 8, 8, 1)).astype(np.float32)
    w = rng.normal(size=(64, 4))
    y = np.argmax((x.reshape(512, -1) - 0.5) @ w, axis=1)
    model = keras.Sequential(
        [backbones.small_cnn(width=8, feature_dim=32), keras.layers.Dense(4)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    assert history.history["accuracy"][-1] > 0.8


@pytest.mark.parametrize("shape", [(40, 1, 1), (24, 1, 3)])
def test_small_cnn1d_output_shape(shape):
    fe = backbones.small_cnn1d(input_shape=shape, width=4, feature_dim=12)
    x = np.random.default_rng(0).uniform(size=(5, *shape)).astype(np.float32)
    assert fe.output_shape == (None, 12)
    assert fe(x).shape == (5, 12)
    assert backbones.get("small_cnn1d").build is backbones.small_cnn1d


def test_small_cnn1d_rejects_a_2d_image():
    with pytest.raises(ValueError, match="input_shape"):
        backbones.small_cnn1d(input_shape=(8, 8, 1))


def test_small_cnn1d_trains_inside_a_random_label_model():
    import keras_rlr
    from keras_rlr import data

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(32, 40, 1, 1)).astype(np.float32)
    y = rng.integers(0, 3, 32).astype(np.int32)
    ds = keras_rlr.datasets.from_arrays((x, y), (x, y), 3, horizontal_flip=False)
    model = keras_rlr.RandomLabelModel(
        backbones.small_cnn1d(width=4, feature_dim=8),
        num_classes=3,
        num_random_labels=4,
        reg_lambda=0.5,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    train = data.training_dataset(
        ds.train, batch_size=16, num_random_labels=4, seed=0, epochs=1, augment=True
    )
    model.build((None, 40, 1, 1))
    before = [w.numpy().copy() for w in model.trainable_weights]
    logs = model.fit(
        train, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0
    ).history
    assert all(np.isfinite(v[-1]) for v in logs.values())
    changed = [
        not np.array_equal(b, w.numpy())
        for b, w in zip(before, model.trainable_weights, strict=True)
    ]
    assert all(changed)  # backbone, class head and random-label heads all step
