"""Shared by the tests: tiny models and data, and runs of the real entry points."""

import os
import subprocess
import sys

import keras
import numpy as np

from keras_rlr.train.config import Config

# The contract: what RandomLabelModel logs (and `val_...` of each).
LOGGED_METRICS = (
    "loss",
    "class_loss",
    "random_label_loss",
    "reg_loss",
    "accuracy",
    "random_label_accuracy",
)
# Tiny dense problem: C classes, R random labels, D features, IN inputs.
C, R, D, IN = 3, 4, 6, 5


def tiny_keras_model():
    """A plain compiled Keras model, `(batch, 2) -> (batch, 1)`: backup tests."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def restored_tiny_model(backup_dir):
    """A new `tiny_keras_model`, restored from the latest backup in `backup_dir`."""
    from keras_rlr.callbacks import BackupAndRestore

    model = tiny_keras_model()
    callback = BackupAndRestore(str(backup_dir))
    callback.set_model(model)
    callback.on_train_begin()
    return model


def dense_extractor():
    """A one-layer tanh feature extractor, `(batch, IN) -> (batch, D)`."""
    inputs = keras.Input((IN,))
    return keras.Model(inputs, keras.layers.Dense(D, activation="tanh")(inputs))


def assert_sgd_step(variables, before, gradients, lr):
    """Each variable moved by exactly `-lr * gradient` (one plain SGD step)."""
    for variable, value, gradient in zip(variables, before, gradients, strict=True):
        np.testing.assert_allclose(
            variable.numpy(),
            value - lr * np.asarray(gradient),
            rtol=1e-4,
            atol=1e-6,
            err_msg=variable.path,
        )


def batch(n=16, seed=0):
    """`n` random inputs with class and random labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, IN)).astype(np.float32)
    y = {"label": rng.integers(0, C, n), "random_label": rng.integers(0, R, n)}
    return x, y


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


def flip(path, count=64):
    """Inverts `count` bytes in the middle of the file at `path` (a
    `pathlib.Path`): damage that keeps its size."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + count] = bytes(
        b ^ 0xFF for b in data[middle : middle + count]
    )
    path.write_bytes(bytes(data))
