"""A sweep's runs: every grid point of every panel times every seed.

Each point of each panel times each seed is one ordinary run directory,
`<output_dir>/<point>/seed_<S>`, trained by

    python -m keras_rlr.train --flagfile=<base> --verbose=2 <sets> <point> \
        --seed=S --output_dir=<output_dir>/<point>/seed_<S>

A point is named by the grid values that differ from the base (`dropout=0.25`;
`base` when none does), so a baseline shared by several panels is trained
once. Values are checked and made canonical against the run schema
(`keras_rlr.train.config`), read in-process; flagfiles are resolved by absl's
own parser. `--shard=i/n` keeps every n-th run of the sweep's stable order,
starting at the i-th; in a Slurm job array each task is its own shard.
"""

import dataclasses
import difflib
import itertools
import os
import re
import sys

from absl import flags as absl_flags

from keras_rlr import _atomic
from keras_rlr.sweep.config import SweepConfig, SweepError
from keras_rlr.train import config as schema
from keras_rlr.train import flags as train_flags

# Flags the runner sets itself; a sweep may not.
RESERVED = ("seed", "output_dir", "flagfile")
MANIFEST = "sweep.json"
LOCK = "sweep.lock"  # held by the sweep process(es) working on the directory
# How a run is started: the installed train entry point, not a file path.
TRAIN_MODULE = "keras_rlr.train"
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


@dataclasses.dataclass
class Run:
    """One run of a sweep: a grid point and a seed."""

    point: str  # directory name of the point
    overrides: dict  # the point's grid values, flag -> value (canonical strings)
    seed: int

    def run_dir(self, output_dir):
        return os.path.join(output_dir, self.point, f"seed_{self.seed}")


def flag_fields():
    """train.py's flags, name -> `keras_rlr.train.config.Field`."""
    return {field.name: field for field in schema.fields() if field.flag}


