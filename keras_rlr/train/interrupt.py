"""Stopping a run on SIGINT/SIGTERM at a safe point, its last backup whole.

While `fit` runs, `train.py` records a signal (`keras_rlr.train.console`)
instead of raising it wherever the interpreter happens to be, for instance
inside `BackupAndRestore` writing its files: a half-written backup cannot be
resumed. `StopAtSafePoints`, the last callback, raises it after a batch or
after the epoch's backup is complete.
"""

import keras

from keras_rlr.train import console


class StopAtSafePoints(keras.callbacks.Callback):
    """Defers SIGINT/SIGTERM during `fit` and raises a pending one's
    `console.Interrupted` between batches and at the end of an epoch.

    Put it after `BackupAndRestore`. Without `train.py`'s signal handlers
    (`console.run_app`) it does nothing.
    """

    def on_train_begin(self, logs=None):
        console.defer_signals()

    def on_train_batch_end(self, batch, logs=None):
        console.raise_pending()

    def on_test_batch_end(self, batch, logs=None):
        console.raise_pending()

    def on_epoch_end(self, epoch, logs=None):
        console.raise_pending()

    def on_train_end(self, logs=None):
        console.defer_signals(False)
        console.raise_pending()
