"""Sweeps: a grid of `train.py` runs over several seeds, resumable and shardable.

A sweep config is a small text file in the flagfile spirit (`#` starts a
comment line, one `--key=value` a line; its first comment is the command that
runs it):

    --name=fig2_cpu
    --figure=fig2
    --base=configs/quickstart.cfg
    --output_dir=runs/sweeps/fig2_cpu
    --seeds=0,1,2
    --set=epochs:40
    --panel=dropout
    --grid=dropout:0,0.25,0.5
    --panel=weight_decay
    --grid=weight_decay:0,5e-4,5e-3

`--name` names the sweep (report title), `--figure` picks the report's layout
and findings (`keras_rlr.report.FIGURES`), `--base` is the train.py flagfile
every run starts from, `--set=flag:value` a fixed override (repeatable).
`--paper_base` is the flagfile of the paper's own setting for the figure
(default `configs/base.cfg`): the report lists every flag the sweep sets that
differs from it, i.e. what a CPU-scale sweep scaled down.
`--panel=NAME` starts a panel (without one, the sweep is one panel); its
`--grid=flag:v1,v2,...` lines are crossed (cartesian product); panels are
joined, as Fig. 2's three one-dimensional studies.

Each point of each panel times each seed is one ordinary run directory,
`<output_dir>/<point>/seed_<S>`, trained by

    python train.py --flagfile=<base> --verbose=2 <sets> <point> --seed=S \
        --output_dir=<output_dir>/<point>/seed_<S>

with its output in `<run_dir>.log`. A point is named by the grid values that
differ from the base (`dropout=0.25`; `base` when none does), so a baseline
shared by several panels is trained once. A run directory with `summary.json`
is finished and skipped; one without is interrupted and started again with the
same command, which resumes it from its backup. `--shard=i/n` keeps every n-th
run of the sweep's stable order, starting at the i-th.
"""

import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

# Flags the runner sets itself; a sweep may not.
RESERVED = ("seed", "output_dir", "flagfile")
# The paper's setting; a report lists where a sweep differs from it.
PAPER_BASE = "configs/base.cfg"
# Flags that say how or where a run executes, not what it trains.
_NOT_SETTINGS = ("data_dir", "export_dir", "verbose", "strategy", "tpu", "jit_compile")
MANIFEST = "sweep.json"
FAILED_SUFFIX = ".failed"
_KEYS = (
    "name",
    "figure",
    "base",
    "paper_base",
    "output_dir",
    "seeds",
    "set",
    "panel",
    "grid",
)
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


class SweepError(Exception):
    """A sweep cannot run as written; the message names the thing and the fix."""


@dataclasses.dataclass
class Panel:
    """One group of grid points: the cartesian product of its `grid` axes."""

    name: str
    grid: list  # [(flag, [value, ...]), ...] in the config's order


@dataclasses.dataclass
class SweepConfig:
    """A parsed sweep config (see the module docstring)."""

    name: str
    figure: str
    base: str
    output_dir: str
    seeds: list
    sets: list  # [(flag, value), ...]
    panels: list
    path: str | None = None
    paper_base: str = PAPER_BASE


@dataclasses.dataclass
class Run:
    """One run of a sweep: a grid point and a seed."""

    point: str  # directory name of the point
    overrides: dict  # the point's grid values, flag -> value (canonical strings)
    seed: int

    def run_dir(self, output_dir):
        return os.path.join(output_dir, self.point, f"seed_{self.seed}")


def parse_config(path):
    """Reads a sweep config file into a `SweepConfig`."""
    if not os.path.isfile(path):
        raise SweepError(
            f"Sweep config not found: {path!r}. Give a path relative to the "
            "repository root, e.g. --config=configs/sweeps/fig2_cpu.cfg."
        )
    with open(path) as f:
        text = f.read()
    return parse_config_text(text, path)


