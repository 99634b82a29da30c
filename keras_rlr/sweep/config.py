"""The sweep config format: a sweep config file -> `SweepConfig`.

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
and findings (`keras_rlr.report.figures.FIGURES`), `--base` is the train.py flagfile
every run starts from, `--set=flag:value` a fixed override (repeatable).
`--paper_base` is the flagfile of the paper's own setting for the figure
(default `configs/base.cfg` where the working directory has it, as in a clone;
elsewhere the run schema's defaults, which are the paper's setting): the
report lists every flag the sweep sets that differs from it, i.e. what a
CPU-scale sweep scaled down.
`--panel=NAME` starts a panel (without one, the sweep is one panel); its
`--grid=flag:v1,v2,...` lines are crossed (cartesian product); panels are
joined, as Fig. 2's three one-dimensional studies.

Runs, their directories and the runner: `keras_rlr.sweep.grid` and
`keras_rlr.sweep.runner`.
"""

import dataclasses
import os
import re

# The paper's setting; a report lists where a sweep differs from it.
PAPER_BASE = "configs/base.cfg"
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
    # None: the run schema's defaults (the paper's setting), no file.
    paper_base: str | None = PAPER_BASE


def parse_config(path):
    """Reads a sweep config file into a `SweepConfig`."""
    if not os.path.isfile(path):
        raise SweepError(
            f"--config must name a sweep config file, e.g. "
            "--config=configs/sweeps/tiny.cfg in a clone (a relative path starts "
            f"at the working directory, {os.getcwd()}). Received: config={path!r}"
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
            if any(axis[0] == flag for axis in panel.grid):
                raise SweepError(
                    f"{where}: --grid={flag}:... appears twice in panel "
                    f"{panel.name!r}; give all its values on one line "
                    f"(--grid={flag}:v1,v2,...)."
                )
            if len(set(grid_values)) != len(grid_values):
                raise SweepError(
                    f"{where}: --grid={flag} repeats a value; list each once. "
                    f"Received: {value!r}"
                )
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
            if key in ("name", "figure"):
                check_name(value, f"{where}: --{key}")
            values[key] = value
    for key in ("name", "base", "output_dir"):
        if not values.get(key):
            raise SweepError(f"{path}: --{key}=... is missing.")
    if not values.get("seeds"):
        raise SweepError(f"{path}: --seeds=0,1,2 (one or more seeds) is missing.")
    _check_seeds(values["seeds"], f"{path}: --seeds")
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
        paper_base=values.get("paper_base") or default_paper_base(),
    )


def default_paper_base():
    """`configs/base.cfg` if the working directory has it (a clone), else None:
    the run schema's defaults, which are the same paper setting."""
    return PAPER_BASE if os.path.isfile(PAPER_BASE) else None


_NAME = re.compile(r"[A-Za-z0-9_.=-]+")


def check_name(name, what):
    """A name that becomes a file name: plain `[A-Za-z0-9_.=-]`, never a path."""
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise SweepError(
            f"{what} must be a plain name of letters, digits and _.=- (it names "
            f"files in the sweep directory), not a path. Received: {name!r}"
        )
    return name


def _check_seeds(seeds, what):
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise SweepError(
            f"{what} repeats seed(s) {repeated}: each seed is one run directory; "
            f"list each once. Received: {','.join(map(str, seeds))}"
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
        _check_seeds(changes["seeds"], "--seeds")
    if sets:
        extra = [_flag_and_value(text, "--set") for text in sets]
        names = {flag for flag, _ in extra}
        changes["sets"] = [s for s in config.sets if s[0] not in names] + extra
    return dataclasses.replace(config, **changes)
