"""A sweep directory, read: every run's state, summary and history.

`load(sweep_dir)` reads the sweep's manifest (`sweep.json`, written by the
sweep runner) and each run through its `RunDirectory`, into `SweepResults`:
per grid point, mean, std and count of a final metric over the finished seeds.
"""

import dataclasses
import json
import os

import numpy as np

from keras_rlr.sweep.grid import MANIFEST, Run
from keras_rlr.train.run_directory import HISTORY, RunDirectory

METRICS = (
    ("train_accuracy", "train class acc"),
    ("val_accuracy", "test class acc"),
    ("train_random_label_accuracy", "train random-label acc"),
    ("val_random_label_accuracy", "test random-label acc"),
)
TRAIN_RLA = "train_random_label_accuracy"
TEST_RLA = "val_random_label_accuracy"


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
    runs: list  # [{"point", "seed", "dir", "state", "summary", "history"}]

    def stats(self, point, metric):
        """Mean, std and count of `metric` over the finished seeds of `point`."""
        values = [
            run["summary"][metric]
            for run in self.runs
            if run["point"] == point and run["summary"] and metric in run["summary"]
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
    with open(path) as f:
        manifest = json.load(f)
    runs = []
    for entry in manifest["runs"]:
        # Relative to the sweep directory, so that a moved sweep still reports.
        run = RunDirectory(Run(entry["point"], {}, entry["seed"]).run_dir(sweep_dir))
        run_dir, state = run.path, run.state()
        summary = history = None
        if state == "finished":
            summary = run.read_summary()
            if os.path.exists(run.file(HISTORY)):
                history = run.read_history()
        runs.append(
            dict(
                point=entry["point"],
                seed=entry["seed"],
                dir=run_dir,
                state=state,
                summary=summary,
                history=history,
            )
        )
    panels = {
        panel: [(entry["values"], entry["point"]) for entry in entries]
        for panel, entries in manifest["panels"].items()
    }
    config = manifest["config"]
    return SweepResults(config["name"], config["figure"], manifest, panels, runs)