def parse_config_text(text, path="<config>"):
    """Parses the text of a sweep config; `path` names it in error messages."""
    values = {"set": [], "panels": []}
    panel = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        match = re.fullmatch(r"--([a-z_]+)=(.*)", line)
        if not match or match.group(1) not in _KEYS:
            raise SweepError(
                f"{where}: expected one of --{'=, --'.join(_KEYS)}=... "
                f"Received: {line!r}"
            )
        key, value = match.group(1), match.group(2).strip()
        if key == "panel":
            panel = Panel(value, [])
            values["panels"].append(panel)
        elif key == "grid":
            flag, grid_values = _flag_and_values(value, where, "--grid")
            if panel is None:
                panel = Panel("", [])
                values["panels"].append(panel)
            panel.grid = [axis for axis in panel.grid if axis[0] != flag]
            panel.grid.append((flag, grid_values))
        elif key == "set":
            flag, set_value = _flag_and_value(value, where)
            values["set"] = [s for s in values["set"] if s[0] != flag]
            values["set"].append((flag, set_value))
        elif key == "seeds":
            try:
                values["seeds"] = [int(s) for s in value.split(",") if s.strip()]
            except ValueError:
                raise SweepError(
                    f"{where}: --seeds must be integers separated by commas. "
                    f"Received: seeds={value!r}"
                ) from None
        else:
            values[key] = value
    for key in ("name", "base", "output_dir"):
        if not values.get(key):
            raise SweepError(f"{path}: --{key}=... is missing.")
    if not values.get("seeds"):
        raise SweepError(f"{path}: --seeds=0,1,2 (one or more seeds) is missing.")
    for panel in values["panels"]:
        if not panel.grid:
            raise SweepError(f"{path}: panel {panel.name!r} has no --grid line.")
    return SweepConfig(
        name=values["name"],
        figure=values.get("figure", values["name"]),
        base=values["base"],
        output_dir=values["output_dir"],
        seeds=values["seeds"],
        sets=values["set"],
        panels=values["panels"] or [Panel("", [])],
        path=path,
        paper_base=values.get("paper_base", PAPER_BASE),
    )


def _flag_and_value(text, where):
    flag, sep, value = text.partition(":")
    if not sep or not flag.strip():
        raise SweepError(
            f"{where}: --set takes flag:value, e.g. --set=epochs:40. Received: {text!r}"
        )
    return flag.strip(), value.strip()


def _flag_and_values(text, where, key):
    flag, sep, values = text.partition(":")
    values = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not flag.strip() or not values:
        raise SweepError(
            f"{where}: {key} takes flag:v1,v2,..., e.g. {key}=dropout:0,0.5. "
            f"Received: {text!r}"
        )
    return flag.strip(), values


# -- train.py's flags -------------------------------------------------------------


@dataclasses.dataclass
class FlagInfo:
    type: str  # "bool", "int", "float", "string", "string enum", ...
    default: str
    enum_values: tuple = ()


def train_flags(train_script="train.py", python=sys.executable):
    """train.py's own flags, name -> `FlagInfo`, read from `--helpxml`."""
    if not os.path.isfile(train_script):
        raise SweepError(
            f"{train_script!r} not found: run sweeps from the repository root."
        )
    result = subprocess.run(
        [python, train_script, "--helpxml"], capture_output=True, text=True
    )
    try:
        root = ET.fromstring(result.stdout)
    except ET.ParseError as error:
        raise SweepError(
            f"Cannot read the flags of {train_script} ({error}): {result.stderr[-500:]}"
        ) from error
    flags = {}
    for flag in root.iter("flag"):
        if os.path.basename(flag.findtext("file", "")) != os.path.basename(
            train_script
        ):
            continue
        flags[flag.findtext("name")] = FlagInfo(
            type=flag.findtext("type", "string"),
            default=flag.findtext("default", ""),
            enum_values=tuple(e.text for e in flag.iter("enum_value")),
        )
    return flags


def canonical(flag, value, flags):
    """`value` of `flag` as a canonical string, so that 0, 0.0 and 0e0 match.

    Raises `SweepError` naming the flag where it is not one of `flags` or the
    value does not fit its type.
    """
    info = flags.get(flag)
    if info is None:
        raise SweepError(
            f"Unknown train.py flag --{flag}. Fix the sweep config; "
            "`python train.py --helpshort` lists the flags."
        )
    if flag in RESERVED:
        raise SweepError(
            f"--{flag} is set by the sweep runner for every run; remove it from "
            "--set and --grid (seeds go in --seeds)."
        )
    try:
        if info.type == "bool":
            lowered = value.lower()
            if lowered in ("true", "t", "1", "yes"):
                return "true"
            if lowered in ("false", "f", "0", "no"):
                return "false"
            raise ValueError
        if info.type == "int":
            return str(int(value))
        if info.type == "float":
            return format(float(value), ".12g")
    except ValueError:
        raise SweepError(
            f"--{flag} is a {info.type} flag. Received: {flag}={value!r}"
        ) from None
    if info.enum_values and value not in info.enum_values:
        raise SweepError(
            f"--{flag} must be one of {list(info.enum_values)}. "
            f"Received: {flag}={value!r}"
        )
    return value


