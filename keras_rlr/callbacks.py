"""Callbacks for `RandomLabelModel` training."""

import csv
import json
import os
import shutil
import warnings
import zipfile
from concurrent import futures

import keras
import numpy as np
import tensorflow as tf

from keras_rlr import _atomic, data


class TrainSetEvaluation(keras.callbacks.Callback):
    """Evaluate on the un-augmented training set at the end of every epoch.

    The running `random_label_accuracy` of `fit` is measured in training mode
    (dropout on, augmented images, weights changing during the epoch). The
    paper's complexity metric is the end-of-epoch accuracy on the clean
    training set in inference mode; this callback adds it to the epoch logs as
    `train_<metric>` (by default `train_accuracy`,
    `train_random_label_accuracy` and, for a model with probes,
    `train_random_label_accuracy_<probe>` of each).

    Put it *before* any callback that reads the logs (`CSVLogger`,
    `TensorBoard`, ...): callbacks see the logs in list order.

    Args:
        dataset: the training set, batched, un-augmented, with its random
            labels (`keras_rlr.data.evaluation_dataset(..., stream=TRAIN_STREAM)`).
        metrics: names of the model's metrics to add (default: the class
            and random-label accuracies, and every probe's).

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

    def __init__(self, dataset, metrics=None):
        super().__init__()
        spec = getattr(dataset, "element_spec", None)
        if not data.carries_random_labels(spec):
            raise ValueError(
                "TrainSetEvaluation expects a batched dataset of (image, "
                '{"label", "random_label"}), e.g. keras_rlr.data.evaluation_dataset'
                f"(..., stream=TRAIN_STREAM). Received: element_spec={spec}"
            )
        if int(dataset.cardinality()) == 0:
            raise ValueError("TrainSetEvaluation: the dataset is empty.")
        self.dataset = dataset
        self.metric_names = tuple(metrics) if metrics is not None else None

    def _names(self):
        if self.metric_names is not None:
            return self.metric_names
        probes = getattr(self.model, "probe_names", ())
        return ("accuracy", "random_label_accuracy") + tuple(
            f"random_label_accuracy_{name}" for name in probes
        )

    def on_epoch_end(self, epoch, logs=None):
        results = self.model.evaluate(self.dataset, verbose=0, return_dict=True)
        names = self._names()
        unknown = set(names) - set(results)
        if unknown:
            raise ValueError(
                f"TrainSetEvaluation: the model logs no metric {sorted(unknown)}. "
                f"Available: {sorted(results)}"
            )
        if logs is not None:
            logs.update({f"train_{name}": results[name] for name in names})


class BackupAndRestore(keras.callbacks.Callback):
    """Back up the whole training state at the end of every epoch, atomically.

    Keras's `BackupAndRestore` writes the weights and the epoch in two files,
    one after the other, and keeps neither the `SeedGenerator` states (after a
    restart, dropout would draw other masks) nor the history: a crash between
    its writes resumes from a mix of two epochs. Here a backup is one unit, a
    directory `epoch_<N>` holding `variables.npz` (weights and optimizer
    state, written by `np.savez` with plain file I/O: h5py writing straight to
    a full disk crashed the process with a segfault) and `state.json` (the
    epoch, the seed-generator states and, if `history_file` is given, the rows
    of that CSV so far). It is written under a temporary name, fsynced and
    renamed, so a crash leaves the old backup or the new one, never a mix. The
    previous backup is kept: if the latest one cannot be read,
    `on_train_begin` falls back to it and warns.

    Epoch-level backups only: a mid-epoch backup would re-run the epoch from
    its first batch with weights from its middle.

    At the end of an epoch the state is read once (a traced read of every
    variable, 0.3 ms: TensorFlow copies a buffer only when the next update
    writes it); the files are written by a background thread while the next
    epoch trains, one backup at a time (the next epoch's end,
    `on_train_begin` and `on_train_end` wait for it, and raise its error,
    e.g. a full disk). A crash before that write is done resumes from the
    epoch before, as a crash during any write always has. After `fit`
    raised, call `wait()` to know that the last backup is on disk (`train.py`
    does); the interpreter also finishes the write before it exits.

    Args:
        backup_dir: where the backups live.
        history_file: a CSV (e.g. `keras.callbacks.CSVLogger`'s, listed
            before this callback) whose rows are kept with each backup, so that
            a resumed run can rebuild it (`latest_backup(...).history`).
        keep: how many backups to keep (at least 2: the latest and a fallback).

    Example:

    ```python
    model.fit(ds, epochs=10, callbacks=[BackupAndRestore("/tmp/backup")])
    # Killed? The same call resumes after the last finished epoch.
    ```
    """

    def __init__(self, backup_dir, history_file=None, keep=2):
        super().__init__()
        if keep < 2:
            raise ValueError(f"keep must be at least 2. Received: keep={keep}")
        self.backup_dir = backup_dir
        self.history_file = history_file
        self.keep = keep
        # One writer thread for all backups, started by the first one.
        self._writer = None
        self._pending = None  # the latest backup's `Future`, until `wait`
        self._read = None  # (the variables' ids, their traced snapshot)

    def wait(self):
        """Returns once the latest backup is on disk; raises what writing it
        raised (an `OSError` for a full disk)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _seed_variables(self):
        return {
            v.path: v for v in self.model.variables if v.name == "seed_generator_state"
        }

    def on_train_begin(self, logs=None):
        self.wait()
        if not self.model.built:
            raise ValueError(
                "BackupAndRestore: build the model before fit() (call it on a "
                f"batch). Received: unbuilt model {self.model.name!r}"
            )
        for backup in backups(self.backup_dir):
            try:
                backup.load_state()
                backup.restore(self.model)
            except _CORRUPT as error:
                warnings.warn(
                    f"BackupAndRestore: the backup {backup.path} is corrupt "
                    f"({error}); falling back to the previous one.",
                    stacklevel=2,
                )
                continue
            states = backup.state.get("seed_states", {})
            for name, variable in self._seed_variables().items():
                if name in states:
                    variable.assign(np.asarray(states[name], variable.dtype))
            self.model._initial_epoch = backup.epoch
            return

    def on_epoch_end(self, epoch, logs=None):
        self.wait()  # one writer: the previous backup first
        state = {
            "epoch": epoch + 1,
            "seed_states": {
                path: v.numpy().tolist() for path, v in self._seed_variables().items()
            },
        }
        if self.history_file and os.path.exists(self.history_file):
            with open(self.history_file, newline="") as f:
                rows = list(csv.reader(f))
            state["history"] = {"header": rows[0], "rows": rows[1:]} if rows else None
        if self._writer is None:
            self._writer = futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="BackupAndRestore"
            )
        self._pending = self._writer.submit(
            self._save, epoch + 1, state, self._snapshot()
        )

    def _snapshot(self):
        """The values of `_variables(model)` now, as tensors that the next
        epoch's updates leave alone: TensorFlow copies a variable's buffer
        before updating it in place while a read of it is alive. One traced
        read of them all: 0.3 ms, where copying each into NumPy took 5 ms of
        a quickstart epoch's end."""
        variables = _variables(self.model)
        key = tuple(map(id, variables))  # the function keeps them alive
        if self._read is None or self._read[0] != key:
            read = tf.function(lambda: [tf.identity(v.value) for v in variables])
            self._read = key, read.get_concrete_function()
        return self._read[1]()

    def on_train_end(self, logs=None):
        self.wait()

    def _save(self, epoch, state, snapshot):
        arrays = [np.asarray(value) for value in snapshot]
        os.makedirs(self.backup_dir, exist_ok=True)
        final = os.path.join(self.backup_dir, f"{_PREFIX}{epoch}")
        tmp = os.path.join(self.backup_dir, f".{_PREFIX}{epoch}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            os.makedirs(tmp)
            _save_arrays(arrays, os.path.join(tmp, _WEIGHTS))
            with open(os.path.join(tmp, _STATE), "w") as f:
                json.dump(state, f, allow_nan=False)
                f.flush()
                os.fsync(f.fileno())
            _atomic.fsync_dir(tmp)
            if os.path.exists(final):  # a resumed run redoing an epoch
                shutil.rmtree(final)
            os.replace(tmp, final)
            _atomic.fsync_dir(self.backup_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for old in backups(self.backup_dir)[self.keep :]:
            shutil.rmtree(old.path, ignore_errors=True)


_PREFIX = "epoch_"
_WEIGHTS = "variables.npz"
# What reading a damaged backup raises.
_CORRUPT = (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile)


def _variables(model):
    """The variables a backup holds: the model's, then the optimizer's."""
    optimizer = model.optimizer.variables if model.optimizer is not None else []
    return list(model.weights) + list(optimizer)


def _save_arrays(arrays, path):
    """The values of `_variables(model)` as one `.npz`, written with plain file
    I/O (a full disk is an `OSError`, nothing worse: h5py segfaulted)."""
    with open(path, "wb") as f:
        np.savez(f, *arrays)
        f.flush()
        os.fsync(f.fileno())


def _load_variables(model, path):
    """Reads the `.npz` of `_save_arrays` into `model`; raises on a mismatch."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = _variables(model)
    with np.load(path, allow_pickle=False) as arrays:
        if len(arrays.files) != len(variables):
            raise ValueError(
                f"{path} holds {len(arrays.files)} variables, the model has "
                f"{len(variables)}"
            )
        values = [arrays[f"arr_{i}"] for i in range(len(variables))]
    for variable, value in zip(variables, values, strict=True):
        if tuple(variable.shape) != value.shape:
            raise ValueError(
                f"{path}: {variable.path} has shape {value.shape}, expected "
                f"{tuple(variable.shape)}"
            )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


_STATE = "state.json"


class Backup:
    """One backup directory written by `BackupAndRestore`."""

    def __init__(self, path, epoch):
        self.path = path
        self.epoch = epoch
        self.weights_path = os.path.join(path, _WEIGHTS)
        self.state_path = os.path.join(path, _STATE)
        self.state = None

    def load_state(self):
        """Reads and checks `state.json` and the variables file; raises if corrupt."""
        with open(self.state_path) as f:
            state = json.load(f)
        if int(state["epoch"]) != self.epoch:
            raise ValueError(f"{self.state_path} names epoch {state['epoch']}")
        with np.load(self.weights_path, allow_pickle=False) as arrays:
            arrays.files  # noqa: B018 (reads the archive's directory)
        self.state = state
        return state

    def restore(self, model):
        """Loads this backup's weights and optimizer state into `model`."""
        _load_variables(model, self.weights_path)

    @property
    def history(self):
        """The history CSV at this backup: `(header, rows)`, or None."""
        history = (self.state or {}).get("history")
        return (history["header"], history["rows"]) if history else None


def backups(backup_dir):
    """The complete backups in `backup_dir`, newest first (unchecked)."""
    try:
        names = os.listdir(backup_dir)
    except FileNotFoundError:
        return []
    found = [
        Backup(os.path.join(backup_dir, name), int(name[len(_PREFIX) :]))
        for name in names
        if name.startswith(_PREFIX) and name[len(_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda b: b.epoch, reverse=True)


def latest_backup(backup_dir):
    """The newest readable backup and the newer ones that are corrupt.

    Returns:
        `(backup or None, [(path, error), ...])`.
    """
    corrupt = []
    for backup in backups(backup_dir):
        try:
            backup.load_state()
        except _CORRUPT as error:
            corrupt.append((backup.path, error))
            continue
        return backup, corrupt
    return None, corrupt


class DivergedError(RuntimeError):
    """The loss became NaN or infinite: training stopped at `epoch`, `batch`."""

    def __init__(self, message, epoch, batch, loss):
        super().__init__(message)
        self.epoch, self.batch, self.loss = epoch, batch, loss


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stop training with `DivergedError` as soon as the loss is NaN or infinite.

    Keras's `TerminateOnNaN` stops quietly: `fit` returns normally and the run
    looks finished. This one raises, naming the epoch and batch, so that a
    diverged run can never pass for a result. It reads the batch loss that
    `fit` already computes (the same cost as `TerminateOnNaN`). A NaN or
    infinite input makes the loss non-finite too, so it catches those as well.

    Example:

    ```python
    try:
        model.fit(ds, epochs=3, callbacks=[StopOnNonFiniteLoss()])
    except DivergedError as error:
        print(error.epoch, error.batch)
    ```
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(np.asarray(loss))
        if not np.isfinite(loss):
            epoch = getattr(self, "_epoch", 0)
            raise DivergedError(
                f"the loss became {loss} at epoch {epoch + 1}, batch {batch + 1}: "
                "training diverged. Likely causes: a learning rate too high for "
                "this model (lower --learning_rate), or NaN/Inf values in the "
                "inputs.",
                epoch,
                batch,
                loss,
            )
