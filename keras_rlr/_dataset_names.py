"""The dataset names `keras_rlr.datasets.load` knows. Imports no TensorFlow, so
that a command line refuses an unknown `--dataset` at once.

TFDS's registry (`tfds.list_builders`) is read without importing TensorFlow.
"""

import difflib

LOCAL_DATASETS = ("digits", "digits32", "mnist1d", "synthetic")


def _tfds_names():
    import tensorflow_datasets as tfds

    return tfds.list_builders(with_community_datasets=False)


def available(name):
    """Whether `name` is a dataset `load` knows (local or a registered TFDS)."""
    return name in LOCAL_DATASETS or name in _tfds_names()


def check(name):
    """Raises `ValueError` naming the valid names (and the closest) unless
    `available(name)`."""
    if available(name):
        return True
    close = difflib.get_close_matches(
        name, [*LOCAL_DATASETS, *_tfds_names()], n=1, cutoff=0.6
    )
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown dataset: expected {', '.join(LOCAL_DATASETS)} (offline) or a "
        "TFDS image dataset with train and test splits (cifar100, cifar10, mnist, "
        f"...; `tfds.list_builders()` lists them).{hint} Received: dataset={name!r}"
    )
