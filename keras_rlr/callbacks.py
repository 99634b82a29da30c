"""Callbacks for `RandomLabelModel` training."""

import csv
import json
import os
import shutil
import warnings
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


# `BackupAndRestore(restore=LATEST)`: `choose_backup` picks when training begins.
LATEST = "latest"


class BackupAndRestore(keras.callbacks.Callback):
    """Back up the whole training state at the end of every epoch, atomically.

    Keras's `BackupAndRestore` writes the weights and the epoch in two files,
    one after the other, and keeps neither the `SeedGenerator` states (after a
    restart, dropout would draw other masks) nor the history: a crash between
    its writes resumes from a mix of two epochs. Here a backup is one unit, a
    directory `epoch_<N>` holding `variables.npz` (weights and optimizer
    state, written by `np.savez` with plain file I/O: h5py writing straight to
    a full disk crashed the process with a segfault) and `state.json` (the
    epoch, the seed-generator states, the identity of the run that wrote it
    and, if `history_file` is given, the rows of that CSV so far). It is
    written under a temporary name, fsynced and renamed, so a crash leaves the
    old backup or the new one, never a mix. The previous backup is kept.

    Which backup is restored is decided by one function, `choose_backup`: the
    newest one whose every file reads back whole (`Backup.verify`: every
    array of `variables.npz`, so the checksums its archive carries, and their
    shapes against the model) and that belongs to this run; a damaged newer
    one is skipped (and named), a backup of another run is refused
    (`ForeignBackupError`). A caller that has already chosen (`train.py`
    builds its training stream from the chosen epoch) passes the choice as
    `restore`, and exactly that backup is restored.

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
            a resumed run can rebuild it (`Backup.history`).
        keep: how many backups to keep (at least 2: the latest and a fallback).
        run: a JSON-ready dict that identifies the run (its settings, seed
            included), written into every backup; a backup is only restored
            into a run with the same `run` (None: not checked).
        restore: `"latest"` (default: `choose_backup` picks, when training
            begins), a `Backup` that the caller chose (restored as it is), or
            None (start from the model as it is).

    Example:

    ```python
    model.fit(ds, epochs=10, callbacks=[BackupAndRestore("/tmp/backup")])
    # Killed? The same call resumes after the last finished epoch.
    ```
    """

    def __init__(self, backup_dir, history_file=None, keep=2, run=None, restore=LATEST):
        super().__init__()
        if keep < 2:
            raise ValueError(f"keep must be at least 2. Received: keep={keep}")
        if not (restore is None or restore == LATEST or isinstance(restore, Backup)):
            raise ValueError(
                f'restore must be "{LATEST}", a Backup or None. '
                f"Received: restore={restore!r}"
            )
        self.backup_dir = backup_dir
        self.history_file = history_file
        self.keep = keep
        self.run = run
        self.restore = restore
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

    def on_train_begin(self, logs=None):
        self.wait()
        if not self.model.built:
            raise ValueError(
                "BackupAndRestore: build the model before fit() (call it on a "
                f"batch). Received: unbuilt model {self.model.name!r}"
            )
        backup = self.restore
        if isinstance(backup, str):
            backup, damaged = choose_backup(
                self.backup_dir, backup_variables(self.model), self.run
            )
            for error in damaged:
                warnings.warn(
                    f"BackupAndRestore: {error}; falling back to an older backup.",
                    stacklevel=2,
                )
            if backup is None and damaged:
                raise damaged[0]
        if backup is not None:
            backup.restore(self.model)
            self.model._initial_epoch = backup.epoch

    def on_epoch_end(self, epoch, logs=None):
        self.wait()  # one writer: the previous backup first
        state = {
            "epoch": epoch + 1,
            "seed_states": {
                path: v.numpy().tolist()
                for path, v in _seed_variables(self.model).items()
            },
        }
        if self.run is not None:
            state["run"] = self.run
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
_STATE = "state.json"


