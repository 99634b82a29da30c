"""Dataset loading: the offline datasets and the TFDS path (mocked)."""

import socket
import threading

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_rlr import datasets


def as_arrays(ds):
    images, labels = next(ds.batch(1 << 20).as_numpy_iterator())
    return images, labels


def test_digits_is_a_fixed_stratified_split():
    splits = datasets.load("digits")
    x_train, y_train = as_arrays(splits.train)
    x_test, y_test = as_arrays(splits.test)
    assert (len(y_train), len(y_test)) == (1437, 360)
    assert x_train.shape[1:] == splits.image_shape == (8, 8, 1)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert splits.num_classes == 10 and not splits.horizontal_flip
    assert np.all(np.bincount(y_test) >= 35)  # stratified: ~36 per class
    again, _ = as_arrays(datasets.load("digits").train)
    np.testing.assert_array_equal(x_train, again)


def test_synthetic_labels_are_a_linear_function_of_the_pixels():
    splits = datasets.synthetic(
        num_train=300, num_test=50, image_shape=(4, 4, 1), num_classes=3
    )
    x, y = as_arrays(splits.train)
    # A least-squares linear classifier on the pixels recovers most labels.
    features = np.c_[x.reshape(len(x), -1), np.ones(len(x))]
    w, *_ = np.linalg.lstsq(features, np.eye(3)[y], rcond=None)
    assert np.mean(np.argmax(features @ w, 1) == y) > 0.8


def test_max_train_examples():
    splits = datasets.load("digits", max_train_examples=100)
    assert len(list(splits.train)) == 100


def test_tfds_path_with_mock_data():
    with tfds.testing.mock_data(
        num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        splits = datasets.load("cifar10")
        x, y = as_arrays(splits.train)
        x2, y2 = as_arrays(splits.train)
    assert splits.num_classes == 10 and splits.image_shape == (32, 32, 3)
    assert splits.horizontal_flip
    assert x.shape == (12, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and y.dtype == np.int32
    np.testing.assert_array_equal(y, y2)  # canonical order, every time


def test_mnist_is_not_flipped():
    with tfds.testing.mock_data(
        num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        assert not datasets.load("mnist").horizontal_flip


def test_unknown_dataset():
    assert not datasets.available("no_such_dataset")
    assert datasets.available("cifar100") and datasets.available("digits")
    with pytest.raises(ValueError, match="no_such_dataset"):
        datasets.load("no_such_dataset")


def test_labels_outside_the_classes_are_rejected():
    images = np.zeros((4, 2, 2, 1), np.float32)
    with pytest.raises(
        ValueError, match=r"train labels must lie in \[0, num_classes=3\)"
    ):
        datasets.from_arrays((images, [0, 1, 2, 3]), (images, [0, 0, 0, 0]), 3)
    with pytest.raises(ValueError, match="test labels"):
        datasets.from_arrays((images, [0, 1, 2, 2]), (images, [0, -1, 0, 0]), 3)


def test_mnist1d_splits_shapes_labels_and_range():
    splits = datasets.load("mnist1d")
    x_train, y_train = as_arrays(splits.train)
    x_test, y_test = as_arrays(splits.test)
    assert (len(y_train), len(y_test)) == (4000, 1000)
    assert x_train.shape[1:] == x_test.shape[1:] == splits.image_shape == (40, 1, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    assert splits.num_classes == 10 and not splits.horizontal_flip
    for y in (y_train, y_test):
        assert set(np.unique(y)) == set(range(10))
    for x in (x_train, x_test):
        assert 0.0 <= x.min() and x.max() <= 1.0
    # Scaled by the training set's range: it spans [0, 1] exactly.
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    # A pure function: a second load gives the same examples in the same order.
    again_x, again_y = as_arrays(datasets.load("mnist1d").train)
    np.testing.assert_array_equal(x_train, again_x)
    np.testing.assert_array_equal(y_train, again_y)


def _bilinear(images, size):
    """Half-pixel-centred bilinear resize of (N, h, w, C), written in NumPy."""

    def axis(n_in):
        src = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    (r0, r1, fr), (c0, c1, fc) = axis(images.shape[1]), axis(images.shape[2])
    rows = (
        images[:, r0] * (1 - fr)[None, :, None, None]
        + images[:, r1] * fr[None, :, None, None]
    )
    return (
        rows[:, :, c0] * (1 - fc)[None, None, :, None]
        + rows[:, :, c1] * fc[None, None, :, None]
    )


def test_digits32_is_the_digits_resized():
    small, big = datasets.load("digits"), datasets.load("digits32")
    assert big.image_shape == (32, 32, 1) and not big.horizontal_flip
    for split in ("train", "test"):
        x8, y8 = as_arrays(getattr(small, split))
        x32, y32 = as_arrays(getattr(big, split))
        assert x32.shape == (len(x8), 32, 32, 1)
        np.testing.assert_array_equal(y32, y8)  # the same split, same order
        np.testing.assert_allclose(x32, _bilinear(x8, 32), atol=1e-5)


def test_tfds_fails_fast_offline_and_creates_nothing(tmp_path, monkeypatch):
    missing = tmp_path / "missing"
    with pytest.raises(RuntimeError, match="does not exist"):
        datasets.load("cifar10", data_dir=str(missing))
    assert not missing.exists()
    # No network: every request goes to a proxy that counts the connections
    # made to it and closes each at once, as an unreachable network answers.
    proxy = socket.create_server(("127.0.0.1", 0))
    connections = []

    def refuse_each():
        while True:
            try:
                connection, _ = proxy.accept()
            except OSError:  # the proxy was closed: the test is over
                return
            connections.append(connection.getpeername())
            connection.close()

    threading.Thread(target=refuse_each, daemon=True).start()
    address = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, address)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    try:
        with pytest.raises(RuntimeError, match="cannot be downloaded here.*tfds build"):
            datasets.load("cifar10", data_dir=str(tmp_path))
    finally:
        proxy.close()
    # One probe of the source, no retry storm (counted, not timed).
    assert len(connections) == 1, connections
    assert list(tmp_path.iterdir()) == []
