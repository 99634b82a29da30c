"""A sweep directory -> its figure (PNG), a table of the numbers, the findings.

`write_report(sweep_dir)` reads the sweep's `sweep.json` (written by
`keras_rlr.sweep`) and every run's `summary.json` and `history.csv`, and writes
`<name>.png` and `<name>.md`:

- the figure: mean +- std over seeds, per grid point; lines for one-dimensional
  panels, heat maps for two-dimensional ones, bars for a list of variants; the
  random-label chance level 1/R marked;
- the table: final train/test class accuracy and train/test random-label
  accuracy per grid point, mean +- std and the number of seeds;
- the paper's findings (docs/method.md, last section), each a comparison
  computed from the data, with its numbers and yes, no or can't tell
  (missing runs, or a difference within the seeds' spread);
- the runs that are missing or failed; what exists is plotted anyway.

Which layout and findings a sweep gets is its config's `--figure` (`FIGURES`).
"""

import dataclasses
import json
import math
import os
import statistics

import matplotlib
import numpy as np

from keras_rlr import sweep as sweeps
from keras_rlr.experiment import read_history

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

# (summary.json key, table header)
METRICS = (
    ("train_accuracy", "train class acc"),
    ("val_accuracy", "test class acc"),
    ("train_random_label_accuracy", "train random-label acc"),
    ("val_random_label_accuracy", "test random-label acc"),
)
TRAIN_RLA = "train_random_label_accuracy"
TEST_RLA = "val_random_label_accuracy"
# Class training accuracy that counts as "reached 100 %" (finding 1).
FIT_THRESHOLD = 0.99
# A rise of random-label accuracy after that, in accuracy points, that counts.
MIN_RISE = 0.01
# "Well above chance": at least this many times 1/R.
ABOVE_CHANCE_FACTOR = 2.0


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
    path = os.path.join(sweep_dir, sweeps.MANIFEST)
    if not os.path.exists(path):
        raise ReportError(
            f"{sweep_dir!r} holds no {sweeps.MANIFEST}: give the directory that "
            "`python sweep.py --config=...` wrote (its --output_dir)."
        )
    with open(path) as f:
        manifest = json.load(f)
    runs = []
    for entry in manifest["runs"]:
        # Relative to the sweep directory, so that a moved sweep still reports.
        run_dir = os.path.join(sweep_dir, entry["point"], f"seed_{entry['seed']}")
        state = sweeps.state(run_dir)
        summary = history = None
        if state == "finished":
            with open(os.path.join(run_dir, "summary.json")) as f:
                summary = json.load(f)
            history_path = os.path.join(run_dir, "history.csv")
            if os.path.exists(history_path):
                history = read_history(history_path)
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


# -- Findings ---------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    """A finding checked against the data: the numbers and the verdict."""

    claim: str
    evidence: str
    verdict: bool | None  # None: the data cannot decide (missing runs, noise)

    @property
    def answer(self):
        return {True: "yes", False: "no", None: "can't tell"}[self.verdict]

    def __str__(self):
        return f"{self.claim}: {self.evidence} ({self.answer})"


def _sort_key(value):
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def varying(entries):
    """The flags that take more than one value among a panel's points."""
    flags = []
    for values, _ in entries:
        for flag in values:
            distinct = {v[flag] for v, _ in entries if flag in v}
            if len(distinct) > 1 and flag not in flags:
                flags.append(flag)
    return flags


def _groups(results, flag):
    """Per panel where `flag` varies, per setting of its other varying flags:
    `(label, [(value, point), ...] sorted by value)`."""
    for panel, entries in results.panels.items():
        axes = varying(entries)
        if flag not in axes:
            continue
        others = [f for f in axes if f != flag]
        groups = {}
        for values, point in entries:
            key = tuple((f, values[f]) for f in others)
            groups.setdefault(key, []).append((values[flag], point))
        for key, members in groups.items():
            label = ", ".join(f"{f}={v}" for f, v in key)
            members.sort(key=lambda m: _sort_key(m[0]))
            yield (f"{panel}: {label}" if label and panel else label or panel), members


def _beyond_spread(gap, a, b):
    """True if `gap` > 0 and False if `gap` < 0, by more than the seeds' spread
    (the larger std of `a` and `b`); None where it is within the spread."""
    return None if abs(gap) <= max(a.std, b.std) else gap > 0


