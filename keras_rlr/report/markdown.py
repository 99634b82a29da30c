"""The report as Markdown: the setting, the table of final metrics per grid
point, the findings and the missing runs."""

import os

from keras_rlr.report import choices
from keras_rlr.report.figures import FIGURES, decisions
from keras_rlr.report.findings import varying
from keras_rlr.report.results import METRICS, TRAIN_RLA, probe_metric
from keras_rlr.sweep.config import PAPER_BASE
from keras_rlr.train.run_directory import RunDirectory


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
    """The Markdown table: one row per panel point, mean ± std over seeds
    (with `--probe_depths`, a column of train random-label accuracy per probe)."""
    metrics = list(METRICS) + [
        (probe_metric(d, TRAIN_RLA), f"train random-label acc, probe d = {d}")
        for d in results.probe_depths()
    ]
    header = ["panel", "point", "seeds"] + [name for _, name in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for panel, entries in results.panels.items():
        for values, point in entries:
            stats = [results.stats(point, metric) for metric, _ in metrics]
            seeds = sum(1 for r in results.runs if r["point"] == point and r["summary"])
            expected = sum(1 for r in results.runs if r["point"] == point)
            cells = [str(s) if s else "—" for s in stats]
            title = panel_title(panel, entries) or "—"
            row = [title, _point_label(values, entries), f"{seeds}/{expected}"]
            lines.append("| " + " | ".join(row + cells) + " |")
    return "\n".join(lines)


def differs(results):
    """Where the sweep differs from the paper, split into values the paper
    states and values its text lost (our choice in the paper config too), and
    the list of our choices: lines of Markdown."""
    config = results.manifest["config"]
    paper = config.get("paper_base", PAPER_BASE)
    ours = choices.marked(paper)
    # None: the sweep compared with the run schema's defaults (no clone).
    paper = paper or "keras_rlr's built-in defaults"
    scaled = results.manifest.get("differs_from_paper") or {}
    stated = {f: v for f, v in scaled.items() if f not in ours}
    lost = {f: v for f, v in scaled.items() if f in ours}
    lines = []
    if stated:
        changes = ", ".join(f"`{f}` {a} → {b}" for f, (a, b) in stated.items())
        lines += ["", f"Differs from the paper's setting (`{paper}`): {changes}."]
    if lost:
        changes = ", ".join(f"`{f}` {a} → {b}" for f, (a, b) in lost.items())
        lines += [
            "",
            f"Differs from our choice where the paper's text lost the value: "
            f"{changes}.",
        ]
    base = results.manifest["base_values"]
    grid = choices.marked(config.get("path"))
    chosen = [f"`{f}={base[f]}`" for f in ours if f in base and f not in scaled]
    chosen += [f"the grid values of `{f}`" for f in grid]
    if chosen:
        lines += [
            "",
            "Our choices, not the paper's (its text lost the value): "
            + ", ".join(chosen)
            + ".",
        ]
    return lines


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
    lines += differs(results)
    lines += [
        "",
        f"![{title}]({png_name})",
        "",
        "## Final metrics per grid point (mean ± std over seeds)",
        "",
        table(results),
        "",
        "## The paper's claims, checked against this data",
        "",
    ]
    claims, outcomes, tests = decisions(results)
    lines += [STATISTICS.format(tests=tests), ""]
    lines += [
        f"- {outcome} — *{claim.where}*"
        for claim, outcome in zip(claims, outcomes, strict=True)
    ]
    unfinished = results.unfinished()
    if unfinished:
        lines += ["", f"## Missing or failed runs ({len(unfinished)})", ""]
        lines += [
            f"- `{run['dir']}`: {run.get('problem') or _STATE_TEXT[run['state']]}"
            + (
                f" (log `{RunDirectory(run['dir']).log_file}`)"
                if os.path.exists(RunDirectory(run["dir"]).log_file)
                else ""
            )
            for run in unfinished
        ]
    return "\n".join(lines) + "\n"


STATISTICS = (
    "Each claim as the paper states it (figure, section, kind; for a claim of "
    "no effect, the margin that decides it). Effects are differences of means "
    "over seeds, each with its 95 % Welch interval `estimate [low, high]`; "
    "trends over a grid are Jonckheere–Terpstra tests (Kendall's τ of value vs "
    "grid position over every seed). `(yes)`/`(no)` only where the interval "
    "excludes zero on that side; a claim of no effect is `(yes)` only where "
    "the 95 % interval lies inside its margin (equivalence), else `(can't "
    "tell)` unless the effect is significant. Verdicts hold the family-wise "
    "error at 5 % over the {tests} tests of this report (Holm); the leak "
    "control has its own family-wise band."
)

_STATE_TEXT = {
    "fresh": "not started",
    "interrupted": "interrupted or running (no summary.json yet)",
    "running": "running (its directory is locked by a train.py)",
    "failed": "failed",
    "failed (diverged)": "failed (diverged: the loss became NaN or infinite)",
    "corrupt": "corrupt",
}
