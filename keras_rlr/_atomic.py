"""Atomic file writes: a reader sees the old content or the new, never a mix.

Write to a temporary name in the same directory, flush, fsync, `os.replace`
onto the final name, then fsync the directory so the rename itself survives a
power cut. A failed write (a full disk, a kill) leaves the old file and, at
worst, a `.tmp` file that the next write replaces.
"""

import json
import os


def fsync_dir(path):
    """Make a rename or a new entry in directory `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path, text):
    """Replace `path` by `text`, atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(directory)


def write_json(path, value):
    """Replace `path` by strict JSON (a NaN or infinity is an error, not `NaN`)."""
    write_text(path, json.dumps(value, indent=2, allow_nan=False) + "\n")
