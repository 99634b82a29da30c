"""Shared by the tests that run `train.py` or `train_and_evaluate` for real."""

import os
import subprocess
import sys

from keras_rlr.experiment import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_train(*args, timeout=600):
    """`python train.py ARGS` from the repository root, as users run it."""
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tiny_config(**overrides):
    """A `Config` that trains a tiny CNN on a slice of digits in seconds."""
    settings = dict(
        dataset="digits",
        model="small_cnn",
        cnn_width=4,
        cnn_feature_dim=8,
        epochs=1,
        batch_size=64,
        max_train_examples=128,
        verbose=0,
    )
    return Config(**(settings | overrides))
