"""Constructor arguments shared by the library's layers, models and backbones:
checks whose errors name the argument, the rule and the value, and the one
weight-decay convention."""

import keras


def check_arg(name, value, ok, expected):
    """Raises `ValueError` unless `ok`, naming what `name` must be."""
    if not ok:
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value}")


def check_dropout(dropout):
    check_arg("dropout", dropout, 0 <= dropout < 1, "in [0, 1)")


def check_num_random_labels(num_random_labels):
    check_arg(
        "num_random_labels",
        num_random_labels,
        num_random_labels >= 2,
        ">= 2 (with one random label there is nothing to memorize)",
    )


def weight_decay_regularizer(weight_decay):
    """The kernel regularizer of torch-style weight decay (None for 0).

    `L2(weight_decay / 2)` adds `weight_decay / 2 * ||w||^2` to the loss, so
    the gradient gains `weight_decay * w`, as `torch.optim.SGD(weight_decay=)`.
    """
    return keras.regularizers.L2(weight_decay / 2) if weight_decay else None
