"""The three per-example losses and the memorization metric.

All functions take the random-label heads' logits `z` of shape `(batch, C, R)`
and return one value per example, shape `(batch,)`. Probabilities are the joint
softmax over all `C * R` entries, `q = softmax(z.reshape(batch, C * R))`, so
`q[c, r]` is a joint probability of (class `c`, random label `r`) and
`sum_r q[c, r]` is a class probability (see `docs/method.md`).

Which variables each loss trains is decided by `RandomLabelModel.train_step`,
not here: these are plain functions of logits, written with `keras.ops`.
"""

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
    log_probs = ops.log_softmax(logits, axis=-1)
    nll = -_take(log_probs, labels)
    if not label_smoothing:
        return nll
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


def random_label_loss(labels, random_labels, head_logits):
    """`L_rand = -log q[y, rho]`: the true class's head names the random label."""
    logits = ops.cast(head_logits, "float32")
    own_head = _take(logits, labels)  # (batch, R)
    return _joint_logsumexp(logits) - _take(own_head, random_labels)


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
    own_head = _take(head_logits, labels)
    predicted = ops.argmax(own_head, axis=-1)
    return ops.cast(
        ops.equal(predicted, ops.cast(random_labels, predicted.dtype)), "float32"
    )


def _joint_logsumexp(logits):
    batch = ops.shape(logits)[0]
    return ops.logsumexp(ops.reshape(logits, (batch, -1)), axis=-1)


def _take(values, indices):
    """`values[b, indices[b], ...]` for every row `b`."""
    indices = ops.cast(ops.reshape(indices, (-1,)), "int32")
    return ops.take_along_axis(
        values,
        ops.reshape(indices, (-1,) + (1,) * (len(values.shape) - 1)),
        axis=1,
    )[:, 0]