def lowers(flag, claim, metric=TRAIN_RLA, what="train random-label accuracy"):
    """Finding: `metric` is lower at the largest value of `flag` than at the
    smallest by more than the seeds' spread, in every panel and setting of the
    other flags (within the spread, the data cannot tell)."""

    def check(results):
        parts, verdicts = [], []
        for label, members in _groups(results, flag):
            (lo, lo_point), (hi, hi_point) = members[0], members[-1]
            a, b = results.stats(lo_point, metric), results.stats(hi_point, metric)
            where = f" [{label}]" if label else ""
            if a is None or b is None:
                parts.append(f"missing runs{where}")
                verdicts.append(None)
                continue
            verdict = _beyond_spread(a.mean - b.mean, a, b)
            spread = max(a.std, b.std)
            within = (
                f", within the seeds' spread ±{spread:.3f}" if verdict is None else ""
            )
            change = f"{a.mean:.3f} ({flag}={lo}) → {b.mean:.3f} ({flag}={hi})"
            parts.append(change + where + within)
            verdicts.append(verdict)
        return _combine(claim, f"{what} " + "; ".join(parts), verdicts, flag)

    return check


def not_improves(flag, claim, metric="val_accuracy", what="test class accuracy"):
    """Finding: no value of `flag` above the smallest improves `metric` by more
    than the seeds' spread (the larger std of the two)."""

    def check(results):
        parts, verdicts = [], []
        for label, members in _groups(results, flag):
            stats = [(v, results.stats(p, metric)) for v, p in members]
            where = f" [{label}]" if label else ""
            if any(s is None for _, s in stats):
                parts.append(f"missing runs{where}")
                verdicts.append(None)
                continue
            (lo, ref), others = stats[0], stats[1:]
            best_value, best = max(others, key=lambda vs: vs[1].mean)
            parts.append(
                f"{ref} ({flag}={lo}) vs best {best} ({flag}={best_value}){where}"
            )
            verdicts.append(best.mean - ref.mean <= max(ref.std, best.std))
        return _combine(claim, f"{what} " + "; ".join(parts), verdicts, flag)

    return check


def _combine(claim, evidence, verdicts, flag):
    if not verdicts:
        return Outcome(claim, f"no panel varies {flag}", None)
    decided = [v for v in verdicts if v is not None]
    if len(verdicts) > 1:
        evidence += f"; holds in {sum(decided)} of {len(verdicts)}"
        if len(decided) < len(verdicts):
            evidence += f", can't tell in {len(verdicts) - len(decided)}"
    if len(decided) < len(verdicts):
        return Outcome(claim, evidence, None if not decided or all(decided) else False)
    return Outcome(claim, evidence, all(decided))


def _baseline(results):
    """The point every study varies from: `base` if trained, else the first."""
    points = results.points()
    return "base" if "base" in points else points[0]


def above_chance(claim):
    """Finding: the baseline's train random-label accuracy is at least
    `ABOVE_CHANCE_FACTOR` times chance."""

    def check(results):
        point, chance = _baseline(results), results.chance
        stats = results.stats(point, TRAIN_RLA)
        if stats is None:
            return Outcome(claim, f"missing runs ({point})", None)
        return Outcome(
            claim,
            f"train random-label accuracy {stats} ({point}) = "
            f"{stats.mean / chance:.1f}x chance {chance:.3f} "
            f"(counts from {ABOVE_CHANCE_FACTOR:g}x)",
            stats.mean >= ABOVE_CHANCE_FACTOR * chance,
        )

    return check


def rises_after_fit(claim):
    """Finding: from the first epoch where the baseline's class training
    accuracy reaches `FIT_THRESHOLD` to the last, its train random-label
    accuracy rises by more than `MIN_RISE` (mean over seeds)."""

    def check(results):
        point = _baseline(results)
        rises, epochs = [], []
        for run in results.runs:
            history = run["history"]
            if run["point"] != point or not history:
                continue
            accuracy, rla = history["train_accuracy"], history[TRAIN_RLA]
            fit = next((i for i, a in enumerate(accuracy) if a >= FIT_THRESHOLD), None)
            if fit is None:
                return Outcome(
                    claim,
                    f"class train accuracy peaked at {max(accuracy):.3f} < "
                    f"{FIT_THRESHOLD} (seed {run['seed']})",
                    None,
                )
            rises.append(rla[-1] - rla[fit])
            epochs.append(fit + 1)
        if not rises:
            return Outcome(claim, f"missing runs ({point})", None)
        rise = float(np.mean(rises))
        return Outcome(
            claim,
            f"class train accuracy ≥ {FIT_THRESHOLD} from epoch "
            f"{min(epochs)}–{max(epochs)}; train random-label accuracy rose by "
            f"{rise:+.3f} after that ({point}, mean of {len(rises)} seeds)",
            rise > MIN_RISE,
        )

    return check


