"""Label noise: a fixed, seeded subset of training labels moved to another class.

Mislabeled examples can only be fit by memorizing them, which makes them the
known positives that validate a memorization score
(`keras_rlr.memorization_scores`). Whether example `index` is mislabeled, and
to which class, is a pure function of `(seed, index)` (TF's stateless Philox
generator keyed by `(seed, NOISE_STREAM)`, the index folded in), like its random
label: the same under any shuffle, batching or restart, and independent of the
random labels. A noisy label is `(label + offset) mod C` with `offset` uniform
in `[1, C)`: never the label itself, every other class equally likely.
"""

import tensorflow as tf

# Beside keras_rlr.data's streams (random labels 0 and 1, shuffling 2,
# augmentation 3); tests check that it differs from all of them.
NOISE_STREAM = 4


def noisy_label(index, label, fraction, num_classes, seed):
    """The label that example `index` (true label `label`) is trained on.

    With probability `fraction` (decided by `(seed, index)` alone) it is moved
    to one of the other `num_classes - 1` classes, uniformly; else it is kept.
    """
    _check(fraction, num_classes)
    key = tf.random.experimental.stateless_fold_in(
        tf.stack([tf.cast(seed, tf.int64), tf.constant(NOISE_STREAM, tf.int64)]),
        tf.cast(index, tf.int64),
    )
    member_key, offset_key = tf.unstack(
        tf.random.experimental.stateless_split(key, num=2)
    )
    flipped = tf.random.stateless_uniform([], seed=member_key) < fraction
    offset = tf.random.stateless_uniform(
        [], seed=offset_key, minval=1, maxval=num_classes, dtype=tf.int32
    )
    label = tf.cast(label, tf.int32)
    return tf.where(flipped, (label + offset) % num_classes, label)


def with_label_noise(dataset, fraction, num_classes, seed):
    """`dataset` of `(image, label)` with a `fraction` of its labels replaced.

    Args:
        dataset: `(image, label)` in canonical order (the position is the
            example's identity). Apply it to the training split only: the test
            set's labels are the truth that accuracy is measured against.
        fraction: the probability, per example, that its label is replaced by
            another class, in `[0, 1]`. `0` returns `dataset` itself.
        num_classes: `C`.
        seed: the run's seed.

    Returns:
        A dataset of `(image, noisy_label)`, int32 labels, in the same order.

    Example:

    ```python
    noisy = keras_rlr.label_noise.with_label_noise(ds, 0.1, num_classes=10, seed=0)
    train = keras_rlr.data.with_random_labels(noisy, num_random_labels=10, seed=0)
    ```
    """
    _check(fraction, num_classes)
    if fraction == 0:
        return dataset

    def replace(index, example):
        image, label = example
        return image, noisy_label(index, label, fraction, num_classes, seed)

    return dataset.enumerate().map(
        replace, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def _check(fraction, num_classes):
    if not 0 <= fraction <= 1:
        raise ValueError(f"Expected 0 <= fraction <= 1. Received: fraction={fraction}")
    if num_classes < 2:
        raise ValueError(
            f"Label noise needs at least 2 classes. Received: num_classes={num_classes}"
        )
