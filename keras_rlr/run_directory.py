"""A run directory's state: fresh, interrupted (resumable) or finished.

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

BACKUP = "backup"
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

    def is_finished(self):
        return os.path.exists(self.file("summary.json"))

    def check_config(self, config):
        """Refuse to continue a run that was started with other settings."""
        path = self.file("config.json")
        if not os.path.exists(path):
            return
        try:
            with open(path) as f:
                previous = json.load(f)
        except (OSError, ValueError) as error:
            raise RunDirectoryError(
                f"Cannot read {path} ({error}). Delete it or choose another "
                "--output_dir."
            ) from error
        changed = {
            key: (previous.get(key), value)
            for key, value in config.items()
            # A key the old config lacks came with a newer version of the code.
            if key in previous
            and key not in _RESUMABLE_CHANGES
            and previous[key] != value
        }
        if changed and self.resume_epoch() > 0:
            details = ", ".join(
                f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items()
            )
            raise RunDirectoryError(
                f"{self.path!r} holds an interrupted run with other settings "
                f"({details}). Resume it with its own flags "
                f"(--flagfile={self.file('flags.txt')}) or choose another "
                "--output_dir."
            )

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

    def truncate_history(self, epochs):
        """Keep the first `epochs` rows of history.csv (drop a crashed epoch's)."""
        path = self.file("history.csv")
        if not os.path.exists(path):
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames, list(reader)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(r for r in rows if int(r["epoch"]) < epochs)


# Settings that may differ between the interrupted run and its resumption.
_RESUMABLE_CHANGES = ("verbose", "export_dir")


def _readable_h5(path):
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False
