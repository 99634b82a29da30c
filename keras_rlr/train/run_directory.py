"""A run directory: its files, their contents and its state. The one owner.

Every file name of a run directory is spelled here, and everything that reads
a run (the run itself on resume, the sweep runner, the report) reads it
through `RunDirectory`:

- `config.json`: the resolved configuration; `flags.txt`: the command line's
  flags but `--output_dir`, a flagfile that reproduces the run wherever the
  directory is;
- `history.csv`: one row per epoch, `epoch` and every logged metric;
- `summary.json`: the final epoch's metrics, `num_random_labels`, `chance`,
  ...; written last, its presence means "finished";
- `tensorboard/`, `model.keras`, `curves.png`; `backup/` while it runs;
- `memorization.csv` (every training example's memorization score) and
  `memorized_examples.png` (`keras_rlr.train.memorization_report`);
- beside the directory, written by the sweep runner: `<dir>.log` (its output)
  and `<dir>.failed` (the exit status of a failed attempt).

- `lock`: the lock file; `train.py` holds an exclusive `fcntl.flock` on it
  for its whole life, so a second writer on the same directory stops at once;
- `diverged.json`: written instead of `summary.json` when the loss became
  NaN or infinite (the epoch, batch and loss).

A run's state (`STATES`) is `fresh` (no directory yet), `interrupted` (a
directory without `summary.json`: started again, it resumes), `running` (its
lock is held), `finished` (a `summary.json` that agrees with `history.csv`
and `config.json`: `verify_finished`), `failed` (the sweep runner's marker),
`failed (diverged)` or `corrupt` (a `summary.json` that does not parse or
does not agree). `state` reads JSON and CSV only: this module imports no
TensorFlow.

Every file that records progress or completion is written atomically
(`keras_rlr._atomic`): a temporary name, flush, fsync, rename. A run backs up
its whole state at the end of every epoch as one unit
(`keras_rlr.callbacks.BackupAndRestore`: weights, optimizer state, epoch,
seed-generator states, the history rows and the run's identity,
`run_identity`). Started again with the same command after a crash, it
resumes from the backup that `keras_rlr.callbacks.choose_backup` chooses (the
newest whose every file reads back whole and that this run wrote: the one
decision, `latest_backup`) and rebuilds `history.csv` from it: the training
stream is a function of `(seed, epoch)` (`keras_rlr.data.training_dataset`),
so the resumed run sees the batches the uninterrupted one would have, and
ends with the same weights. `docs/reliability.md` lists what a rerun does
with each kind of damage.
"""

import csv
import fcntl
import io
import json
import math
import os
import shutil
import socket
import time

from keras_rlr import _atomic
from keras_rlr.train.config import RESUMABLE_CHANGES

