"""The checks `RandomLabelModel` makes of its data: label specs refused
while the step is traced, in-graph checks of label ranges and finite inputs,
and their failures in one line."""

import contextlib

import tensorflow as tf

# Starts the message of every in-graph check of the data: `fit` and
# `train.py` turn such a failure into this one line.
BAD_DATA = "bad input data"


def describe(y):
    """`y` for an error message: a tensor by its shape and dtype."""
    if isinstance(y, dict):
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in y.items()) + "}"
    if hasattr(y, "shape") and hasattr(y, "dtype"):
        return f"a tensor of dtype {y.dtype.name} and shape {tuple(y.shape)}"
    return repr(y)


def check_label_spec(key, labels):
    """Refuses, while the step is traced, labels that are not integer class
    ids of shape `(batch,)` or `(batch, 1)`: one-hot labels would broadcast
    into a shape error, float labels would be truncated."""
    fix = (
        f"y['{key}'] must hold integer class ids of shape (batch,) or (batch, 1); "
        "keras_rlr.data.with_random_labels makes such targets from (image, "
        "label) pairs."
    )
    shape = labels.shape
    if shape.rank == 2 and shape[1] != 1:
        raise ValueError(
            f"RandomLabelModel got one-hot (or multi-column) labels: {fix} For "
            f"one-hot labels, take tf.argmax(label, -1) first. Received: "
            f"y['{key}'].shape={tuple(shape)}"
        )
    if shape.rank not in (1, 2):
        raise ValueError(
            f"RandomLabelModel got labels of rank {shape.rank}: {fix} Received: "
            f"y['{key}'].shape={tuple(shape)}"
        )
    if not (labels.dtype.is_integer or labels.dtype.is_bool):
        raise ValueError(
            f"RandomLabelModel got {labels.dtype.name} labels, which would be "
            f"truncated: {fix} Received: y['{key}'].dtype={labels.dtype.name}"
        )


@contextlib.contextmanager
def errors_in_one_line():
    """Re-raises a failed in-graph data check (`BAD_DATA`) as the same
    `InvalidArgumentError` holding only the check's message."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        lines = [line for line in error.message.splitlines() if BAD_DATA in line]
        if not lines:
            raise
        # "assertion failed: [<message>]" -> "<message>"
        message = lines[0][lines[0].index(BAD_DATA) :].rstrip().rstrip("]")
        raise tf.errors.InvalidArgumentError(None, None, message) from None


def finite_check(x):
    """An assertion that `x` holds no NaN or Inf: one vectorized `IsFinite`
    and one reduction (`tf.debugging.assert_all_finite`'s `CheckNumerics`
    scans element by element: 3.5x as long for a CIFAR batch of 128)."""
    return tf.debugging.Assert(
        tf.reduce_all(tf.math.is_finite(x)),
        [
            f"{BAD_DATA}: an input value is NaN or Inf. Clean the inputs "
            "(e.g. np.nan_to_num) or drop those examples"
        ],
    )


def range_check(values, upper, what, bound_name):
    """An assertion that every value lies in `[0, upper)`, naming the bound.

    One comparison as unsigned integers (a negative value wraps above any
    bound) and one `Assert`: `tf.debugging.assert_less` and friends build a
    dozen ops each, paid on every step of a small model.
    """
    in_range = tf.reduce_all(tf.cast(values, tf.uint32) < upper)
    return tf.debugging.Assert(
        in_range,
        [
            f"{BAD_DATA}: a {what} in the data is negative or >= {bound_name}="
            f"{upper}: {what}s must lie in [0, {bound_name})"
        ],
    )
