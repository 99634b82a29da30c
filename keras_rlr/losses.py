"""The three per-example losses and the memorization metric.

All functions take the random-label heads' logits `z` of shape `(batch, C, R)`
and return one value per example, shape `(batch,)`. Probabilities are the joint
softmax over all `C * R` entries, `q = softmax(z.reshape(batch, C * R))`, so
`q[c, r]` is a joint probability of (class `c`, random label `r`) and
`sum_r q[c, r]` is a class probability (see `docs/method.md`).

Which variables each loss trains is decided by `RandomLabelModel.train_step`,
not here: these are plain functions of logits, written with `keras.ops` (and
`tf.gather` and `tf.argmax`, where the `keras.ops` versions add ops per call).
`head_losses` computes `L_rand`, `L_reg` and the metric together, sharing the
joint logsumexp and the gather of the true class's head: a training step is
many small ops at CPU scale, and each op costs time regardless of its size.
"""

import tensorflow as tf
from keras import ops


def class_loss(labels, class_logits, label_smoothing=0.0):
    """Cross-entropy of the class head, with optional label smoothing.

    With smoothing `eps`, the target is `(1 - eps) * onehot(y) + eps / C`.

    Args:
        labels: int tensor `(batch,)`, class indices in `[0, C)`.
        class_logits: float tensor `(batch, C)`.
        label_smoothing: float in `[0, 1)`.

    Returns:
        Float32 tensor `(batch,)`.
    """
    logits = ops.cast(class_logits, "float32")
    if not label_smoothing:
        # The fused op of a plain Keras classifier's loss: one op each way.
        return _cross_entropy(labels, logits)
    log_probs = ops.log_softmax(logits, axis=-1)
    nll = -_take(log_probs, labels)
    return (1.0 - label_smoothing) * nll - label_smoothing * ops.mean(
        log_probs, axis=-1
    )


def joint_log_softmax(head_logits):
    """`log q` of shape `(batch, C, R)`: log-softmax over all `C * R` entries."""
    logits = ops.cast(head_logits, "float32")
    return logits - _joint_logsumexp(logits)[:, None, None]


def summed_class_log_probs(head_logits):
    """`log p(c|x) = log sum_r q[c, r]`, `(batch, C)`: the single-output prediction.

    `q` is the joint softmax over all `C * R` head logits, so the result is a
    normalized log-probability (its `logsumexp` over classes is 0) and also a
    valid logit vector.
    """
    return ops.logsumexp(joint_log_softmax(head_logits), axis=-1)


def head_losses(labels, random_labels, head_logits):
    """`(L_rand, L_reg, random-label accuracy)`, each `(batch,)`, from one pass.

    The numbers of `random_label_loss`, `reg_loss` and `random_label_accuracy`
    (up to float rounding), sharing their work: `L_rand` is the fused sparse
    cross-entropy over the `C * R` joint logits with target `y * R + rho`,
    and `L_reg = L_rand + z[y, rho] - mean_r z[y, r]` reuses its
    normalizer, `log sum exp z = L_rand + z[y, rho]`.
    """
    logits = ops.cast(head_logits, "float32")
    own_head = _take(logits, labels)  # (batch, R)
    own_logit = _take(own_head, random_labels)
    random_label_loss = _joint_cross_entropy(labels, random_labels, logits)
    return (
        random_label_loss,
        random_label_loss + own_logit - ops.mean(own_head, axis=-1),
        _hits(own_head, random_labels),
    )


def random_label_loss(labels, random_labels, head_logits):
    """`L_rand = -log q[y, rho]`: the true class's head names the random label."""
    return _joint_cross_entropy(labels, random_labels, ops.cast(head_logits, "float32"))


def reg_loss(labels, head_logits):
    """`L_reg = -(1/R) sum_r log q[y, r]`.

    The cross-entropy between the uniform distribution over the `R` random
    labels and the true class's head, under the joint normalisation.
    """
    logits = ops.cast(head_logits, "float32")
    own_head = _take(logits, labels)  # (batch, R)
    return _joint_logsumexp(logits) - ops.mean(own_head, axis=-1)


def random_label_accuracy(labels, random_labels, head_logits):
    """1.0 where `argmax_r z[y, r] == rho`, else 0.0; chance is `1 / R`."""
    return _hits(_take(head_logits, labels), random_labels)


def class_hits(labels, class_logits):
    """1.0 where `argmax_c class_logits == y`, else 0.0: the class accuracy."""
    return _hits(class_logits, labels)


def _hits(scores, targets):
    # 1.0 where the last axis's argmax is the target. `tf.argmax`, like
    # NumPy's in `keras_rlr.memorization`: `ops.argmax` adds five ops per call
    # to rank -0.0 below 0.0.
    predicted = tf.argmax(scores, axis=-1, output_type=tf.int32)
    return ops.cast(ops.equal(predicted, _flat(targets)), "float32")


def _joint_logsumexp(logits):
    batch = ops.shape(logits)[0]
    return ops.logsumexp(ops.reshape(logits, (batch, -1)), axis=-1)


def _joint_cross_entropy(labels, random_labels, logits):
    """`-log q[y, rho]`: sparse cross-entropy over the flattened `C * R` logits."""
    batch, _, num_random_labels = ops.shape(logits)
    joint_labels = _flat(labels) * num_random_labels + _flat(random_labels)
    return _cross_entropy(joint_labels, ops.reshape(logits, (batch, -1)))


def _cross_entropy(labels, logits):
    return ops.sparse_categorical_crossentropy(_flat(labels), logits, from_logits=True)


def _take(values, indices):
    """`values[b, indices[b], ...]` for every row `b`.

    One gather from the rows of `values` flattened over its first two axes:
    a few ops each way, where `take_along_axis` expands to about fifty (and
    `ops.take` adds four to wrap negative indices, which these never are).
    """
    batch, size = ops.shape(values)[:2]
    rows = ops.reshape(values, (-1,) + tuple(values.shape[2:]))
    return tf.gather(rows, ops.arange(batch) * size + _flat(indices))


def _flat(indices):
    return ops.cast(ops.reshape(indices, (-1,)), "int32")
