"""Label noise: a pure function of (seed, index), never the label itself, the
training split only; with no noise a run's inputs are exactly today's."""

import numpy as np
import pytest
import tensorflow as tf
from train_utils import tiny_config

from keras_rlr import data, datasets
from keras_rlr.label_noise import NOISE_STREAM, noisy_label, with_label_noise
from keras_rlr.train import builders


def _labels(dataset):
    return np.array([int(label) for _, label in dataset.as_numpy_iterator()])


def _dataset(labels):
    images = np.zeros((len(labels), 2, 2, 1), np.float32)
    return tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.int32)))


def test_noise_is_a_pure_function_of_seed_and_index():
    rng = np.random.default_rng(0)
    num_classes, n = 5, 400
    first, second = rng.integers(0, num_classes, n), rng.integers(0, num_classes, n)
    noisy_first = _labels(with_label_noise(_dataset(first), 0.3, num_classes, seed=7))
    noisy_second = _labels(with_label_noise(_dataset(second), 0.3, num_classes, seed=7))
    # Which examples move, and by how much, depends on (seed, index), not the label.
    np.testing.assert_array_equal(noisy_first != first, noisy_second != second)
    np.testing.assert_array_equal(
        (noisy_first - first) % num_classes, (noisy_second - second) % num_classes
    )
    # Inside tf.data.map and eagerly, one index at a time: the same labels.
    for i in rng.choice(n, 12, replace=False):
        assert (
            int(noisy_label(int(i), int(first[i]), 0.3, num_classes, 7))
            == (noisy_first[i])
        )
    # Another pass gives the same labels; another seed another subset.
    dataset = with_label_noise(_dataset(first), 0.3, num_classes, seed=7)
    np.testing.assert_array_equal(_labels(dataset), _labels(dataset))
    other_seed = _labels(with_label_noise(_dataset(first), 0.3, num_classes, seed=8))
    assert not np.array_equal(other_seed != first, noisy_first != first)
    assert NOISE_STREAM not in (
        data.TRAIN_STREAM,
        data.TEST_STREAM,
        data._SHUFFLE_STREAM,
        data._AUGMENT_STREAM,
    )


def test_never_the_label_itself_and_the_fraction_holds():
    num_classes, n, fraction = 4, 3000, 0.3
    clean = np.arange(n) % num_classes
    noisy = _labels(with_label_noise(_dataset(clean), fraction, num_classes, seed=0))
    moved = noisy != clean
    # Binomial(n, fraction) within 4 standard deviations.
    assert abs(moved.sum() - n * fraction) < 4 * np.sqrt(n * fraction * (1 - fraction))
    offsets = (noisy[moved] - clean[moved]) % num_classes
    counts = np.bincount(offsets, minlength=num_classes)
    assert counts[0] == 0  # never mapped to itself
    expected = moved.sum() / (num_classes - 1)  # every other class equally likely
    sd = np.sqrt(expected * (1 - 1 / (num_classes - 1)))
    assert np.all(np.abs(counts[1:] - expected) < 4 * sd), counts
    everything = _labels(with_label_noise(_dataset(clean), 1.0, num_classes, seed=0))
    assert np.all(everything != clean)
    unchanged = _dataset(clean)
    assert with_label_noise(unchanged, 0.0, num_classes, seed=0) is unchanged
    with pytest.raises(ValueError, match="fraction"):
        with_label_noise(unchanged, 1.5, num_classes, seed=0)


def test_a_run_noises_the_training_split_only():
    config = tiny_config(label_noise=0.5, seed=3)
    inputs = builders.build_inputs(config)
    loaded = datasets.load("digits", max_train_examples=config.max_train_examples)
    clean = _labels(loaded.train)
    np.testing.assert_array_equal(_labels(inputs.clean_train), clean)
    np.testing.assert_array_equal(
        _labels(inputs.splits.train),
        _labels(with_label_noise(loaded.train, 0.5, 10, seed=3)),
    )
    assert 0.3 < np.mean(_labels(inputs.splits.train) != clean) < 0.7
    np.testing.assert_array_equal(_labels(inputs.splits.test), _labels(loaded.test))
    # The training stream (one epoch: every example once) trains the noisy labels.
    trained = np.concatenate([y["label"] for _, y in inputs.train.as_numpy_iterator()])
    noisy = _labels(inputs.splits.train)
    assert len(trained) == len(noisy)
    np.testing.assert_array_equal(np.sort(trained), np.sort(noisy))
    assert not np.array_equal(np.sort(noisy), np.sort(clean))


def test_no_noise_leaves_the_training_stream_as_it_was():
    config = tiny_config()
    inputs = builders.build_inputs(config)
    loaded = datasets.load("digits", max_train_examples=config.max_train_examples)
    today = data.training_dataset(
        loaded.train,
        batch_size=config.batch_size,
        num_random_labels=config.num_random_labels,
        seed=config.seed,
        epochs=config.epochs,
        augment=config.augment,
        horizontal_flip=loaded.horizontal_flip,
    )
    for (x, y), (x_today, y_today) in zip(inputs.train, today, strict=True):
        np.testing.assert_array_equal(x.numpy(), x_today.numpy())
        for key in ("label", "random_label"):
            np.testing.assert_array_equal(y[key].numpy(), y_today[key].numpy())