def largest_jump(flag, lo, hi, claim):
    """Finding: the largest increase of train random-label accuracy between
    consecutive values of `flag` lies between `lo` and `hi`."""

    def check(results):
        for _, members in _groups(results, flag):
            stats = [(v, results.stats(p, TRAIN_RLA)) for v, p in members]
            stats = [(v, s) for v, s in stats if s is not None]
            if len(stats) < 2:
                continue
            steps = [
                (b.mean - a.mean, va, vb)
                for (va, a), (vb, b) in zip(stats, stats[1:], strict=False)
            ]
            jump, start, end = max(steps)
            inside = float(lo) <= float(start) and float(end) <= float(hi)
            by_value = dict(stats)
            detail = ""
            if str(lo) in by_value and str(hi) in by_value:
                detail = (
                    f"; {flag} {lo} → {hi}: {by_value[str(lo)].mean:.3f} → "
                    f"{by_value[str(hi)].mean:.3f}"
                )
            return Outcome(
                claim,
                f"largest increase of train random-label accuracy between "
                f"consecutive {flag}: {start} → {end} ({jump:+.3f}){detail}",
                inside,
            )
        return Outcome(claim, f"no panel varies {flag}", None)

    return check


def widening_not_explains(depth_flag, width_flag, lo, hi, claim):
    """Finding: at depth `lo`, the widest copies stay below depth `hi`'s
    train random-label accuracy (at width multiplier 1) by more than the seeds'
    spread (the larger std of the two); within it, the data cannot tell."""

    def check(results):
        target = None
        for _, members in _groups(results, depth_flag):
            target = dict(members).get(str(hi))
        widest = None
        for entries in results.panels.values():
            if width_flag not in varying(entries):
                continue
            candidates = [
                (values[width_flag], point)
                for values, point in entries
                if values.get(depth_flag, results.manifest["base_values"][depth_flag])
                == str(lo)
            ]
            if candidates:
                widest = max(candidates, key=lambda c: _sort_key(c[0]))
        if target is None or widest is None:
            return Outcome(
                claim, f"needs {depth_flag}={hi} and a {width_flag} panel at {lo}", None
            )
        wide = results.stats(widest[1], TRAIN_RLA)
        deep = results.stats(target, TRAIN_RLA)
        if wide is None or deep is None:
            return Outcome(claim, "missing runs", None)
        gap = deep.mean - wide.mean
        verdict = _beyond_spread(gap, wide, deep)
        within = (
            f"; the gap {gap:+.3f} is within the seeds' spread"
            if verdict is None
            else ""
        )
        return Outcome(
            claim,
            f"train random-label accuracy {wide} ({depth_flag}={lo}, "
            f"{width_flag}={widest[0]}) vs {deep} ({depth_flag}={hi}){within}",
            verdict,
        )

    return check


def test_at_chance(claim):
    """Control: every run's test random-label accuracy is within a binomial band
    around chance (the random labels did not leak).

    The band is `z` binomial standard deviations, with `z` chosen so that the
    chance of a false alarm over all the sweep's runs together is 5 %
    (Bonferroni): with many runs, a fixed 2-std band would flag some by chance.
    """

    def check(results):
        finished = [run for run in results.runs if run["summary"]]
        if not finished:
            return Outcome(claim, "no finished runs", None)
        z = statistics.NormalDist().inv_cdf(1 - 0.025 / len(finished))
        worst = None
        for run in finished:
            summary = run["summary"]
            chance, n = summary["chance"], summary["num_test_examples"]
            band = z * math.sqrt(chance * (1 - chance) / n)
            gap = abs(summary[TEST_RLA] - chance) / band
            if worst is None or gap > worst[0]:
                worst = (gap, summary[TEST_RLA], band, run)
        gap, value, band, run = worst
        return Outcome(
            claim,
            f"{len(finished)} runs; farthest from chance {results.chance:.3f}: "
            f"{value:.3f} ({run['point']}/seed_{run['seed']}, band ±{band:.3f} = "
            f"{z:.2f} std, 5 % false alarms over all runs)",
            gap <= 1,
        )

    return check


