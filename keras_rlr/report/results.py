"""A sweep directory, read: every run's state, summary and history.

`load(sweep_dir)` reads the sweep's manifest (`sweep.json`, written by the
sweep runner) and each run through its `RunDirectory`, into `SweepResults`:
per grid point, mean, std and count of a final metric over the complete seeds.

A run is used only where it is complete: finished, its `summary.json` a JSON
object with every metric the report reads (`REQUIRED`, and every probe the
sweep asks for) as a finite number, and a `history.csv` with one row per
epoch and no ragged column. Every other run is listed with the file and the
reason (`unfinished`), never averaged in.

`to_csv` writes every run of the sweep (point, seed, state, reason, final
metrics, class-only level, what the report reads from the history) and what
the report needs of the manifest, as one CSV; `from_csv` reads it back into
the same `SweepResults`, so that a report can be rebuilt from the CSV alone.
"""

import csv
import dataclasses
import io
import json
import math
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
# Read from a run's history (its `history.csv`): the first epoch (from 1) where
# class training accuracy reaches FIT_THRESHOLD (empty where it never does),
# and how much train random-label accuracy rose from that epoch to the last.
FIT_THRESHOLD = 0.99
FIT_EPOCH = "fit_epoch"
RISE_AFTER_FIT = "train_random_label_accuracy_rise_after_fit"
# What every run must hold to be used.
REQUIRED = tuple(m for m, _ in METRICS) + (
    "chance",
    "num_random_labels",
    "num_test_examples",
)
COLUMNS = REQUIRED + ("num_train_examples", FIT_EPOCH, RISE_AFTER_FIT)
CSV_MARK = "# keras_rlr report data: "


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
    # [{"point", "seed", "dir", "state", "summary", "problem"}]: `summary` the
    # numbers of a complete run (None otherwise), `problem` why a run is not
    # used (None where it is)
    runs: list
    notes: dict = dataclasses.field(default_factory=dict)  # e.g. "differs"

    def stats(self, point, metric):
        """Mean, std and count of `metric` over the complete seeds of `point`."""
        values = [
            run["summary"][metric]
            for run in self.runs
            if run["point"] == point
            and run["summary"]
            # null: a non-finite value, written as strict JSON
            and isinstance(run["summary"].get(metric), (int, float))
            and not math.isnan(run["summary"][metric])
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
        """The runs the report does not use (missing, failed, corrupt or
        incomplete), each with its `problem`."""
        return [run for run in self.runs if not run["summary"]]

    @property
    def seeds(self):
        return [int(s) for s in self.manifest["config"]["seeds"]]

    @property
    def selection_seeds(self):
        """The seeds that pick best values (a learning rate, ε, λ): the first
        third (at least 2) where at least 3 others remain to test the claim;
        else every seed (the verdict then says it is biased)."""
        seeds = self.seeds
        k = max(2, math.ceil(len(seeds) / 3))
        return set(seeds[:k]) if len(seeds) - k >= 3 else set(seeds)

    @property
    def test_seeds(self):
        """The seeds that test a claim whose best value was picked."""
        rest = set(self.seeds) - self.selection_seeds
        return rest or set(self.seeds)


def load(sweep_dir):
    """Reads a sweep directory into `SweepResults`."""
    from keras_rlr.report import choices

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
        values = {
            entry["point"]: entry["values"]
            for points in manifest["panels"].values()
            for entry in points
        }
        base = manifest["base_values"]
        config = manifest["config"]
        panels = {
            panel: [(entry["values"], entry["point"]) for entry in entries_]
            for panel, entries_ in manifest["panels"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ReportError(
            f"{path}, the manifest of the sweep in {sweep_dir!r}, is corrupt "
            f"({error!r}). Run the sweep's `python sweep.py --config=...` again: "
            "it rewrites the manifest and skips the finished runs."
        ) from error
    probes = [
        probe_metric(int(d))
        for d in str(base.get("probe_depths") or "").split(",")
        if d.strip().isdigit()
    ]
    runs = [
        _load_run(sweep_dir, point, seed, {**base, **values.get(point, {})}, probes)
        for point, seed in entries
    ]
    notes = {"differs": choices.differs(manifest)}
    return SweepResults(config["name"], config["figure"], manifest, panels, runs, notes)


STATE_TEXT = {
    "fresh": "not started",
    "interrupted": "interrupted or running (no summary.json yet)",
    "running": "running (its directory is locked by a train.py)",
    "failed": "failed",
    "failed (diverged)": "failed (diverged: the loss became NaN or infinite)",
    "corrupt": "corrupt",
}


def _load_run(sweep_dir, point, seed, full, probes):
    """One run's entry: its summary where the run is complete, else the
    problem (the file and the reason) that keeps it out of the report."""
    # Relative to the sweep directory, so that a moved sweep still reports.
    run = RunDirectory(Run(point, {}, seed).run_dir(sweep_dir))
    state, summary, problem = run.state(), None, None
    try:
        if state in ("finished", "corrupt"):
            summary = run.read_summary()
            if not isinstance(summary, dict):
                raise RunDirectoryError(
                    f"{run.file('summary.json')} of run {run.path} is corrupt "
                    "(not a JSON object). Delete it to train the run again."
                )
            history = run.read_history() if os.path.exists(run.file(HISTORY)) else None
            if CLASS_ONLY not in summary:
                level = _class_only_from_csv(run.file(MEMORIZATION))
                if level is not None:
                    summary[CLASS_ONLY] = level
            summary, problem = _complete(run, summary, history, full, probes)
            if problem:
                state = "incomplete"
    except RunDirectoryError as error:
        state, summary, problem = "corrupt", None, str(error)
    if summary is None and problem is None:
        problem = STATE_TEXT.get(state, state)
        if os.path.exists(run.log_file):
            problem += f" (log `{run.log_file}`)"
    return dict(
        point=point,
        seed=seed,
        dir=run.path,
        state=state,
        summary=summary,
        problem=problem,
    )


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _complete(run, summary, history, full, probes):
    """`(numbers, None)` for a complete run, `(None, problem)` otherwise."""
    where = f"{run.file('summary.json')}"
    missing = [
        m
        for m in (*REQUIRED, *probes)
        if not _number(summary.get(m)) or not math.isfinite(summary[m])
    ]
    if missing:
        return None, (
            f"{where}: no finite value of {', '.join(missing)} (a finished run "
            "writes every one): not used"
        )
    where = run.file(HISTORY)
    if not history:
        return None, f"{where}: missing or empty: not used"
    lengths = {len(v) for v in history.values()}
    if len(lengths) > 1:
        return None, f"{where}: ragged (columns of {sorted(lengths)} rows): not used"
    epochs = int(full.get("epochs") or 0)
    rows = lengths.pop()
    if epochs and rows != epochs:
        return None, f"{where}: {rows} rows for {epochs} epochs: not used"
    if "epoch" in history and history["epoch"] != [float(e) for e in range(rows)]:
        return None, f"{where}: epochs not 0..{rows - 1} in order: not used"
    numbers = {k: float(v) for k, v in summary.items() if _number(v)}
    for name in ("train_accuracy", TRAIN_RLA):
        if name not in history:
            return None, f"{where}: no {name} column: not used"
    accuracy, rla = history["train_accuracy"], history[TRAIN_RLA]
    fit = next((i for i, a in enumerate(accuracy) if a >= FIT_THRESHOLD), None)
    if fit is not None:
        numbers[FIT_EPOCH] = float(fit + 1)
        numbers[RISE_AFTER_FIT] = rla[-1] - rla[fit]
    return numbers, None


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


# -- The published data: every run, one CSV ------------------------------------


def _columns(results):
    probes = sorted(
        {
            key
            for run in results.runs
            for key in run["summary"] or ()
            if key.startswith(probe_metric(""))
        }
    )
    return ["point", "seed", "state", "dir", "problem", *COLUMNS, *probes]


def to_csv(results):
    """Every run of `results` as CSV text: first a comment line with what the
    report needs of the manifest (JSON), then one row per run. Numbers as
    Python writes them (`repr`): read back, they are the same floats."""
    meta = {
        "name": results.name,
        "figure": results.figure,
        "manifest": {
            k: results.manifest[k]
            for k in ("config", "base_values", "panels", "differs_from_paper")
            if k in results.manifest
        },
        "notes": results.notes,
    }
    out = io.StringIO()
    out.write(CSV_MARK + json.dumps(meta, sort_keys=True, ensure_ascii=False) + "\n")
    columns = _columns(results)
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for run in results.runs:
        row = {k: run.get(k) for k in ("point", "seed", "state", "dir", "problem")}
        row["problem"] = row["problem"] or ""
        for name in columns[5:]:
            value = (run["summary"] or {}).get(name)
            row[name] = "" if value is None else repr(float(value))
        writer.writerow(row)
    return out.getvalue()


def from_csv(text, path="the CSV"):
    """`SweepResults` from `to_csv`'s text; `ReportError` naming `path` where
    it is not such a file."""
    try:
        first, _, rest = text.partition("\n")
        if not first.startswith(CSV_MARK):
            raise ValueError(f"its first line does not start with {CSV_MARK!r}")
        meta = json.loads(first[len(CSV_MARK) :])
        manifest = meta["manifest"]
        panels = {
            panel: [(entry["values"], entry["point"]) for entry in entries]
            for panel, entries in manifest["panels"].items()
        }
        runs = []
        for row in csv.DictReader(io.StringIO(rest)):
            numbers = {
                k: float(v)
                for k, v in row.items()
                if k not in ("point", "seed", "state", "dir", "problem") and v != ""
            }
            complete = not row["problem"]
            runs.append(
                dict(
                    point=row["point"],
                    seed=int(row["seed"]),
                    dir=row["dir"],
                    state=row["state"],
                    summary=numbers if complete else None,
                    problem=row["problem"] or None,
                )
            )
        return SweepResults(
            meta["name"], meta["figure"], manifest, panels, runs, meta["notes"]
        )
    except (ValueError, KeyError, TypeError, AttributeError, csv.Error) as error:
        raise ReportError(
            f"{path} is not a report's run table ({error}). Give the `.csv` a "
            "report wrote beside its `.md`."
        ) from None
