"""A sweep directory, read: every run's state, summary and history.

`load(sweep_dir)` reads the sweep's manifest (`sweep.json`, written by the
sweep runner) and each run through its `RunDirectory`, into `SweepResults`:
per grid point, mean, std and count of a final metric over the finished seeds.
"""

import csv
import dataclasses
import json
import os

import numpy as np

from keras_rlr.memorization import class_only_accuracy
from keras_rlr.sweep.grid import MANIFEST, Run
from keras_rlr.train.run_directory import (
    HISTORY,
    MEMORIZATION,
    RunDirectory,
    RunDirectoryError,
)

METRICS = (
    ("train_accuracy", "train class acc"),
    ("val_accuracy", "test class acc"),
    ("train_random_label_accuracy", "train random-label acc"),
    ("val_random_label_accuracy", "test random-label acc"),
    ("class_only_random_label_accuracy", "class-only level"),
)
TRAIN_RLA = "train_random_label_accuracy"
TEST_RLA = "val_random_label_accuracy"
# The train random-label accuracy reachable from the class alone
# (`keras_rlr.memorization.class_only_accuracy`), in `summary.json` since
# train.py writes it; for older runs, read from their `memorization.csv`.
CLASS_ONLY = "class_only_random_label_accuracy"


def probe_metric(depth, metric=TRAIN_RLA):
    """The name of `metric` for the probe at copy depth `depth` (`--probe_depths`)."""
    return f"{metric}_d{depth}"


class ReportError(Exception):
    """The directory holds no sweep; the message names it and the fix."""


@dataclasses.dataclass
class Stats:
    mean: float
    std: float  # sample standard deviation over seeds (0 for one seed)
    n: int

    def __str__(self):
        return f"{self.mean:.3f} ± {self.std:.3f}"


@dataclasses.dataclass
class SweepResults:
    """Everything the report needs, read from a sweep directory."""

    name: str
    figure: str
    manifest: dict
    panels: dict  # panel -> [(grid values, point name)]
    # [{"point", "seed", "dir", "state", "summary", "history", "problem"}]
    runs: list

    def stats(self, point, metric):
        """Mean, std and count of `metric` over the finished seeds of `point`."""
        values = [
            run["summary"][metric]
            for run in self.runs
            if run["point"] == point
            and run["summary"]
            # null: a non-finite value, written as strict JSON
            and isinstance(run["summary"].get(metric), (int, float))
        ]
        if not values:
            return None
        std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        return Stats(float(np.mean(values)), std, len(values))

    @property
    def chance(self):
        for run in self.runs:
            if run["summary"]:
                return run["summary"]["chance"]
        return 1.0 / int(self.manifest["base_values"].get("num_random_labels", 10))

    def points(self):
        """Unique point names in panel order."""
        seen = []
        for entries in self.panels.values():
            seen += [point for _, point in entries if point not in seen]
        return seen

    def probe_depths(self):
        """The copy depths of the probes the finished runs logged, sorted."""
        prefix = probe_metric("")
        return sorted(
            {
                int(key[len(prefix) :])
                for run in self.runs
                for key in run["summary"] or ()
                if key.startswith(prefix) and key[len(prefix) :].isdigit()
            }
        )

    def unfinished(self):
        return [run for run in self.runs if run["state"] != "finished"]


def load(sweep_dir):
    """Reads a sweep directory into `SweepResults`."""
    path = os.path.join(sweep_dir, MANIFEST)
    if not os.path.exists(path):
        raise ReportError(
            f"{sweep_dir!r} holds no {MANIFEST}: give the directory that "
            "`python sweep.py --config=...` wrote (its --output_dir)."
        )
    try:
        with open(path) as f:
            manifest = json.load(f)
        entries = [(entry["point"], entry["seed"]) for entry in manifest["runs"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReportError(
            f"{path}, the manifest of the sweep in {sweep_dir!r}, is corrupt "
            f"({error!r}). Run the sweep's `python sweep.py --config=...` again: "
            "it rewrites the manifest and skips the finished runs."
        ) from error
    runs = [_load_run(sweep_dir, point, seed) for point, seed in entries]
    panels = {
        panel: [(entry["values"], entry["point"]) for entry in entries]
        for panel, entries in manifest["panels"].items()
    }
    config = manifest["config"]
    return SweepResults(config["name"], config["figure"], manifest, panels, runs)


def _load_run(sweep_dir, point, seed):
    """One run's entry; a corrupt file marks the run `corrupt`, naming the file."""
    # Relative to the sweep directory, so that a moved sweep still reports.
    run = RunDirectory(Run(point, {}, seed).run_dir(sweep_dir))
    state, summary, history, problem = run.state(), None, None, None
    try:
        if state in ("finished", "corrupt"):
            summary = run.read_summary()
            if not isinstance(summary, dict):
                raise RunDirectoryError(
                    f"{run.file('summary.json')} of run {run.path} is corrupt "
                    "(not a JSON object). Delete it to train the run again."
                )
            if os.path.exists(run.file(HISTORY)):
                history = run.read_history()
            if CLASS_ONLY not in summary:
                level = _class_only_from_csv(run.file(MEMORIZATION))
                if level is not None:
                    summary[CLASS_ONLY] = level
    except RunDirectoryError as error:
        state, summary, history, problem = "corrupt", None, None, str(error)
    return dict(
        point=point,
        seed=seed,
        dir=run.path,
        state=state,
        summary=summary,
        history=history,
        problem=problem,
    )


def _class_only_from_csv(path):
    """The class-only level of a run's `memorization.csv` (its `label` and
    `random_label` columns), or None where the file is missing or unreadable."""
    try:
        with open(path, newline="") as f:
            rows = [
                (int(r["label"]), int(r["random_label"])) for r in csv.DictReader(f)
            ]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not rows:
        return None
    labels, random_labels = np.array(rows).T
    return class_only_accuracy(labels, random_labels)