@dataclasses.dataclass
class Figure:
    title: str
    layout: str  # "lines", "heatmaps" or "bars"
    findings: list


_CONTROL = test_at_chance("Control: test random-label accuracy stays at chance")
_FINDING_1 = [
    above_chance("1. Training random-label accuracy is well above chance"),
    rises_after_fit(
        "1. It keeps rising after class training accuracy reaches 100 % (≥ 0.99)"
    ),
]
FIGURES = {
    "fig2": Figure(
        "Fig. 2: dropout, weight decay and label smoothing",
        "lines",
        _FINDING_1
        + [
            lowers("dropout", "2. Dropout lowers random-label accuracy"),
            lowers("weight_decay", "2. Weight decay lowers random-label accuracy"),
            lowers(
                "label_smoothing", "2. Label smoothing lowers random-label accuracy"
            ),
            _CONTROL,
        ],
    ),
    "fig3a": Figure(
        "Fig. 3A: copy depth of the random-label heads (VGG16)",
        "lines",
        [
            largest_jump(
                "copy_depth",
                5,
                7,
                "3. Random-label accuracy jumps between copy depths 5 and 7",
            ),
            widening_not_explains(
                "copy_depth",
                "copy_width_multiplier",
                5,
                7,
                "3. Widening the copies at depth 5 does not explain the jump",
            ),
            _CONTROL,
        ],
    ),
    "fig3b": Figure(
        "Fig. 3B/C: the regularizer weight λ",
        "lines",
        _FINDING_1
        + [
            lowers("reg_lambda", "4. λ > 0 lowers random-label accuracy"),
            not_improves("reg_lambda", "4. λ > 0 does not improve test accuracy"),
            _CONTROL,
        ],
    ),
    "figa1": Figure(
        "Fig. A.1: λ × learning rate, with and without augmentation",
        "heatmaps",
        [
            lowers("reg_lambda", "4. λ > 0 lowers random-label accuracy"),
            not_improves("reg_lambda", "4. λ > 0 does not improve test accuracy"),
            _CONTROL,
        ],
    ),
    "figa2": Figure(
        "Fig. A.2: λ × label smoothing",
        "heatmaps",
        [
            lowers("reg_lambda", "4. λ > 0 lowers random-label accuracy"),
            lowers(
                "label_smoothing", "2. Label smoothing lowers random-label accuracy"
            ),
            not_improves("reg_lambda", "4. λ > 0 does not improve test accuracy"),
            _CONTROL,
        ],
    ),
    "figa3": Figure(
        "Fig. A.3: the single-output variant, with and without weight decay",
        "bars",
        [
            lowers(
                "weight_decay",
                "2. Weight decay lowers random-label accuracy (single-output)",
            ),
            _CONTROL,
        ],
    ),
}


def findings(results):
    """The `Outcome` of every finding of the sweep's figure."""
    figure = FIGURES.get(results.figure)
    return [check(results) for check in (figure.findings if figure else [_CONTROL])]


# -- Table ------------------------------------------------------------------------


def panel_title(panel, entries):
    """The panel's name and the grid values it holds fixed, e.g.
    `width (copy_depth=5)`: the points' labels show only what varies."""
    axes = varying(entries)
    fixed = {f: v for values, _ in entries for f, v in values.items() if f not in axes}
    if not fixed or not axes:
        return panel
    where = ", ".join(f"{f}={v}" for f, v in fixed.items())
    return f"{panel} ({where})" if panel else where


def _point_label(values, entries):
    axes = varying(entries)
    shown = {f: v for f, v in values.items() if f in axes} or values
    return ", ".join(f"{f}={v}" for f, v in shown.items())