def _variables(model):
    """The variables a backup holds: the model's, then the optimizer's."""
    optimizer = model.optimizer.variables if model.optimizer is not None else []
    return list(model.weights) + list(optimizer)


def backup_variables(model):
    """The variables a backup of `model` holds, in order (the model's, then
    its optimizer's, which this builds if `fit` has not yet)."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return _variables(model)


def _seed_variables(model):
    return {v.path: v for v in model.variables if v.name == "seed_generator_state"}


def _save_arrays(arrays, path):
    """The values of `_variables(model)` as one `.npz`, written with plain file
    I/O (a full disk is an `OSError`, nothing worse: h5py segfaulted)."""
    with open(path, "wb") as f:
        np.savez(f, *arrays)
        f.flush()
        os.fsync(f.fileno())


class BackupError(ValueError):
    """A backup that cannot be restored: `path` names the file at fault.

    Attributes:
        backup: the backup's directory.
        path: the damaged (or missing) file, or the directory.
        reason: what is wrong with it.
    """

    def __init__(self, backup, path, reason):
        super().__init__(f"{path} is damaged ({reason})")
        self.backup, self.path, self.reason = backup, path, reason


class ForeignBackupError(BackupError):
    """A readable backup that another run wrote (other settings or seed).

    `changes` maps each differing setting to `(the backup's, this run's)`.
    """

    def __init__(self, backup, path, changes):
        described = ", ".join(
            f"{key}: {old!r} -> {new!r}" for key, (old, new) in changes.items()
        )
        ValueError.__init__(self, f"{backup} was written by another run ({described})")
        self.backup, self.path, self.reason = backup, path, described
        self.changes = changes


def _one_line(error):
    """An exception as `Type: message` on one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Backup:
    """One backup directory written by `BackupAndRestore`.

    Nothing is trusted until `verify` has read every file of it; `restore`
    then assigns exactly the values that were verified.
    """

    def __init__(self, path, epoch):
        self.path = path
        self.epoch = epoch
        self.weights_path = os.path.join(path, _WEIGHTS)
        self.state_path = os.path.join(path, _STATE)
        self.state = None
        self.values = None  # the verified arrays, in `_variables` order

    def _damaged(self, path, reason):
        return BackupError(self.path, path, reason)

    def verify(self, variables=None, run=None):
        """Reads every file of the backup and checks it; raises if it is not whole.

        Checks `state.json` (strict JSON, this directory's epoch), that it was
        written by `run` (when given: `ForeignBackupError` otherwise), and
        every array of `variables.npz` (reading an array checks the CRC-32 its
        zip archive carries) and, when `variables` are given, their number,
        shapes and dtypes.

        Raises:
            BackupError: naming the file and what is wrong with it.
            ForeignBackupError: the backup belongs to another run.
        """
        try:
            with open(self.state_path) as f:
                state = json.load(f)
        except FileNotFoundError:
            raise self._damaged(self.state_path, "missing") from None
        except (OSError, ValueError) as error:  # unreadable, not JSON, not UTF-8
            raise self._damaged(self.state_path, _one_line(error)) from error
        if not isinstance(state, dict) or state.get("epoch") != self.epoch:
            epoch = state.get("epoch") if isinstance(state, dict) else state
            raise self._damaged(
                self.state_path, f"names epoch {epoch!r}, not {self.epoch}"
            )
        if run is not None:
            theirs = state.get("run")
            if not isinstance(theirs, dict):
                raise self._damaged(
                    self.state_path, "records no run identity (another version?)"
                )
            changes = {
                key: (theirs.get(key), run.get(key))
                for key in sorted(set(theirs) | set(run))
                if theirs.get(key) != run.get(key)
            }
            if changes:
                raise ForeignBackupError(self.path, self.state_path, changes)
        try:
            with np.load(self.weights_path, allow_pickle=False) as archive:
                names = [f"arr_{i}" for i in range(len(archive.files))]
                if sorted(archive.files) != sorted(names):
                    raise ValueError(f"unexpected members {archive.files[:3]}")
                # Reading each member whole checks its CRC-32.
                values = [archive[name] for name in names]
        except FileNotFoundError:
            raise self._damaged(self.weights_path, "missing") from None
        except Exception as error:  # noqa: BLE001 (any failure to read is damage)
            # A zero-byte file is EOFError, a cut one BadZipFile, flipped bytes
            # "Bad CRC-32" (BadZipFile) or a bad header (ValueError), ...
            raise self._damaged(self.weights_path, _one_line(error)) from error
        if variables is not None:
            if len(values) != len(variables):
                raise self._damaged(
                    self.weights_path,
                    f"holds {len(values)} variables, the model has {len(variables)}",
                )
            for variable, value in zip(variables, values, strict=True):
                expected = (tuple(variable.shape), np.dtype(variable.dtype))
                if (value.shape, value.dtype) != expected:
                    raise self._damaged(
                        self.weights_path,
                        f"{variable.path} is {value.dtype}{list(value.shape)}, "
                        f"the model's is {expected[1]}{list(expected[0])}",
                    )
        self.state, self.values = state, values
        return state

    def restore(self, model):
        """Loads this backup's weights, optimizer state and seed-generator
        states into `model` (verifying it against `model` first, unless it
        was)."""
        variables = backup_variables(model)
        if self.values is None or len(self.values) != len(variables):
            self.verify(variables)
        seeds = _seed_variables(model)
        states = self.state.get("seed_states", {})
        if set(states) != set(seeds):  # dropout would draw other masks
            raise self._damaged(
                self.state_path,
                f"its seed generators {sorted(states)[:3]} are not the model's "
                f"{sorted(seeds)[:3]}",
            )
        for variable, value in zip(variables, self.values, strict=True):
            variable.assign(value)
        for name, variable in seeds.items():
            variable.assign(np.asarray(states[name], variable.dtype))

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