def resolve_flagfile(path, flags, _seen=()):
    """The flags a (nested) flagfile sets, flag -> raw value; later lines win."""
    if not os.path.isfile(path):
        raise SweepError(
            f"Base flagfile not found: {path!r}. Paths are relative to the "
            "repository root; run from there or fix --base."
        )
    if path in _seen:
        raise SweepError(f"Flagfile {path!r} includes itself.")
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("--"):
                continue
            name, sep, value = line[2:].partition("=")
            if name == "flagfile":
                values.update(resolve_flagfile(value, flags, _seen + (path,)))
            elif sep:
                values[name] = value
            elif name.startswith("no") and name[2:] in flags:
                values[name[2:]] = "false"
            else:
                values[name] = "true"
    return values


# -- Runs -------------------------------------------------------------------------


@dataclasses.dataclass
class Sweep:
    """A sweep's runs in their stable order, and where each panel's points are."""

    config: SweepConfig
    runs: list  # [Run], unique, point order then seed order
    panel_points: dict  # panel name -> [(grid values dict, point name), ...]
    base_values: dict  # flag -> canonical value every run starts from
    differs_from_paper: dict = dataclasses.field(default_factory=dict)

    def command(self, run, python=sys.executable, train_script="train.py"):
        """The `train.py` command line of `run`."""
        args = [python, train_script, f"--flagfile={self.config.base}", "--verbose=2"]
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
        os.makedirs(self.config.output_dir, exist_ok=True)
        path = os.path.join(self.config.output_dir, MANIFEST)
        with open(path, "w") as f:
            json.dump(self.manifest(), f, indent=2)
        return path


