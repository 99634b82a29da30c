"""Callbacks for `RandomLabelModel` training."""

import json
import os

import keras
import numpy as np


class TrainSetEvaluation(keras.callbacks.Callback):
    """Evaluate on the un-augmented training set at the end of every epoch.

    The running `random_label_accuracy` of `fit` is measured in training mode
    (dropout on, augmented images, weights changing during the epoch). The
    paper's complexity metric is the end-of-epoch accuracy on the clean
    training set in inference mode; this callback adds it to the epoch logs as
    `train_<metric>` (by default `train_accuracy` and
    `train_random_label_accuracy`).

    Put it *before* any callback that reads the logs (`CSVLogger`,
    `TensorBoard`, ...): callbacks see the logs in list order.

    Args:
        dataset: the training set, batched, un-augmented, with its random
            labels (`keras_rlr.data.evaluation_dataset(..., stream=TRAIN_STREAM)`).
        metrics: names of the model's metrics to add.

    Example:

    ```python
    clean = keras_rlr.data.evaluation_dataset(
        ds, batch_size=256, num_random_labels=10, seed=0,
        stream=keras_rlr.data.TRAIN_STREAM)
    model.fit(
        train,
        callbacks=[TrainSetEvaluation(clean), keras.callbacks.CSVLogger(path)],
    )
    ```
    """

    def __init__(self, dataset, metrics=("accuracy", "random_label_accuracy")):
        super().__init__()
        self.dataset = dataset
        self.metric_names = tuple(metrics)

    def on_epoch_end(self, epoch, logs=None):
        results = self.model.evaluate(self.dataset, verbose=0, return_dict=True)
        unknown = set(self.metric_names) - set(results)
        if unknown:
            raise ValueError(
                f"TrainSetEvaluation: the model logs no metric {sorted(unknown)}. "
                f"Available: {sorted(results)}"
            )
        if logs is not None:
            logs.update({f"train_{name}": results[name] for name in self.metric_names})


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that also restores the random streams.

    Keras backs up weights, optimizer state and the epoch, but not the states
    of the model's `SeedGenerator`s: after a restart, dropout (and any other
    seeded layer) would draw masks other than those of an uninterrupted run.
    This subclass writes those states next to the backup, one file per epoch
    (`seed_states_<epoch>.json`, the last two kept, so that Keras's fallback to
    the previous backup finds its own), and restores the ones that match the
    epoch Keras restores. Use epoch-level backups (`save_freq="epoch"`).

    Args:
        backup_dir: where the backup lives.
        **kwargs: `keras.callbacks.BackupAndRestore` arguments.
    """

    def _seed_states_path(self, epoch):
        return os.path.join(self.backup_dir, f"seed_states_{epoch}.json")

    def _seed_variables(self):
        return {
            v.path: v for v in self.model.variables if v.name == "seed_generator_state"
        }

    def _save_model(self):
        # Before the weights and metadata: a crash in between leaves a state
        # file for an epoch that no metadata names, which is never read.
        os.makedirs(self.backup_dir, exist_ok=True)
        states = {
            path: v.numpy().tolist() for path, v in self._seed_variables().items()
        }
        with open(self._seed_states_path(self._current_epoch), "w") as f:
            json.dump(states, f)
        stale = self._seed_states_path(self._current_epoch - 2)
        if os.path.exists(stale):
            os.remove(stale)
        super()._save_model()

    def _load_model(self):
        super()._load_model()
        path = self._seed_states_path(getattr(self.model, "_initial_epoch", 0) or 0)
        if not os.path.exists(path):
            return
        with open(path) as f:
            states = json.load(f)
        for name, variable in self._seed_variables().items():
            if name in states:
                variable.assign(np.asarray(states[name], variable.dtype))
