"""Memorization scores: the formula against NumPy, the null's stream, and the
files a run writes."""

import collections
import gc
import json
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import softmax
from train_utils import C, R, dense_extractor, tiny_config

import keras_rlr
from keras_rlr import data, datasets, memorization
from keras_rlr.label_noise import with_label_noise
from keras_rlr.memorization import (
    class_only_accuracy,
    exceedance,
    memorization_scores,
)
from keras_rlr.model import RandomLabelModel
from keras_rlr.train import builders, experiment, memorization_report


class _LogitsAsInputs:
    """A 'model' whose heads' logits are its inputs: the logits are fixed."""

    def random_label_logits(self, inputs, training=False):
        assert training is False
        return inputs


def _targets(n, rng):
    return {
        "label": rng.integers(0, C, n).astype(np.int32),
        "random_label": rng.integers(0, R, n).astype(np.int32),
    }


def test_scores_match_numpy_on_fixed_logits():
    rng = np.random.default_rng(0)
    n = 37  # batches of 8: the last one is partial
    logits = (3 * rng.normal(size=(n, C, R))).astype(np.float32)
    y = _targets(n, rng)
    dataset = tf.data.Dataset.from_tensor_slices((logits, y))
    scores = memorization_scores(_LogitsAsInputs(), dataset, batch_size=8)

    rows = np.arange(n)
    own_head = softmax(logits[rows, y["label"]].astype(np.float64), axis=-1)
    np.testing.assert_array_equal(scores.index, rows)
    np.testing.assert_array_equal(scores.label, y["label"])
    np.testing.assert_array_equal(scores.random_label, y["random_label"])
    np.testing.assert_allclose(scores.score, own_head[rows, y["random_label"]], 1e-6)
    expected_correct = own_head.argmax(-1) == y["random_label"]
    np.testing.assert_array_equal(scores.correct, expected_correct)
    assert 0 < expected_correct.sum() < n  # both outcomes are exercised
    # The head's own softmax over R, not the joint one over C * R.
    joint = softmax(logits.reshape(n, -1), axis=-1).reshape(n, C, R)
    assert not np.allclose(scores.score, joint[rows, y["label"], y["random_label"]])


def test_a_model_is_scored_in_inference_mode():
    rng = np.random.default_rng(1)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    features = keras.layers.Dropout(0.5)(dense_extractor()(inputs))
    model = RandomLabelModel(keras.Model(inputs, features), C, R)
    x = rng.normal(size=(20, 5)).astype(np.float32)
    y = _targets(20, rng)
    scores = keras_rlr.memorization_scores(
        model, tf.data.Dataset.from_tensor_slices((x, y)), batch_size=6
    )
    logits = model.random_label_logits(x, training=False).numpy()
    probs = softmax(logits[np.arange(20), y["label"]].astype(np.float64), axis=-1)
    np.testing.assert_allclose(
        scores.score, probs[np.arange(20), y["random_label"]], 1e-5
    )


def test_scoring_again_reads_the_new_weights_without_tracing_again():
    """The traced scoring function is kept per model (a run scores train and
    the null): a second call, on another dataset and after the weights moved,
    still gives the scores of the weights now, and the model is not kept alive."""
    rng = np.random.default_rng(2)
    inputs = keras.Input((5,))
    model = RandomLabelModel(keras.Model(inputs, dense_extractor()(inputs)), C, R)

    def scored_as_numpy(model, n):
        x = rng.normal(size=(n, 5)).astype(np.float32)
        y = _targets(n, rng)
        scores = memorization_scores(
            model, tf.data.Dataset.from_tensor_slices((x, y)), batch_size=6
        )
        logits = model.random_label_logits(x, training=False).numpy()
        own = softmax(logits[np.arange(n), y["label"]].astype(np.float64), axis=-1)
        np.testing.assert_allclose(
            scores.score, own[np.arange(n), y["random_label"]], 1e-5
        )

    scored_as_numpy(model, 20)
    for weight in model.random_heads.weights:
        weight.assign(weight.numpy() * 3.0 + 0.5)
    scored_as_numpy(model, 9)  # another size (one partial batch), the new weights
    (function,) = memorization._TRUE_CLASS_HEADS[model].values()
    assert function.experimental_get_tracing_count() == 1
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_a_batched_dataset_is_refused():
    rng = np.random.default_rng(0)
    dataset = tf.data.Dataset.from_tensor_slices(
        (rng.normal(size=(8, C, R)).astype(np.float32), _targets(8, rng))
    )
    with pytest.raises(ValueError, match="unbatched"):
        memorization_scores(_LogitsAsInputs(), dataset.batch(4))
    with pytest.raises(ValueError, match="random_label"):
        memorization_scores(
            _LogitsAsInputs(), dataset.map(lambda x, y: (x, y["label"]))
        )


