"""The losses and the metric against an independent NumPy computation."""

import numpy as np
import pytest

from keras_rlr import losses

B, C, R = 7, 5, 4


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return {
        "labels": rng.integers(0, C, size=B),
        "random_labels": rng.integers(0, R, size=B),
        "head_logits": rng.normal(scale=3.0, size=(B, C, R)).astype(np.float32),
        "class_logits": rng.normal(scale=3.0, size=(B, C)).astype(np.float32),
    }


def np_joint_log_q(z):
    """log softmax over all C*R entries of each example, in float64."""
    z = z.astype(np.float64).reshape(len(z), -1)
    z = z - z.max(axis=1, keepdims=True)
    log_q = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return log_q.reshape(len(z), C, R)


def test_joint_softmax_normalises_over_all_heads(batch):
    log_q = np.asarray(losses.joint_log_softmax(batch["head_logits"]))
    np.testing.assert_allclose(log_q, np_joint_log_q(batch["head_logits"]), atol=1e-5)
    np.testing.assert_allclose(np.exp(log_q).sum(axis=(1, 2)), 1.0, atol=1e-5)


def test_random_label_loss(batch):
    log_q = np_joint_log_q(batch["head_logits"])
    expected = -log_q[np.arange(B), batch["labels"], batch["random_labels"]]
    got = losses.random_label_loss(
        batch["labels"], batch["random_labels"], batch["head_logits"]
    )
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)


def test_reg_loss_is_cross_entropy_of_uniform_and_true_head(batch):
    log_q = np_joint_log_q(batch["head_logits"])
    expected = np.array(
        [
            -np.mean([log_q[b, batch["labels"][b], r] for r in range(R)])
            for b in range(B)
        ]
    )
    got = losses.reg_loss(batch["labels"], batch["head_logits"])
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_class_loss_with_label_smoothing(batch, smoothing):
    z = batch["class_logits"].astype(np.float64)
    log_p = z - z.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    target = np.full((B, C), smoothing / C)
    target[np.arange(B), batch["labels"]] += 1 - smoothing
    expected = -(target * log_p).sum(1)
    got = losses.class_loss(batch["labels"], batch["class_logits"], smoothing)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)


def test_random_label_accuracy_uses_the_true_class_head(batch):
    z = batch["head_logits"]
    expected = np.array(
        [
            float(np.argmax(z[b, batch["labels"][b]]) == batch["random_labels"][b])
            for b in range(B)
        ]
    )
    got = losses.random_label_accuracy(
        batch["labels"], batch["random_labels"], batch["head_logits"]
    )
    np.testing.assert_array_equal(np.asarray(got), expected)


def test_accuracy_ignores_other_heads():
    # Head 1 says random label 2, head 0 says 3; class 1 is the true class.
    z = np.zeros((1, 2, 4), np.float32)
    z[0, 1, 2] = 5.0
    z[0, 0, 3] = 9.0
    hit = losses.random_label_accuracy(np.array([1]), np.array([2]), z)
    miss = losses.random_label_accuracy(np.array([1]), np.array([3]), z)
    assert float(hit[0]) == 1.0 and float(miss[0]) == 0.0


def test_losses_are_stable_for_large_logits(batch):
    z = batch["head_logits"] * 1e3
    got = losses.random_label_loss(batch["labels"], batch["random_labels"], z)
    assert np.all(np.isfinite(np.asarray(got)))
    log_q = np_joint_log_q(z)
    expected = -log_q[np.arange(B), batch["labels"], batch["random_labels"]]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4)


def test_head_losses_equal_the_separate_functions(batch):
    args = batch["labels"], batch["random_labels"], batch["head_logits"]
    rand, reg, hits = losses.head_losses(*args)
    # L_reg reuses L_rand's normalizer: equal up to float rounding.
    np.testing.assert_array_equal(rand, losses.random_label_loss(*args))
    np.testing.assert_allclose(reg, losses.reg_loss(*args[::2]), rtol=1e-6)
    np.testing.assert_array_equal(hits, losses.random_label_accuracy(*args))
    # ...and against NumPy, so that the three cannot agree on a wrong value.
    log_q = np_joint_log_q(batch["head_logits"])
    own = log_q[np.arange(B), batch["labels"]]
    np.testing.assert_allclose(
        rand, -own[np.arange(B), batch["random_labels"]], rtol=1e-5
    )
    np.testing.assert_allclose(reg, -own.mean(axis=1), rtol=1e-5)
