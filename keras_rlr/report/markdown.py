"""The report as Markdown: the setting, the table of final metrics per grid
point, the findings and the runs not used."""

from keras_rlr.report import choices
from keras_rlr.report.figures import FIGURES, decisions
from keras_rlr.report.findings import BIASED, varying
from keras_rlr.report.results import METRICS, TRAIN_RLA, probe_metric


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
            # The runs averaged: the complete ones.
            seeds = sum(1 for r in results.runs if r["point"] == point and r["summary"])
            expected = sum(1 for r in results.runs if r["point"] == point)
            cells = [str(s) if s else "—" for s in stats]
            title = panel_title(panel, entries) or "—"
            row = [title, _point_label(values, entries), f"{seeds}/{expected}"]
            lines.append("| " + " | ".join(row + cells) + " |")
    return "\n".join(lines)


def differs(results):
    """Where the sweep differs from the paper (`choices.differs`, read when the
    sweep was loaded and carried in the CSV): lines of Markdown."""
    if "differs" in results.notes:
        return list(results.notes["differs"])
    return choices.differs(results.manifest)


def markdown(results, png_name, csv_name=None):
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
    if csv_name:
        lines += [
            "",
            f"Every run (point, seed, state, final metrics, class-only level): "
            f"[`{csv_name}`]({csv_name}); `python report.py --from_csv=<it>` "
            "rebuilds this page and its figure from it alone.",
        ]
    lines += [
        "",
        f"![{title}]({png_name})",
        "",
        "## Final metrics per grid point (mean ± std over the complete seeds)",
        "",
        table(results),
        "",
    ]
    claims, outcomes, tests = decisions(results)
    selection = sorted(results.selection_seeds)
    testing = sorted(results.test_seeds)
    split = (
        f"Best values (a learning rate, ε, λ) are picked on seeds {selection} "
        f"and the claims that use them are tested on seeds {testing}."
        if selection != testing
        else "Best values (a learning rate, ε, λ) are picked on the same seeds "
        "that test the claims (too few seeds to split): such verdicts say "
        f"`{BIASED}`."
    )
    shares = figure.shares if figure and figure.shares else "none known"
    lines += [STATISTICS.format(tests=tests), ""]
    if figure and figure.selects:
        lines += [split]
    lines += [f"Reports whose runs have the same settings: {shares}.", ""]
    for heading, ours in (
        ("## The paper's claims, checked against this data", False),
        ("## Our controls and questions (not the paper's claims)", True),
    ):
        shown = [
            f"- {outcome} — *{claim.where}*"
            for claim, outcome in zip(claims, outcomes, strict=True)
            if claim.ours == ours
        ]
        if shown:
            lines += [heading, "", *shown, ""]
    unfinished = results.unfinished()
    if unfinished:
        lines += [f"## Missing or failed runs ({len(unfinished)})", ""]
        lines += ["Not used in any table, figure or verdict:", ""]
        lines += [f"- `{run['dir']}`: {run['problem']}" for run in unfinished]
        lines += [""]
    return "\n".join(lines).rstrip("\n") + "\n"


STATISTICS = (
    "Each claim as the paper states it (figure, section, kind; for a claim of "
    "no effect, the margin that decides it). A seed fixes the random labels and "
    "the initialisation at every grid point, so differences are paired by seed: "
    "`estimate [low, high]` is the mean of the seeds' own differences with its "
    "95 % interval (`(Welch)` where fewer than 2 seeds finished both points). "
    "Trends over a grid are Page's tests with the seeds as blocks. `{{Holm p: "
    "for …, against …}}` after each interval gives the Holm-adjusted p of the "
    "tests for and against the claim: a verdict is `yes`/`no` only where that "
    "adjusted p is at most 0.05 (an interval that excludes zero with an "
    "adjusted p above 0.05 is a `can't tell`). A claim of no effect is `yes` "
    "only where its interval lies inside the margin, and states its power at the "
    "margin from this sweep's spread; `not tested` where the data do not reach "
    "the claim's regime (its precondition and why are printed). The family: "
    "the {tests} tests of this report (Holm, family-wise error 5 %); the leak "
    "control has its own family-wise band."
)