def table(results):
    """The Markdown table: one row per panel point, mean ± std over seeds."""
    header = ["panel", "point", "seeds"] + [name for _, name in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for panel, entries in results.panels.items():
        for values, point in entries:
            stats = [results.stats(point, metric) for metric, _ in METRICS]
            seeds = sum(1 for r in results.runs if r["point"] == point and r["summary"])
            expected = sum(1 for r in results.runs if r["point"] == point)
            cells = [str(s) if s else "—" for s in stats]
            title = panel_title(panel, entries) or "—"
            row = [title, _point_label(values, entries), f"{seeds}/{expected}"]
            lines.append("| " + " | ".join(row + cells) + " |")
    return "\n".join(lines)


def markdown(results, png_name):
    """The whole report as Markdown."""
    config = results.manifest["config"]
    figure = FIGURES.get(results.figure)
    title = figure.title if figure else results.figure
    sets = ", ".join(f"`{f}={v}`" for f, v in config["sets"]) or "none"
    lines = [
        f"# {title} ({results.name})",
        "",
        f"Sweep config `{config['path']}`: base flagfile `{config['base']}`, "
        f"fixed flags {sets}, seeds {', '.join(map(str, config['seeds']))}. "
        f"Chance level 1/R = {results.chance:.3f}.",
    ]
    scaled = results.manifest.get("differs_from_paper")
    if scaled:
        changes = ", ".join(f"`{f}` {a} → {b}" for f, (a, b) in scaled.items())
        paper = config.get("paper_base", sweeps.PAPER_BASE)
        lines += [
            "",
            f"Differs from the paper's setting (`{paper}`): {changes}.",
        ]
    lines += [
        "",
        f"![{title}]({png_name})",
        "",
        "## Final metrics per grid point (mean ± std over seeds)",
        "",
        table(results),
        "",
        "## The paper's findings, checked against this data",
        "",
    ]
    lines += [f"- {outcome}" for outcome in findings(results)]
    unfinished = results.unfinished()
    if unfinished:
        lines += ["", f"## Missing or failed runs ({len(unfinished)})", ""]
        lines += [
            f"- `{run['dir']}`: {_STATE_TEXT[run['state']]}"
            + (
                f" (log `{run['dir']}.log`)"
                if os.path.exists(run["dir"] + ".log")
                else ""
            )
            for run in unfinished
        ]
    return "\n".join(lines) + "\n"


_STATE_TEXT = {
    "pending": "not started",
    "interrupted": "interrupted or running (no summary.json yet)",
    "failed": "failed",
}


# -- Figure -----------------------------------------------------------------------

_SERIES = (
    (TRAIN_RLA, "train random-label", "-o"),
    (TEST_RLA, "test random-label", "--s"),
    ("train_accuracy", "train class", "-o"),
    ("val_accuracy", "test class", "--s"),
)


def plot(results, path):
    """Writes the figure: the layout of the sweep's `FIGURES` entry."""
    figure = FIGURES.get(results.figure)
    layout = figure.layout if figure else "lines"
    title = f"{figure.title if figure else results.figure} ({results.name})"
    if layout == "heatmaps":
        fig = _heatmaps(results)
    elif layout == "bars":
        fig = _bars(results)
    else:
        fig = _lines(results)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _lines(results):
    panels = list(results.panels.items())
    fig, axes = plt.subplots(
        2, len(panels), figsize=(max(7, 4.5 * len(panels)), 7), squeeze=False
    )
    for column, (panel, entries) in enumerate(panels):
        axis_flags = varying(entries)
        labels = [
            ", ".join(values[f] for f in axis_flags) or point
            for values, point in entries
        ]
        for row, series in ((0, _SERIES[:2]), (1, _SERIES[2:])):
            ax = axes[row][column]
            for metric, label, style in series:
                stats = [results.stats(point, metric) for _, point in entries]
                xs = [i for i, s in enumerate(stats) if s]
                ax.errorbar(
                    xs,
                    [stats[i].mean for i in xs],
                    yerr=[stats[i].std for i in xs],
                    fmt=style,
                    capsize=3,
                    label=label,
                )
            if row == 0:
                ax.axhline(results.chance, color="gray", linewidth=1, label="chance")
                ax.set_ylabel("random-label accuracy")
            else:
                ax.set_ylabel("class accuracy")
            ax.set_xticks(
                range(len(labels)), labels, rotation=45 if len(labels) > 8 else 0
            )
            ax.set_xlabel(", ".join(axis_flags) or panel)
            ax.set_ylim(0, 1.02)
            ax.set_title(panel_title(panel, entries))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    return fig


def _heatmaps(results):
    panels = list(results.panels.items())
    fig, axes = plt.subplots(
        2, len(panels), figsize=(5 * len(panels), 8), squeeze=False
    )
    for column, (panel, entries) in enumerate(panels):
        axis_flags = varying(entries)
        if len(axis_flags) != 2:
            raise ReportError(
                f"A heat map needs two varying flags; panel {panel!r} varies "
                f"{axis_flags}."
            )
        row_flag, col_flag = axis_flags
        rows = sorted({v[row_flag] for v, _ in entries}, key=_sort_key)
        cols = sorted({v[col_flag] for v, _ in entries}, key=_sort_key)
        for r, (metric, name) in enumerate(
            ((TRAIN_RLA, "train random-label acc"), ("val_accuracy", "test class acc"))
        ):
            grid = np.full((len(rows), len(cols)), np.nan)
            text = {}
            for values, point in entries:
                i, j = rows.index(values[row_flag]), cols.index(values[col_flag])
                stats = results.stats(point, metric)
                if stats:
                    grid[i, j] = stats.mean
                    text[i, j] = f"{stats.mean:.3f}\n±{stats.std:.3f}"
                else:
                    text[i, j] = "missing"
            ax = axes[r][column]
            image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
            for (i, j), label in text.items():
                # viridis is light above ~0.6: dark text there, white below.
                dark = np.isfinite(grid[i, j]) and grid[i, j] > 0.6
                ax.text(
                    j,
                    i,
                    label,
                    ha="center",
                    va="center",
                    color="k" if dark else "w",
                    fontsize=8,
                )
            ax.set_xticks(range(len(cols)), cols)
            ax.set_yticks(range(len(rows)), rows)
            ax.set_xlabel(col_flag)
            ax.set_ylabel(row_flag)
            suffix = f" (chance {results.chance:.2f})" if metric == TRAIN_RLA else ""
            title = panel_title(panel, entries)
            ax.set_title(f"{title}: {name}{suffix}" if title else name + suffix)
            fig.colorbar(image, ax=ax)
    return fig


def _bars(results):
    categories = []
    for panel, entries in results.panels.items():
        for values, point in entries:
            # One setting a line, value under name: long labels do not collide.
            label = _point_label(values, entries).replace(",", "\n")
            label = label.replace("=", "=\n")
            categories.append((f"{panel}\n{label}" if panel else label, point))
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(categories)), 4.5))
    width = 0.38
    for ax, series, name in (
        (axes[0], _SERIES[:2], "random-label accuracy"),
        (axes[1], _SERIES[2:], "class accuracy"),
    ):
        for k, (metric, label, _) in enumerate(series):
            stats = [results.stats(point, metric) for _, point in categories]
            xs = [i for i, s in enumerate(stats) if s]
            ax.bar(
                [x + (k - 0.5) * width for x in xs],
                [stats[i].mean for i in xs],
                width,
                yerr=[stats[i].std for i in xs],
                capsize=3,
                label=label,
            )
        if series[0][0] == TRAIN_RLA:
            ax.axhline(results.chance, color="gray", linewidth=1, label="chance")
        ax.set_xticks(range(len(categories)), [c for c, _ in categories], fontsize=8)
        ax.set_ylabel(name)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    return fig


def write_report(sweep_dir, output_dir=None, name=None):
    """Writes `<name>.png` and `<name>.md` for the sweep in `sweep_dir`.

    Args:
        sweep_dir: the directory `sweep.py` wrote (holds `sweep.json`).
        output_dir: where to write (default: `sweep_dir`).
        name: file name stem (default: the sweep's `--figure`).

    Returns:
        The paths written, PNG first.
    """
    return write(load(sweep_dir), output_dir or sweep_dir, name)


def write(results, output_dir, name=None):
    """Writes the report of loaded `results`; see `write_report`."""
    name = name or results.figure
    os.makedirs(output_dir, exist_ok=True)
    png = os.path.join(output_dir, f"{name}.png")
    md = os.path.join(output_dir, f"{name}.md")
    plot(results, png)
    with open(md, "w") as f:
        f.write(markdown(results, os.path.basename(png)))
    return [png, md]