CONFIG = "config.json"
FLAGS = "flags.txt"
HISTORY = "history.csv"
SUMMARY = "summary.json"
MODEL = "model.keras"
CURVES = "curves.png"
MEMORIZATION = "memorization.csv"
MEMORIZED_EXAMPLES = "memorized_examples.png"
TENSORBOARD = "tensorboard"
BACKUP = "backup"
LOCK = "lock"
DIVERGED = "diverged.json"
LOG_SUFFIX = ".log"
FAILED_SUFFIX = ".failed"
DIVERGED_STATE = "failed (diverged)"
STATES = (
    "fresh",
    "interrupted",
    "running",
    "finished",
    "failed",
    DIVERGED_STATE,
    "corrupt",
)


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
    def log_file(self):
        """The sweep runner's log of this run's output, beside the directory."""
        return self.path + LOG_SUFFIX

    @property
    def failed_marker(self):
        """Beside the directory: the exit status of a failed attempt."""
        return self.path + FAILED_SUFFIX

    def is_finished(self):
        """A `summary.json` exists (it may still be corrupt: see `state`)."""
        return os.path.exists(self.file(SUMMARY))

    def state(self):
        """One of `STATES`. TensorFlow-free: it reads JSON and CSV only."""
        if self.is_finished():
            try:
                self.verify_finished()
            except RunDirectoryError:
                return "corrupt"
            return "finished"
        if os.path.exists(self.file(DIVERGED)):
            return DIVERGED_STATE
        if self.is_locked():
            return "running"
        if os.path.exists(self.failed_marker):
            return "failed"
        if os.path.isdir(self.path):
            return "interrupted"
        return "fresh"

    def verify_finished(self):
        """Checks that a finished run's files agree; returns its summary.

        `summary.json` must be a JSON object with `chance` and
        `num_random_labels`. Where `config.json` says how many epochs the run
        has (every run `train.py` writes; not synthetic test directories),
        `history.csv` must hold exactly one row per epoch, `0` to `epochs - 1`,
        with finite values, and `summary.json` the last row's value of every
        column.

        Raises:
            RunDirectoryError: naming the file that does not agree, and the fix.
        """
        summary = self.read_summary()
        path = self.file(SUMMARY)
        if not isinstance(summary, dict):
            raise _corrupt(path, f"not a JSON object: {summary!r:.40}")
        missing = [key for key in ("chance", "num_random_labels") if key not in summary]
        if missing:
            raise _corrupt(path, f"it lacks {', '.join(missing)}")
        epochs = self.configured_epochs()
        if epochs is None:
            return summary
        history = self.read_history()
        check_history(history, epochs, self.file(HISTORY))
        for name, values in history.items():
            if name not in summary:
                raise _corrupt(path, f"it lacks {name!r}, a column of {HISTORY}")
            if summary[name] is None or not math.isclose(
                summary[name], values[-1], rel_tol=1e-6, abs_tol=1e-12
            ):
                raise _corrupt(
                    path,
                    f"{name}={summary[name]!r} where the last row of {HISTORY} "
                    f"has {values[-1]!r}",
                )
        return summary

    def configured_epochs(self):
        """`epochs` of `config.json` (None without a readable one)."""
        try:
            with open(self.file(CONFIG)) as f:
                epochs = json.load(f).get("epochs")
        except (OSError, ValueError, AttributeError):
            return None
        return epochs if isinstance(epochs, int) else None

    def lock(self):
        """Takes the directory's exclusive lock for the life of the process.

        Returns the open lock file (keep it: closing it releases the lock).
        Raises `RunDirectoryError` naming the holder if another process has it.
        """
        os.makedirs(self.path, exist_ok=True)
        return hold_lock(self.file(LOCK), what=f"the run directory {self.path}")

    def is_locked(self):
        """Whether a process (here or on another machine) holds the lock."""
        return is_locked(self.file(LOCK))

    def read_summary(self):
        """`summary.json` as a dict; `RunDirectoryError` naming it if corrupt."""
        return _read_json(self.file(SUMMARY), f"run {self.path}")

    def write_summary(self, summary):
        """Writes `summary.json` atomically: call it last, it marks the run
        finished. Non-finite numbers become `null` (strict JSON)."""
        _atomic.write_json(
            self.file(SUMMARY), {key: _finite(value) for key, value in summary.items()}
        )

    def read_diverged(self):
        return _read_json(self.file(DIVERGED), f"run {self.path}")

    def write_diverged(self, epoch, batch, loss, message):
        """Marks the run `failed (diverged)` (instead of a `summary.json`)."""
        _atomic.write_json(
            self.file(DIVERGED),
            {"epoch": epoch, "batch": batch, "loss": str(loss), "message": message},
        )

    def write_failed_marker(self, code):
        _atomic.write_text(self.failed_marker, f"{code}\n")

    def read_history(self):
        """`history.csv` as metric -> list of floats (see `read_history`)."""
        return read_history(self.file(HISTORY), f"run {self.path}")

    def write_config(self, config):
        """Writes `config.json`, the resolved settings (a JSON-ready dict)."""
        os.makedirs(self.path, exist_ok=True)
        _atomic.write_json(self.file(CONFIG), config)

    def write_flags(self, text):
        """Writes `flags.txt`, a flagfile that reproduces the run."""
        _atomic.write_text(self.file(FLAGS), text)

    def check_config(self, config, resuming=None):
        """Refuse to continue a run that was started with other settings.

        `resuming`: whether the run resumes from a backup (default: whether
        it has one)."""
        changed = self.changed_settings(config)
        if resuming is None:
            resuming = bool(changed) and self.resume_epoch() > 0
        if changed and resuming:
            raise RunDirectoryError(
                f"{self.file(CONFIG)} records other settings for the interrupted "
                f"run in {self.path} than this command "
                f"({describe_changes(changed)}). Resume it with its own flags "
                f"(--flagfile={self.file(FLAGS)} --output_dir={self.path}), "
                "restore config.json if it was edited, or choose another "
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
        """The epoch the backup resumes at (0: no backup)."""
        backup, _ = self.latest_backup()
        return backup.epoch if backup else 0

    def has_backups(self):
        """Whether `backup/` holds anything (whole or not)."""
        try:
            with os.scandir(self.backup_dir) as entries:
                return any(True for _ in entries)
        except FileNotFoundError:
            return False

    def latest_backup(self, variables=None, run=None):
        """The backup to resume from (`keras_rlr.callbacks.choose_backup`),
        and the newer damaged ones it skips.

        Args:
            variables: the model's variables (`callbacks.backup_variables`):
                the backup's arrays are checked against their shapes.
            run: the run's identity (`run_identity`): a backup of another run
                is refused.

        Returns:
            `(keras_rlr.callbacks.Backup or None, [BackupError, ...])`.

        Raises:
            RunDirectoryError: every backup is damaged, or one belongs to
                another run; the message names the file and the fix.
        """
        from keras_rlr.callbacks import ForeignBackupError, choose_backup

        try:
            backup, damaged = choose_backup(self.backup_dir, variables, run)
        except ForeignBackupError as error:
            raise RunDirectoryError(
                f"The backup {error.backup} was written by a run with other "
                f"settings than this command's ({error.reason}). Resume that run "
                f"with its own flags (--flagfile={self.file(FLAGS)} "
                f"--output_dir={self.path}) or choose another --output_dir; if "
                f"the backup was copied here by mistake, delete it."
            ) from error
        if backup is None and damaged:
            raise RunDirectoryError(
                f"The backup {damaged[0]} and no older backup is whole. "
                f"Delete {self.backup_dir} to train the run again from the start."
            )
        return backup, damaged

    def rebuild_history(self, backup):
        """Rewrites `history.csv` as it was at `backup` (None: no history).

        Rebuilt from the backup, never trimmed in place: whatever a crash left
        in the file (a partial row, rows of an epoch after the backup, nothing
        at all) is replaced.
        """
        path = self.file(HISTORY)
        history = backup.history if backup else None
        if history is None:
            if os.path.exists(path):
                os.remove(path)
            return
        header, rows = history
        text = io.StringIO()
        # The csv module's default dialect (rows end in CRLF), as Keras's
        # CSVLogger writes, which appends to this file: a resumed run's
        # history.csv is byte for byte an uninterrupted one's.
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(rows)
        _atomic.write_text(path, text.getvalue())

    def remove_backup(self):
        """Deletes the backup of a finished run."""
        shutil.rmtree(self.backup_dir, ignore_errors=True)


def run_identity(config):
    """What identifies a run in its backups: the resolved settings (a dict
    from `config.to_dict`), seed included, less those a resumed run may
    change (`RESUMABLE_CHANGES`)."""
    return {key: value for key, value in config.items() if key not in RESUMABLE_CHANGES}


def check_history(history, epochs, path):
    """Raises `RunDirectoryError` unless `history` (from `read_history`)
    holds one row per epoch `0, ..., epochs - 1`, every value finite."""
    rows = history.get("epoch", [])
    if rows != list(range(epochs)):
        shown = [int(e) if float(e).is_integer() else e for e in rows]
        raise _corrupt(
            path, f"its epochs are {_abridged(shown)}, expected 0 to {epochs - 1}"
        )
    for name, values in history.items():
        if len(values) != epochs:
            raise _corrupt(path, f"{name} has {len(values)} values for {epochs} epochs")
        bad = [i for i, value in enumerate(values) if not math.isfinite(value)]
        if bad:
            raise _corrupt(path, f"{name} is {values[bad[0]]} at epoch {bad[0]}")


def _abridged(items, most=6):
    text = ", ".join(map(str, items[:most]))
    return f"[{text}{', ...' if len(items) > most else ''}]"


def _corrupt(path, reason):
    return RunDirectoryError(
        f"{path} is corrupt ({reason}). Delete the run directory to train it "
        "again, or restore the file."
    )


def describe_changes(changed):
    """`changed_settings`'s result as `name: old -> new, ...`."""
    return ", ".join(
        f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items()
    )


def hold_lock(path, shared=False, what=None):
    """Takes an `fcntl.flock` on `path` (exclusive, or `shared`) without waiting.

    Returns the open file: the lock lasts while it is open (the process's
    life, if kept). Raises `RunDirectoryError` naming the holder otherwise.
    """
    f = open(path, "a+")
    try:
        fcntl.flock(f, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise RunDirectoryError(
            f"{what or path} is in use by {holder} (lock {path}). Wait for it to "
            "end or stop it; one writer at a time."
        ) from None
    if not shared:
        f.seek(0)
        f.truncate()
        f.write(
            f"pid {os.getpid()} on {socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        )
        f.flush()
    return f


def is_locked(path):
    """Whether some process holds a lock on `path` (False if there is no file)."""
    try:
        f = open(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _read_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise RunDirectoryError(
            f"{path} of {what} is corrupt ({error}). Delete it (the run is then "
            "trained again) or restore it."
        ) from error


def read_history(path, what="a run"):
    """A `history.csv` as metric -> list of floats (the `epoch` column included).

    Raises `RunDirectoryError` naming the file and `what` if a row is
    unreadable.
    """
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return {
            name: [float(row[name]) for row in rows if row[name] != ""]
            for name in (rows[0] if rows else {})
        }
    except (OSError, ValueError, TypeError, csv.Error) as error:
        raise RunDirectoryError(
            f"{path} of {what} is corrupt ({error}). Delete it, or train the run "
            "again from its backup."
        ) from error