def test_exceedance_over_the_null():
    rng = np.random.default_rng(0)
    null = rng.uniform(size=1000)
    for q in (0.95, 0.99):
        null_above = np.mean(null > np.quantile(null, q))
        # Training scores drawn like the null: every discovery may be false.
        same = exceedance(null, null, q)
        assert same.fraction == pytest.approx(null_above)
        assert same.false_discovery_rate == 1.0
        # Half of them far above the null: the estimate falls to its share.
        mixed = np.concatenate([null[:500], 1 + null[500:]])
        found = exceedance(mixed, null, q)
        expected_fraction = 0.5 + 0.5 * np.mean(null[:500] > found.threshold)
        assert found.fraction == pytest.approx(expected_fraction)
        assert found.false_discovery_rate == pytest.approx(
            null_above / expected_fraction
        )
        assert found.false_discovery_rate < same.false_discovery_rate


def test_the_null_is_the_test_set_under_its_own_stream():
    config = tiny_config(seed=5)
    inputs = builders.build_inputs(config)
    model = builders.build_model(
        config, inputs.splits.image_shape, inputs.splits.num_classes
    )
    train, null, clean_labels = memorization_report.run_scores(model, inputs, config)
    test_labels = np.array([y for _, y in inputs.splits.test.as_numpy_iterator()])
    expected = [
        int(data.random_label(i, config.num_random_labels, 5, data.TEST_STREAM))
        for i in range(len(test_labels))
    ]
    np.testing.assert_array_equal(null.label, test_labels)
    np.testing.assert_array_equal(null.random_label, expected)
    train_stream = [
        int(data.random_label(i, config.num_random_labels, 5, data.TRAIN_STREAM))
        for i in range(len(train))
    ]
    np.testing.assert_array_equal(train.random_label, train_stream)
    assert not np.array_equal(null.random_label[: len(train)], train_stream)
    # No label noise: the clean labels are the trained ones.
    train_labels = [y for _, y in inputs.splits.train.as_numpy_iterator()]
    np.testing.assert_array_equal(clean_labels, train_labels)
    np.testing.assert_array_equal(train.label, train_labels)
    assert len(train) == config.max_train_examples


def test_class_only_accuracy_counts_each_class_majority():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 300)
    random_labels = rng.integers(0, 10, 300)
    # Independently: the best constant guess per class, by brute force.
    best = sum(
        max(collections.Counter(random_labels[labels == c]).values())
        for c in set(labels.tolist())
    )
    assert class_only_accuracy(labels, random_labels) == best / 300
    # One example a class: a head can name every random label from the class.
    assert class_only_accuracy([0, 1, 2], [5, 3, 9]) == 1.0
    # Many examples a class: it approaches chance 1/R from above.
    many = class_only_accuracy(np.zeros(100_000, int), rng.integers(0, 10, 100_000))
    assert 0.1 < many < 0.103
    with pytest.raises(ValueError, match="one non-zero length"):
        class_only_accuracy([], [])


def test_a_run_writes_its_memorization_files(tmp_path, capsys):
    config = tiny_config(label_noise=0.3, seed=2)
    experiment.train_and_evaluate(config, str(tmp_path))
    printed = capsys.readouterr().out
    table = memorization_report.read_csv(str(tmp_path / "memorization.csv"))
    assert list(table) == list(memorization_report.COLUMNS)
    loaded = datasets.load("digits", max_train_examples=config.max_train_examples)
    clean = np.array([y for _, y in loaded.train.as_numpy_iterator()])
    noisy = with_label_noise(loaded.train, 0.3, 10, seed=2)
    np.testing.assert_array_equal(table["index"], np.arange(len(clean)))
    np.testing.assert_array_equal(table["clean_label"], clean)
    np.testing.assert_array_equal(
        table["label"], [y for _, y in noisy.as_numpy_iterator()]
    )
    assert 0 < np.sum(table["label"] != table["clean_label"]) < len(clean)
    # The scores are those of the saved model on the labels it was trained on.
    model = keras.saving.load_model(tmp_path / "model.keras")
    expected = memorization_scores(
        model, data.with_random_labels(noisy, num_random_labels=10, seed=2)
    )
    np.testing.assert_array_equal(table["random_label"], expected.random_label)
    np.testing.assert_allclose(table["score"], expected.score, rtol=1e-5)
    np.testing.assert_array_equal(table["correct"], expected.correct)
    # The class-only level in the summary is that of the trained labels.
    summary = json.loads((tmp_path / "summary.json").read_text())
    level = class_only_accuracy(table["label"], table["random_label"])
    assert summary["class_only_random_label_accuracy"] == level
    assert f"from the class alone (no memorizing) {level:.3f}" in printed
    png = tmp_path / "memorized_examples.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp"))