def expand(config, flags):
    """The `Sweep` of `config`: every grid point times every seed, deduplicated.

    Args:
        config: a `SweepConfig`.
        flags: train.py's flags, name -> `FlagInfo` (`train_flags()`).
    """
    base = resolve_flagfile(config.base, flags)
    base_values = {
        name: canonical(name, base.get(name, info.default), flags)
        for name, info in flags.items()
        if name not in RESERVED
    }
    sets = []
    for flag, value in config.sets:
        value = canonical(flag, value, flags)
        sets.append((flag, value))
        base_values[flag] = value
    config = dataclasses.replace(config, sets=sets)
    runs, points, panel_points = [], {}, {}
    for panel in config.panels:
        axes = [
            (flag, [canonical(flag, v, flags) for v in values])
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
    differs = _differs(config, base, flags, base_values)
    return Sweep(config, runs, panel_points, base_values, differs)


def _differs(config, base, flags, base_values):
    """flag -> (paper's value, sweep's value) for every flag that the paper's
    flagfile, the sweep's base flagfile or a `--set` names (grid flags aside),
    where the sweep's runs all differ from the paper; a flag the paper's file
    does not name has its default there."""
    if not os.path.isfile(config.paper_base):
        raise SweepError(
            f"Paper flagfile not found: --paper_base={config.paper_base!r}. Name "
            "the train.py flagfile of the figure's paper-scale setting (default "
            f"{PAPER_BASE}), relative to the repository root."
        )
    paper = resolve_flagfile(config.paper_base, flags)
    excluded = {flag for panel in config.panels for flag, _ in panel.grid}
    excluded |= set(RESERVED) | set(_NOT_SETTINGS)
    named = list(paper) + list(base) + [flag for flag, _ in config.sets]
    differs = {}
    for name in dict.fromkeys(named):
        if name in excluded or name not in base_values:
            continue
        value = canonical(name, paper.get(name, flags[name].default), flags)
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


def shard(runs, index, count):
    """Every `count`-th run starting at `index`: shards partition the runs."""
    return runs[index::count]


def state(run_dir):
    """`finished` (summary.json), `failed`, `interrupted` (resumable), `pending`."""
    if os.path.exists(os.path.join(run_dir, "summary.json")):
        return "finished"
    if os.path.exists(run_dir + FAILED_SUFFIX):
        return "failed"
    if os.path.isdir(run_dir):
        return "interrupted"
    return "pending"


# -- Runner -----------------------------------------------------------------------


def run_sweep(
    sweep,
    runs=None,
    parallel=1,
    python=sys.executable,
    train_script="train.py",
    poll_seconds=0.5,
    out=sys.stdout,
):
    """Trains every unfinished run of `runs` (default: all), `parallel` at a time.

    Finished runs are skipped; interrupted and failed ones are started again
    with the same command (train.py resumes them from their backup). Each run's
    output goes to `<run_dir>.log`; a run that exits non-zero leaves
    `<run_dir>.failed` holding its exit status.

    Returns:
        The runs that failed, as `(run, exit status)` pairs.
    """
    runs = sweep.runs if runs is None else runs
    todo = [run for run in runs if state(sweep.run_dir(run)) != "finished"]
    total, skipped = len(runs), len(runs) - len(todo)
    say = _printer(out)
    say(
        f"sweep {sweep.config.name}: {total} runs, {skipped} finished, "
        f"{len(todo)} to run, {parallel} at a time"
    )
    env = dict(os.environ)
    # Each run gets its share of the cores instead of all of them competing.
    threads = str(max(1, (os.cpu_count() or 1) // parallel))
    for name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        env.setdefault(name, threads)
    running, failed, done = {}, [], skipped
    queue = list(enumerate(todo))
    try:
        while queue or running:
            while queue and len(running) < parallel:
                key, run = queue.pop(0)
                running[key] = (run, *_start(sweep, run, python, train_script, env))
                say(
                    f"[{done}/{total} done, {len(running)} running] start {_label(run)}"
                )
            time.sleep(poll_seconds)
            for key, (run, process, log, start) in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                log.close()
                del running[key]
                done += 1
                seconds = time.time() - start
                run_dir = sweep.run_dir(run)
                if code == 0 and state(run_dir) == "finished":
                    status = f"finished in {seconds:.0f} s"
                else:
                    code = code or 1
                    failed.append((run, code))
                    with open(run_dir + FAILED_SUFFIX, "w") as f:
                        f.write(f"{code}\n")
                    status = f"FAILED (exit {code}, see {run_dir}.log)"
                say(
                    f"[{done}/{total} done, {len(running)} running, "
                    f"{len(failed)} failed] {_label(run)} {status}"
                )
    except KeyboardInterrupt:
        for _, process, log, _ in running.values():
            process.terminate()
            process.wait()
            log.close()
        say("interrupted: run the same command again to resume")
        raise
    return failed


def _start(sweep, run, python, train_script, env):
    run_dir = sweep.run_dir(run)
    os.makedirs(os.path.dirname(run_dir), exist_ok=True)
    if os.path.exists(run_dir + FAILED_SUFFIX):
        os.remove(run_dir + FAILED_SUFFIX)
    log = open(run_dir + ".log", "a")
    command = sweep.command(run, python, train_script)
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
    return process, log, time.time()


def _label(run):
    return f"{run.point}/seed_{run.seed}"


def _printer(out):
    def say(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", file=out, flush=True)

    return say


def describe(sweep, runs=None):
    """One line per run: its state and directory (for `sweep.py --list`)."""
    runs = sweep.runs if runs is None else runs
    return "\n".join(
        f"{state(sweep.run_dir(run)):<11} {sweep.run_dir(run)}" for run in runs
    )


def with_overrides(config, output_dir=None, seeds=None, sets=()):
    """`config` with the command line's overrides applied.

    Args:
        output_dir: replaces the sweep directory.
        seeds: replaces the seeds (strings or integers).
        sets: `flag:value` strings added after the config's `--set` lines.
    """
    changes = {}
    if output_dir:
        changes["output_dir"] = output_dir
    if seeds:
        try:
            changes["seeds"] = [int(seed) for seed in seeds]
        except ValueError:
            raise SweepError(
                f"--seeds must be integers separated by commas. Received: {seeds}"
            ) from None
    if sets:
        extra = [_flag_and_value(text, "--set") for text in sets]
        names = {flag for flag, _ in extra}
        changes["sets"] = [s for s in config.sets if s[0] not in names] + extra
    return dataclasses.replace(config, **changes)