def _text(value):
    """A flag value as the command line spells it (None: empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def canonical(flag, value, fields=None):
    """`value` of `flag` as a canonical string, so that 0, 0.0 and 0e0 match.

    Raises `SweepError` naming the flag where it is not a train.py flag or the
    value does not fit its type.
    """
    fields = fields or flag_fields()
    field = fields.get(flag)
    if field is None:
        close = difflib.get_close_matches(flag, list(fields), n=1)
        hint = f" Did you mean --{close[0]}?" if close else ""
        raise SweepError(
            f"Unknown train.py flag --{flag}.{hint} Fix the sweep config; "
            "`keras-rlr-train -h` (`python train.py -h` in a clone) lists the flags."
        )
    if flag in RESERVED:
        raise SweepError(
            f"--{flag} is set by the sweep runner for every run; remove it from "
            "--set and --grid (seeds go in --seeds)."
        )
    value = _text(value)
    kind = {bool: "bool", int: "int", float: "float"}.get(field.type, "string")
    try:
        if field.type is bool:
            lowered = value.lower()
            if lowered in ("true", "t", "1", "yes"):
                return "true"
            if lowered in ("false", "f", "0", "no"):
                return "false"
            raise ValueError
        if field.type is int:
            return str(int(value))
        if field.type is float:
            return format(float(value), ".12g")
    except ValueError:
        raise SweepError(
            f"--{flag} is a {kind} flag. Received: {flag}={value!r}"
        ) from None
    if field.choices and value not in field.choices:
        raise SweepError(
            f"--{flag} must be one of {list(field.choices)}. Received: {flag}={value!r}"
        )
    return value


def resolve_flagfile(path, what="Base flagfile", fix="fix --base"):
    """The flags of a (nested) flagfile, parsed by absl: a `FlagValues` whose
    `[name].present` says whether the file set it."""
    if not os.path.isfile(path):
        raise SweepError(
            f"{what} not found: {path!r} (relative to the working directory, "
            f"{os.getcwd()}). Run from the directory the config's paths start "
            f"from (a clone's root for configs/), or {fix}."
        )
    try:
        return train_flags.parse_flagfile(path)
    except absl_flags.Error as error:
        raise SweepError(f"{path}: {error}") from None


# -- Runs -------------------------------------------------------------------------


@dataclasses.dataclass
class Sweep:
    """A sweep's runs in their stable order, and where each panel's points are."""

    config: SweepConfig
    runs: list  # [Run], unique, point order then seed order
    panel_points: dict  # panel name -> [(grid values dict, point name), ...]
    base_values: dict  # flag -> canonical value every run starts from
    differs_from_paper: dict = dataclasses.field(default_factory=dict)

    def command(self, run, python=sys.executable, train_script=None):
        """The command line of `run`: `python -m keras_rlr.train ...` (or
        `python <train_script> ...`)."""
        entry = [train_script] if train_script else ["-m", TRAIN_MODULE]
        return [python, *entry, *self.flags(run)]

    def flags(self, run):
        """The train.py flags of `run`, in the order they apply."""
        args = [f"--flagfile={self.config.base}", "--verbose=2"]
        args += [f"--{flag}={value}" for flag, value in self.config.sets]
        args += [f"--{flag}={value}" for flag, value in run.overrides.items()]
        args += [f"--seed={run.seed}", f"--output_dir={self.run_dir(run)}"]
        return args

    def run_dir(self, run):
        return run.run_dir(self.config.output_dir)

    def manifest(self):
        """What `keras_rlr.report` needs to know about the sweep, as JSON."""
        config = dataclasses.asdict(self.config)
        return {
            "config": config,
            "base_values": self.base_values,
            "differs_from_paper": self.differs_from_paper,
            "panels": {
                panel: [{"values": values, "point": point} for values, point in pts]
                for panel, pts in self.panel_points.items()
            },
            "runs": [
                {"point": run.point, "seed": run.seed, "dir": self.run_dir(run)}
                for run in self.runs
            ],
        }

    def write_manifest(self):
        """Writes the manifest atomically (shards may write it at the same time)."""
        os.makedirs(self.config.output_dir, exist_ok=True)
        path = os.path.join(self.config.output_dir, MANIFEST)
        _atomic.write_json(path, self.manifest())
        return path


def expand(config):
    """The `Sweep` of `config`: every grid point times every seed, deduplicated."""
    fields = flag_fields()
    base = resolve_flagfile(config.base)
    base_values = {
        name: canonical(name, base[name].value, fields)
        for name in fields
        if name not in RESERVED
    }
    sets = []
    for flag, value in config.sets:
        value = canonical(flag, value, fields)
        sets.append((flag, value))
        base_values[flag] = value
    config = dataclasses.replace(config, sets=sets)
    runs, points, panel_points = [], {}, {}
    for panel in config.panels:
        axes = [
            (flag, [canonical(flag, v, fields) for v in values])
            for flag, values in panel.grid
        ]
        panel_points[panel.name] = []
        for combination in itertools.product(*(values for _, values in axes)):
            values = {flag: v for (flag, _), v in zip(axes, combination, strict=True)}
            overrides = {f: v for f, v in values.items() if base_values.get(f) != v}
            point = point_name(overrides)
            panel_points[panel.name].append((values, point))
            if point not in points:
                points[point] = overrides
    for point, overrides in points.items():
        runs += [Run(point, overrides, seed) for seed in config.seeds]
    differs = _differs(config, base, fields, base_values)
    return Sweep(config, runs, panel_points, base_values, differs)


def _differs(config, base, fields, base_values):
    """flag -> (paper's value, sweep's value) for every flag that the paper's
    flagfile, the sweep's base flagfile or a `--set` names (grid flags aside),
    where the sweep's runs all differ from the paper; a flag the paper's file
    does not name has its default there."""
    if config.paper_base is None:  # outside a clone: the built-in setting
        paper = train_flags.parse_flagfile(os.devnull)
    else:
        if not os.path.isfile(config.paper_base):
            raise SweepError(
                f"Paper flagfile not found: --paper_base={config.paper_base!r} "
                f"(relative to the working directory, {os.getcwd()}). Name the "
                "train.py flagfile of the figure's paper-scale setting, or leave "
                "--paper_base out to compare with the built-in paper setting."
            )
        paper = resolve_flagfile(
            config.paper_base, "Paper flagfile", "fix --paper_base"
        )
    excluded = {flag for panel in config.panels for flag, _ in panel.grid}
    excluded |= set(RESERVED) | set(schema.NOT_SETTINGS)
    named = [n for n in fields if paper[n].present or base[n].present]
    named += [flag for flag, _ in config.sets]
    differs = {}
    for name in dict.fromkeys(named):
        if name in excluded or name not in base_values:
            continue
        value = canonical(name, paper[name].value, fields)
        if base_values[name] != value:
            differs[name] = (value, base_values[name])
    return differs


def point_name(overrides):
    """The directory name of a grid point: `flag=value,...`, or `base`."""
    if not overrides:
        return "base"
    return ",".join(f"{flag}={_SAFE.sub('_', v)}" for flag, v in overrides.items())


def parse_shard(spec):
    """`"i/n"` -> `(i, n)`, with 0 <= i < n."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec or "")
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise SweepError(
            "--shard must be i/n with 0 <= i < n (machine i of n, counting from "
            f"0), e.g. --shard=0/3. Received: shard={spec!r}"
        )
    return int(match.group(1)), int(match.group(2))


def shard_from_slurm(environ):
    """The `"i/n"` shard of a Slurm job-array task, or None outside an array.

    Task `i` of `n` is the task's position in the array: `(SLURM_ARRAY_TASK_ID
    - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP` of
    `SLURM_ARRAY_TASK_COUNT`, so `--array=0-3` and `--array=1-4` both make
    four shards.
    """
    if "SLURM_ARRAY_TASK_ID" not in environ:
        return None
    names = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT")
    try:
        task, count = (int(environ[name]) for name in names)
        first = int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
        step = int(environ.get("SLURM_ARRAY_TASK_STEP", 1))
    except (KeyError, ValueError):
        raise SweepError(
            "A Slurm array task needs SLURM_ARRAY_TASK_ID and "
            "SLURM_ARRAY_TASK_COUNT as integers (sbatch --array sets both); "
            "or pass --shard=i/n. Received: "
            + ", ".join(f"{name}={environ.get(name)!r}" for name in names)
        ) from None
    return f"{(task - first) // max(step, 1)}/{count}"


def shard(runs, index, count):
    """Every `count`-th run starting at `index`: shards partition the runs."""
    return runs[index::count]
