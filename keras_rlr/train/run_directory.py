"""A run directory: its files, their contents and its state. The one owner.

Every file name of a run directory is spelled here, and everything that reads
a run (the run itself on resume, the sweep runner, the report) reads it
through `RunDirectory`:

- `config.json`: the resolved configuration; `flags.txt`: the command line's
  flags, a flagfile that reproduces the run;
- `history.csv`: one row per epoch, `epoch` and every logged metric;
- `summary.json`: the final epoch's metrics, `num_random_labels`, `chance`,
  ...; written last, its presence means "finished";
- `tensorboard/`, `model.keras`, `curves.png`; `backup/` while it runs;
- beside the directory, written by the sweep runner: `<dir>.log` (its output)
  and `<dir>.failed` (the exit status of a failed attempt).

A run's state is `fresh` (no directory yet), `interrupted` (a directory
without `summary.json`: started again, it resumes), `finished` or `failed`.

A run writes its backup (weights, optimizer state, next epoch) at the end of
every epoch with `keras.callbacks.BackupAndRestore`. Started again with the
same command after a crash, it resumes from that backup: the training stream
is a function of `(seed, epoch)` (`keras_rlr.data.training_dataset`), so the
resumed run sees the batches the uninterrupted one would have, and ends with
the same weights. Epoch-level backups only: a mid-epoch backup would re-run the
epoch from its first batch with weights from its middle.
"""

import csv
import json
import os
import shutil

from keras_rlr.train.config import RESUMABLE_CHANGES

CONFIG = "config.json"
FLAGS = "flags.txt"
HISTORY = "history.csv"
SUMMARY = "summary.json"
MODEL = "model.keras"
CURVES = "curves.png"
TENSORBOARD = "tensorboard"
BACKUP = "backup"
LOG_SUFFIX = ".log"
FAILED_SUFFIX = ".failed"
STATES = ("fresh", "interrupted", "finished", "failed")
_WEIGHTS = "latest.weights.h5"
_METADATA = "training_metadata.json"


class RunDirectoryError(Exception):
    """The directory cannot be used as it is; the message names file and fix."""


class RunDirectory:
    """Paths and state of one run's output directory."""

    def __init__(self, path):
        self.path = path

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def backup_dir(self):
        return self.file(BACKUP)

    @property
    def backup_weights(self):
        return os.path.join(self.backup_dir, _WEIGHTS)

    @property
    def log_file(self):
        """The sweep runner's log of this run's output, beside the directory."""
        return self.path + LOG_SUFFIX

    @property
    def failed_marker(self):
        """Beside the directory: the exit status of a failed attempt."""
        return self.path + FAILED_SUFFIX

    def is_finished(self):
        return os.path.exists(self.file(SUMMARY))

    def state(self):
        """One of `STATES`: `finished` (summary.json), `failed` (a failed
        attempt, not retried yet), `interrupted` (resumable) or `fresh`."""
        if self.is_finished():
            return "finished"
        if os.path.exists(self.failed_marker):
            return "failed"
        if os.path.isdir(self.path):
            return "interrupted"
        return "fresh"

    def read_summary(self):
        """`summary.json` as a dict."""
        with open(self.file(SUMMARY)) as f:
            return json.load(f)

    def write_summary(self, summary):
        """Writes `summary.json`: call it last, it marks the run finished."""
        with open(self.file(SUMMARY), "w") as f:
            json.dump(summary, f, indent=2)

    def read_history(self):
        """`history.csv` as metric -> list of floats (see `read_history`)."""
        return read_history(self.file(HISTORY))

    def write_config(self, config):
        """Writes `config.json`, the resolved settings (a JSON-ready dict)."""
        os.makedirs(self.path, exist_ok=True)
        with open(self.file(CONFIG), "w") as f:
            json.dump(config, f, indent=2)

    def write_flags(self, text):
        """Writes `flags.txt`, a flagfile that reproduces the run."""
        with open(self.file(FLAGS), "w") as f:
            f.write(text)

    def check_config(self, config):
        """Refuse to continue a run that was started with other settings."""
        changed = self.changed_settings(config)
        if changed and self.resume_epoch() > 0:
            raise RunDirectoryError(
                f"{self.path!r} holds an interrupted run with other settings "
                f"({describe_changes(changed)}). Resume it with its own flags "
                f"(--flagfile={self.file(FLAGS)}) or choose another "
                "--output_dir."
            )

    def changed_settings(self, config):
        """`{name: (old, new)}` for each setting of `config` (a dict) that
        differs from `config.json`'s, except `RESUMABLE_CHANGES` ({} without a
        config.json)."""
        path = self.file(CONFIG)
        if not os.path.exists(path):
            return {}
        try:
            with open(path) as f:
                previous = json.load(f)
        except (OSError, ValueError) as error:
            raise RunDirectoryError(
                f"Cannot read {path} ({error}). Delete it or choose another "
                "--output_dir."
            ) from error
        return {
            key: (previous.get(key), value)
            for key, value in config.items()
            # A key the old config lacks came with a newer version of the code.
            if key in previous
            and key not in RESUMABLE_CHANGES
            and previous[key] != value
        }

    def resume_epoch(self):
        """The epoch the backup resumes at (0: no backup).

        Mirrors `BackupAndRestore`: where the latest weights are unreadable
        (killed while writing them), it falls back to the previous backup.
        """
        for suffix in ("", ".bkp"):
            weights = os.path.join(self.backup_dir, _WEIGHTS + suffix)
            metadata = os.path.join(self.backup_dir, _METADATA + suffix)
            if not os.path.exists(weights):
                continue
            if not _readable_h5(weights):
                continue
            try:
                with open(metadata) as f:
                    return int(json.load(f)["epoch"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise RunDirectoryError(
                    f"The backup {metadata} is corrupt ({error}). Delete "
                    f"{self.backup_dir} to restart the run from scratch."
                ) from error
        weights = os.path.join(self.backup_dir, _WEIGHTS)
        if os.path.exists(weights):
            raise RunDirectoryError(
                f"The backup {weights} is corrupt (not a readable HDF5 file). "
                f"Delete {self.backup_dir} to restart the run from scratch."
            )
        return 0

    def remove_backup(self):
        """Deletes the backup of a finished run."""
        shutil.rmtree(self.backup_dir, ignore_errors=True)

    def truncate_history(self, epochs):
        """Keep the first `epochs` rows of history.csv (drop a crashed epoch's)."""
        path = self.file(HISTORY)
        if not os.path.exists(path):
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames, list(reader)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(r for r in rows if int(r["epoch"]) < epochs)


def describe_changes(changed):
    """`changed_settings`'s result as `name: old -> new, ...`."""
    return ", ".join(
        f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items()
    )


def read_history(path):
    """A `history.csv` as metric -> list of floats (the `epoch` column included)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        name: [float(row[name]) for row in rows if row[name] != ""]
        for name in (rows[0] if rows else {})
    }


def _readable_h5(path):
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False