def choose_backup(backup_dir, variables=None, run=None):
    """The backup to resume from: the one decision, for every reader.

    The newest backup in `backup_dir` that `Backup.verify(variables, run)`
    accepts; newer ones that are damaged are skipped and returned. A backup of
    another run (`ForeignBackupError`) is never skipped: it is raised, since
    the directory then holds something it should not.

    Returns:
        `(backup or None, [BackupError of each skipped backup, newest first])`;
        `(None, [...])` when every backup is damaged, `(None, [])` when there
        is none.
    """
    damaged = []
    for backup in backups(backup_dir):
        try:
            backup.verify(variables, run)
        except ForeignBackupError:
            raise
        except BackupError as error:
            damaged.append(error)
            continue
        return backup, damaged
    return None, damaged


class IncompleteEpochError(RuntimeError):
    """An epoch trained fewer steps than `steps_per_epoch`: its input ran out."""


class RequireFullEpochs(keras.callbacks.Callback):
    """Stop with `IncompleteEpochError` when an epoch ends short of its steps.

    When the input runs out, Keras warns ("Your input ran out of data") and
    ends the epoch, and `fit` returns as if all went well: an epoch trained
    on part of its data, or none, logged as complete. This callback counts
    the steps of each epoch and raises at its end instead. Put it before the
    callbacks that log or back up an epoch.

    Args:
        steps_per_epoch: the steps each epoch must train.

    Example:

    ```python
    model.fit(ds, epochs=3, steps_per_epoch=100,
              callbacks=[RequireFullEpochs(100), keras.callbacks.CSVLogger(path)])
    ```
    """

    def __init__(self, steps_per_epoch):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self._steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1  # the last step of the call (steps_per_execution)

    def on_epoch_end(self, epoch, logs=None):
        if self._steps != self.steps_per_epoch:
            raise IncompleteEpochError(
                f"epoch {epoch + 1} trained {self._steps} of its "
                f"{self.steps_per_epoch} steps: the input ran out of data"
            )


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
